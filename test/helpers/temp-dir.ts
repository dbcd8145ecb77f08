// A fresh data directory per test file, under the OS temp dir, and the
// fixture app tests' fleets run (reachable by the user they run as).
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { reachableNodeFirstOnPath, runnable } from "./runnable";

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `cutover-${prefix}-`));
}

export const fixtureApp = runnable("test/fixtures/app.js");
// Every test that starts fleets or jobs comes through here; their `node` must be one the run-as user can reach.
reachableNodeFirstOnPath();

// A fresh data directory per test file, under the OS temp dir, and the
// fixture app tests' fleets run (reachable by the user they run as).
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { reachableNodeFirstOnPath, runnable } from "./runnable";

/**
 * A new directory under the OS temp dir. It is noted in the test file's
 * global `__cutoverTempDirs`: whatever still runs with one of them in its
 * command line or environment once the file has ended is an orphan (see
 * test/helpers/test-environment.ts).
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `cutover-${prefix}-`));
  const g = globalThis as { __cutoverTempDirs?: string[] };
  (g.__cutoverTempDirs ??= []).push(dir);
  return dir;
}

export const fixtureApp = runnable("test/fixtures/app.js");
// Every test that starts fleets or jobs comes through here; their `node` must be one the run-as user can reach.
reachableNodeFirstOnPath();

// A fresh data directory per test file, under the OS temp dir.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "../../server/engine/toolchain";

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `cutover-${prefix}-`));
}

export const fixtureApp = path.join(projectRoot, "test", "fixtures", "app.js");

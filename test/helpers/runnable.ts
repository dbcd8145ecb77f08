// What tests' fleets and jobs run, placed where the user they run as can
// reach it. As root, Cutover runs them as an unprivileged user, and a clone
// may sit in a directory only root can enter (`mktemp -d` makes one 0700):
// then neither its node (node_modules/.bin/node) nor test/fixtures/app.js is
// reachable. So, as root, both are linked (or copied) once per run into a
// 0755 directory under the OS temp dir, and that node goes first on PATH.
// The product's own defaults are untouched; only the tests' inputs move.
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "../../server/engine/toolchain";

/** Copied by path relative to the project root. */
const FILES = ["test/fixtures/app.js"];

const asRoot = process.geteuid?.() === 0;
let dir: string | undefined;

/** The directory holding `bin/node` and the files, made once (by whichever test process comes first). */
function runnableDir(): string {
  if (dir) return dir;
  const node = realpathSync(process.execPath);
  const st = statSync(node);
  const key = createHash("sha256").update(`${node}\0${st.size}\0${st.mtimeMs}\0`);
  for (const f of FILES) key.update(readFileSync(path.join(projectRoot, f)));
  const target = path.join(os.tmpdir(), `cutover-runnable-${key.digest("hex").slice(0, 16)}`);
  if (!isOurs(target)) build(target, node);
  return (dir = target);
}

/** Made by this user, not a link, open to everyone to read: only then is it trusted. */
function isOurs(p: string): boolean {
  try {
    const st = lstatSync(p);
    return st.isDirectory() && st.uid === process.geteuid!() && (st.mode & 0o777) === 0o755;
  } catch {
    return false;
  }
}

/** Built aside and renamed into place, so no process sees it half made. */
function build(target: string, node: string): void {
  const staging = mkdtempSync(`${target}.partial-`);
  mkdirSync(path.join(staging, "bin"));
  chmodSync(path.join(staging, "bin"), 0o755);
  try {
    linkSync(node, path.join(staging, "bin", "node"));
  } catch {
    copyFileSync(node, path.join(staging, "bin", "node"));
  }
  chmodSync(path.join(staging, "bin", "node"), 0o755);
  for (const f of FILES) {
    const to = path.join(staging, f);
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(path.join(projectRoot, f), to);
    chmodSync(to, 0o644);
    for (let d = path.dirname(to); d.startsWith(staging); d = path.dirname(d)) chmodSync(d, 0o755);
  }
  try {
    renameSync(staging, target);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (!isOurs(target)) throw err;
  }
}

/** Where a project file is for the processes tests start: its reachable copy as root, itself otherwise. */
export function runnable(relative: string): string {
  if (!FILES.includes(relative)) throw new Error(`${relative} is not among the files made reachable (${FILES.join(", ")})`);
  return asRoot ? path.join(runnableDir(), relative) : path.join(projectRoot, relative);
}

/** Puts the reachable node first on this process's PATH (what servers, engines and their fleets inherit). */
export function reachableNodeFirstOnPath(): void {
  if (!asRoot) return;
  const bin = path.join(runnableDir(), "bin");
  const entries = (process.env.PATH ?? "").split(":");
  if (entries[0] !== bin) process.env.PATH = [bin, ...entries.filter((e) => e !== bin)].join(":");
}

/** A fresh directory every user may write to: for files tests' fleets and jobs write or read. */
export function sharedTempDir(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), `cutover-${prefix}-`));
  chmodSync(d, 0o777);
  return d;
}

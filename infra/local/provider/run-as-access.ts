// Whether a process run as another user can reach what it is told to run:
// its working directory, its executable (found on PATH as Cutover would
// find it, so a blocked binary is never silently replaced by another one
// further down PATH) and the files its arguments name. Checked before the
// start, so a fleet or job the user cannot run fails at once, saying which
// path stops which user, instead of crash-looping or hanging.
import { closeSync, openSync, readSync, realpathSync, statSync, type Stats } from "node:fs";
import path from "node:path";
import { describeRunAs, type RunAs } from "./run-as";

export interface Launch {
  command: string[];
  cwd: string;
  /** The PATH the process gets. */
  searchPath?: string;
}

const SEARCH = 1;
const EXEC = 1;
const READ = 4;

/** Why `runAs` cannot start `launch`, or undefined when it can. One line. */
export function unreachableFor(runAs: RunAs, launch: Launch): string | undefined {
  const problem = blockedCwd(runAs, launch.cwd) ?? blockedCommand(runAs, launch) ?? blockedArguments(runAs, launch);
  return problem && `the user ${describeRunAs(runAs)} cannot reach ${problem}; make it reachable by that user, or choose another with CUTOVER_LOCAL_RUN_AS`;
}

function blockedCwd(runAs: RunAs, cwd: string): string | undefined {
  const blocked = firstBlocked(runAs, cwd, SEARCH);
  return blocked && `the working directory ${cwd}: ${blocked}`;
}

function blockedCommand(runAs: RunAs, launch: Launch): string | undefined {
  const exe = resolveCommand(launch.command[0], launch.cwd, launch.searchPath);
  if (!exe) return undefined; // nothing to run: the start fails with ENOENT as it would for anyone
  const blocked = firstBlocked(runAs, exe, isScript(exe) ? EXEC | READ : EXEC);
  return blocked && `the command ${exe}: ${blocked}`;
}

function blockedArguments(runAs: RunAs, launch: Launch): string | undefined {
  for (const arg of launch.command.slice(1)) {
    const file = path.resolve(launch.cwd, arg);
    if (!statOf(file)?.isFile()) continue;
    const blocked = firstBlocked(runAs, file, READ);
    if (blocked) return `the file ${file} named by an argument: ${blocked}`;
  }
  return undefined;
}

/** The executable a spawn would run: a path with a slash as it is, otherwise the first executable file on PATH. */
function resolveCommand(command: string, cwd: string, searchPath = "/usr/local/bin:/usr/bin:/bin"): string | undefined {
  if (command.includes("/")) return path.resolve(cwd, command);
  for (const dir of searchPath.split(":")) {
    const candidate = path.resolve(cwd, dir || ".", command);
    const st = statOf(candidate);
    if (st?.isFile() && (st.mode & 0o111) !== 0) return candidate;
  }
  return undefined;
}

/**
 * The first place on the way to `target` (each directory, then `target`
 * itself with `bits`) the user may not pass, described; both the path as
 * given and its real path (after symbolic links) are walked.
 */
function firstBlocked(runAs: RunAs, target: string, bits: number): string | undefined {
  let real = target;
  try {
    real = realpathSync(target);
  } catch {
    // missing: the start reports that itself
  }
  for (const p of new Set([path.resolve(target), real])) {
    const parts = p.split(path.sep).filter(Boolean);
    for (let i = 0; i <= parts.length; i++) {
      const here = path.sep + parts.slice(0, i).join(path.sep);
      const st = statOf(here);
      if (!st) return undefined;
      const need = i === parts.length ? bits : SEARCH;
      if (!permits(st, runAs, need)) return `${here} is mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}, owner uid ${st.uid}, group gid ${st.gid}`;
    }
  }
  return undefined;
}

/** The kernel's check for a user with no supplementary groups: owner bits, else group bits, else the others'. */
function permits(st: Stats, runAs: RunAs, bits: number): boolean {
  const shift = st.uid === runAs.uid ? 6 : st.gid === runAs.gid ? 3 : 0;
  return ((st.mode >> shift) & bits) === bits;
}

function statOf(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** A `#!` script is read by its interpreter, so the user needs to read it as well as execute it. */
function isScript(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const head = Buffer.alloc(2);
    readSync(fd, head, 0, 2, 0);
    return head.toString("latin1") === "#!";
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

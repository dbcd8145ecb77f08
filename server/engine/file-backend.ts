// The own file backend and this machine's processes, looked at directly:
// what a pulumi process killed mid-write left in the state directory, a
// stack's lock, and the processes a previous server left running.
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * Kills every process of session `sid` but this one; returns their pids.
 * An engine worker leads a session: the CLI it starts is in its process
 * group, but the provider plugins the CLI starts lead process groups of
 * their own in the same session, so only the session finds them all
 * (fleets and balancers start sessions of their own and are left alone).
 */
export function killSession(sid: number): number[] {
  const killed: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]) !== sid) continue;
      process.kill(Number(entry), "SIGKILL");
      killed.push(Number(entry));
    } catch {
      // gone, or not ours to signal
    }
  }
  return killed;
}

/** Kills every process whose environment holds `marker` (but this one); returns their pids. */
export function killProcessesWith(marker: string): number[] {
  const killed: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, "utf8").includes(marker)) continue;
      process.kill(Number(entry), "SIGKILL");
      killed.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}

/**
 * A pulumi process killed while it saved a checkpoint in the file backend
 * can leave an empty `.attrs` sidecar (which Pulumi then fails to read:
 * "failed to load checkpoint: EOF"), a truncated checkpoint, or a `.tmp`
 * file. The sidecar is optional metadata and is removed; a checkpoint that
 * does not parse is restored from the `.bak` Pulumi keeps beside it.
 */
export function mendCheckpoints(dir: string): string[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  const mended: string[] = [];
  const parses = (file: string) => {
    try {
      JSON.parse(readFileSync(file, "utf8"));
      return true;
    } catch {
      return false;
    }
  };
  const size = (file: string) => {
    try {
      return statSync(file).size;
    } catch {
      return undefined;
    }
  };
  for (const name of files) {
    const file = path.join(dir, name);
    if (size(file) === undefined) continue; // removed as part of an earlier mend
    if (name.endsWith(".tmp")) {
      rmSync(file, { force: true });
      mended.push(`${name}: removed`);
    } else if (name.endsWith(".attrs") && (size(file) === 0 || !parses(file))) {
      rmSync(file, { force: true });
      mended.push(`${name}: removed (half-written)`);
    } else if (name.endsWith(".json") && !parses(file)) {
      const bak = `${file}.bak`;
      if (files.includes(`${name}.bak`) && parses(bak)) {
        copyFileSync(bak, file);
        rmSync(`${file}.attrs`, { force: true });
        mended.push(`${name}: restored from its backup`);
      }
    }
  }
  return mended;
}

/** Whether a stack's lock directory holds a lock. */
export function holdsLock(dir: string): boolean {
  try {
    return readdirSync(dir).some((f) => f.endsWith(".json"));
  } catch {
    return false;
  }
}

/** Removes every lock (and its sidecar) from a stack's lock directory; whether there was one. */
export function clearLocks(dir: string): boolean {
  const held = holdsLock(dir);
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    return false;
  }
  for (const f of files) rmSync(path.join(dir, f), { force: true });
  return held;
}

/**
 * Removes the stacks made for one preview whose engine process is gone (a
 * crash cut the preview short): see `removeStackFiles`. Their names end
 * `.preview-<pid>-<random>`; a running preview's process is alive and its
 * stack is left alone.
 */
export function removeScratchStacks(stateDir: string, project: string, workspaces: string): string[] {
  let files: string[];
  try {
    files = readdirSync(path.join(stateDir, ".pulumi", "stacks", project));
  } catch {
    return [];
  }
  const dead = new Set(files.map((f) => /^(.+\.preview-(\d+)-[0-9a-f]+)\.json/.exec(f)).flatMap((m) => (m && !alive(Number(m[2])) ? [m[1]] : [])));
  for (const stack of dead) removeStackFiles(stateDir, project, workspaces, stack);
  return [...dead].map((s) => `${s}: a preview's stack removed`);
}

/**
 * The passphrase salt the backend's stacks are encrypted with (each
 * checkpoint records it), from the first stack that has one.
 */
export function passphraseSalt(stateDir: string, project: string): string | undefined {
  const dir = path.join(stateDir, ".pulumi", "stacks", project);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch {
    return undefined;
  }
  for (const f of files) {
    try {
      const providers = JSON.parse(readFileSync(path.join(dir, f), "utf8"))?.checkpoint?.latest?.secrets_providers;
      if (providers?.type === "passphrase" && typeof providers.state?.salt === "string") return providers.state.salt;
    } catch {
      // being written, or half-written: another stack will do
    }
  }
  return undefined;
}

/**
 * Writes a new, empty stack as `pulumi stack init` does on a file backend
 * (its settings file with the encryption salt, then its checkpoint), with
 * the salt of the backend's other stacks. A stack init is a CLI run that
 * spends most of its CPU deriving the passphrase's key (PBKDF2, a million
 * rounds) only to make a new salt; one salt serves every stack, each
 * secret still sealed with a nonce of its own. The checkpoint lands whole
 * or not at all (renamed into place), so a stack exists only complete.
 */
export function createStackFiles(stateDir: string, project: string, workDir: string, stack: string, salt: string, pulumiVersion: string): void {
  writeFileSync(path.join(workDir, `Pulumi.${stack}.yaml`), `encryptionsalt: ${salt}\n`, { mode: 0o600 });
  const version = `v${pulumiVersion.replace(/^v/, "")}`;
  const checkpoint = {
    version: 3,
    checkpoint: {
      stack: `organization/${project}/${stack}`,
      latest: {
        manifest: { time: new Date().toISOString(), magic: createHash("sha256").update(version).digest("hex"), version },
        secrets_providers: { type: "passphrase", state: { salt } },
        metadata: {},
      },
    },
  };
  const dir = path.join(stateDir, ".pulumi", "stacks", project);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${stack}.json`);
  const partial = `${file}.${randomBytes(8).toString("hex")}.tmp`;
  writeFileSync(partial, JSON.stringify(checkpoint), { mode: 0o600 });
  renameSync(partial, file);
}

/** Everything the own file backend keeps of a stack: its checkpoint and the backups beside it, its lock, backups, history and workspace. */
export function removeStackFiles(stateDir: string, project: string, workspaces: string, stack: string): void {
  const stacks = path.join(stateDir, ".pulumi", "stacks", project);
  for (const ext of [".json", ".json.attrs", ".json.bak", ".json.bak.attrs", ".json.gz", ".json.gz.attrs", ".json.gz.bak", ".json.gz.bak.attrs"]) {
    rmSync(path.join(stacks, `${stack}${ext}`), { force: true });
  }
  for (const dir of [path.join(stateDir, ".pulumi", "locks", "organization", project, stack), path.join(stateDir, ".pulumi", "backups", project, stack), path.join(stateDir, ".pulumi", "history", project, stack), path.join(workspaces, stack)]) {
    rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

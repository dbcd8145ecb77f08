// Finds processes by a marker in their command line or environment, to prove nothing was left running.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Pids of live processes whose command line or environment holds every marker. */
export function processesWith(...markers: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8");
      if (markers.every((m) => cmdline.includes(m) || environ.includes(m))) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Whether a process runs (a zombie has closed its files and sockets: it no longer does). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

/** The running processes whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((p) => parentOf(p) === pid && isRunning(p));
}

/**
 * SIGKILLs a process and waits until it and the children it had are no
 * longer running (a zombie has closed its sockets): an answer looked for
 * after this cannot come from them, and requests in flight on their
 * connections have already failed.
 */
export async function killAndAwaitGone(pid: number, timeoutMs = 5000): Promise<void> {
  const dying = [pid, ...childrenOf(pid)];
  process.kill(pid, "SIGKILL");
  const deadline = Date.now() + timeoutMs;
  while (dying.some(isRunning)) {
    if (Date.now() > deadline) throw new Error(`processes ${dying.filter(isRunning).join(", ")} still running ${timeoutMs} ms after SIGKILL`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The parent of a process, undefined once it is gone. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** The session of a process, undefined once it is gone. */
export function sessionOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
  } catch {
    return undefined;
  }
}

/**
 * Engine processes (the Pulumi CLI, its plugins, engine workers) with this
 * PULUMI_HOME that belong to no live engine worker of `server`: left over
 * from a server or worker that died. A worker leads a session, and
 * everything it starts stays in it.
 */
export function strayEngineProcesses(pulumiHome: string, server: number): number[] {
  const workers = new Set(processesWith(`PULUMI_HOME=${pulumiHome}`).filter((pid) => parentOf(pid) === server));
  return processesWith(`PULUMI_HOME=${pulumiHome}`).filter((pid) => pid !== server && !workers.has(pid) && !workers.has(sessionOf(pid) ?? -1));
}

/** The TCP ports a process listens on (its socket inodes found in the kernel's table). */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return readFileSync(`/proc/${pid}/net/tcp`, "utf8")
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 9 && f[3] === "0A" && inodes.has(f[9]))
    .map((f) => parseInt(f[1].split(":")[1], 16));
}

/** The haproxy processes serving a balancer: they run in its directory. */
export function haproxyIn(balancerDir: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")[0].endsWith("haproxy") && readlinkSync(`/proc/${p}/cwd`) === balancerDir;
      } catch {
        return false;
      }
    })
    .map(Number);
}

// Processes outlive the operation that started them, so they are named by
// pid plus kernel start time: a recycled pid never matches an old identity.
import { readFileSync } from "node:fs";
import { pollUntilGone } from "../../poll";

export interface ProcessIdentity {
  pid: number;
  startTime: string;
}

export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2 (comm) may hold spaces and parentheses; fields after it are plain.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

export function identify(pid: number): ProcessIdentity | undefined {
  const startTime = startTimeOf(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

export function isAlive(id: ProcessIdentity | undefined): boolean {
  if (!id) return false;
  const startTime = startTimeOf(id.pid);
  if (startTime !== id.startTime) return false;
  try {
    const state = readFileSync(`/proc/${id.pid}/stat`, "utf8");
    return state.slice(state.lastIndexOf(")") + 2, state.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Signals the process group the identity leads, falling back to the process itself. */
export function signal(id: ProcessIdentity, sig: NodeJS.Signals): void {
  if (!isAlive(id)) return;
  try {
    process.kill(-id.pid, sig);
  } catch {
    try {
      process.kill(id.pid, sig);
    } catch {
      // already gone
    }
  }
}

export async function waitForExit(ids: ProcessIdentity[], timeoutMs: number): Promise<boolean> {
  return pollUntilGone(() => ids.some(isAlive), timeoutMs, 50);
}

/** SIGTERM, a grace period, then SIGKILL: the drain every stop goes through. */
export async function terminate(ids: ProcessIdentity[], graceMs: number): Promise<void> {
  for (const id of ids) signal(id, "SIGTERM");
  if (await waitForExit(ids, graceMs)) return;
  for (const id of ids) signal(id, "SIGKILL");
  await waitForExit(ids, 5000);
}

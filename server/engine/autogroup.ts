// How low an engine worker's autogroup runs. Where the kernel groups
// processes by session for CPU time (Linux's sched_autogroup), CPU is
// shared between sessions first and by nice only within one; each worker
// leads a session. At the workers' own nice (10), a single busy worker got
// a tenth of the weight of a fleet or balancer process, so a data plane
// under load starved deployments and rollbacks. At nice 0, four busy
// workers outweighed the API four to one. The middle: the engine's workers
// together weigh about as much as one session at the API's priority,
// counted across the host: replicas sharing a machine each start their
// own workers, and all of them together still weigh about one session.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** The kernel's CFS weight of nice 0 to 19 (sched_prio_to_weight). */
const WEIGHT = [1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15];

/** The autogroup nice at which `concurrency` busy workers weigh about one nice-0 session, never below the workers' own priority. */
export function autogroupNiceness(niceness: number, concurrency: number): number {
  const target = WEIGHT[0] / Math.max(1, concurrency);
  let nearest = 0;
  for (let n = 1; n < WEIGHT.length; n++) if (Math.abs(WEIGHT[n] - target) < Math.abs(WEIGHT[nearest] - target)) nearest = n;
  return Math.min(Math.max(0, niceness), nearest);
}

/**
 * The engine workers running on this host, of every Cutover process on it
 * (replicas sharing a machine each start their own): processes whose
 * command line runs the worker's script. Each worker weighs its autogroup
 * against all of them, so that together they still weigh about one
 * session, however many replicas the host runs.
 */
export function engineWorkersOnHost(procDir = "/proc"): number {
  let count = 0;
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(path.join(procDir, entry, "cmdline"), "latin1").includes(WORKER_SCRIPT_NAME)) count++;
    } catch {
      // gone meanwhile
    }
  }
  return count;
}

/** The engine worker's entry point, without its extension: what a worker is started with (engine-worker.ts) and known by in its command line. */
export const WORKER_SCRIPT_NAME = "engine-worker-main.";

// Named points where a test can make the server die with SIGKILL, to prove
// that a crash at that exact moment costs nothing. Inert unless
// CUTOVER_FAULT_KILL_AT names the point (optionally `point#n` for its n-th
// passage; `stop:point` freezes the server with SIGSTOP instead, and
// `worker:point` kills the engine worker at an engine point); documented in
// the README's reliability section.
import { readdirSync, readFileSync } from "node:fs";

const wanted = parse(process.env.CUTOVER_FAULT_KILL_AT);
const passages = new Map<string, number>();
/** The process groups of this server's engine workers (each worker leads one; the CLI and plugins it starts are in it). */
export const engineGroups = new Set<number>();

function parse(spec: string | undefined): Map<string, number> {
  const points = new Map<string, number>();
  for (const item of (spec ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, nth] = item.split("#");
    points.set(name, Math.max(1, Number(nth ?? 1) || 1));
  }
  return points;
}

/** `withEngine`: the engine's processes (this process's descendants in its session) die in the same instant, as in a machine's crash. */
export function crashPoint(name: string, opts: { withEngine?: boolean } = {}): void {
  if (faultFires(`stop:${name}`)) {
    // Frozen, not dead: as a replica paused by its host; the test wakes it with SIGCONT.
    process.stderr.write(`${JSON.stringify({ level: 50, msg: "fault injection: stopping the server", point: name })}\n`);
    process.kill(process.pid, "SIGSTOP");
    return;
  }
  if (!faultFires(name)) return;
  process.stderr.write(`${JSON.stringify({ level: 60, msg: "fault injection: killing the server", point: name })}\n`);
  if (opts.withEngine) {
    for (const pgid of engineGroups) signal(-pgid);
    for (const pid of engineProcesses()) signal(pid);
  }
  process.kill(process.pid, "SIGKILL");
}

/**
 * Whether a named fault is to happen at this passage of its point (the
 * n-th, as CUTOVER_FAULT_KILL_AT asks). `worker:<point>` names the death
 * of the engine worker running an operation, rather than of the server.
 */
export function faultFires(name: string): boolean {
  const nth = wanted.get(name);
  if (nth === undefined) return false;
  const seen = (passages.get(name) ?? 0) + 1;
  passages.set(name, seen);
  if (seen === nth && name.startsWith("worker:")) process.stderr.write(`${JSON.stringify({ level: 50, msg: "fault injection: killing an engine worker", point: name })}\n`);
  return seen === nth;
}

/**
 * This process's descendants in its own session (the Pulumi CLI and the
 * plugins it started when the engine runs in the server itself), and every
 * process in its engine workers' sessions. Fleet supervisors and balancers
 * start sessions of their own (they outlive a crash by design) and are
 * left alone.
 */
function engineProcesses(): number[] {
  const stats = new Map<number, { ppid: number; sid: number }>();
  for (const entry of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(entry), { ppid: Number(fields[1]), sid: Number(fields[3]) });
    } catch {
      // gone meanwhile
    }
  }
  const own = stats.get(process.pid)?.sid;
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [pid, s] of stats) {
      if (s.ppid === parent && s.sid === own) {
        found.push(pid);
        visit(pid);
      }
    }
  };
  visit(process.pid);
  // Each engine worker leads a session; the plugins its CLI starts lead process groups of their own within it.
  for (const [pid, s] of stats) if (engineGroups.has(s.sid) && !found.includes(pid)) found.push(pid);
  return found;
}

function signal(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

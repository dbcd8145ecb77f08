// Named points where a test can make the server die with SIGKILL, to prove
// that a crash at that exact moment costs nothing. Inert unless
// CUTOVER_FAULT_KILL_AT names the point (optionally `point#n` for its n-th
// passage); documented in the README's reliability section.
import type { OperationOptions } from "./engine/stack-engine";

const wanted = parse(process.env.CUTOVER_FAULT_KILL_AT);
const passages = new Map<string, number>();

function parse(spec: string | undefined): Map<string, number> {
  const points = new Map<string, number>();
  for (const item of (spec ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, nth] = item.split("#");
    points.set(name, Math.max(1, Number(nth ?? 1) || 1));
  }
  return points;
}

export function crashPoint(name: string): void {
  const nth = wanted.get(name);
  if (nth === undefined) return;
  const seen = (passages.get(name) ?? 0) + 1;
  passages.set(name, seen);
  if (seen === nth) {
    process.stderr.write(`${JSON.stringify({ level: 60, msg: "fault injection: killing the server", point: name })}\n`);
    process.kill(process.pid, "SIGKILL");
  }
}

/** The operation's options with `point` fired once the engine is at work on its first resource. */
export function crashPointAtFirstStep(ops: OperationOptions, point: string): OperationOptions {
  let fired = false;
  return {
    ...ops,
    onEvent: (e) => {
      ops.onEvent?.(e);
      if (!fired && e.type === "engine:step_started") {
        fired = true;
        crashPoint(point);
      }
    },
  };
}

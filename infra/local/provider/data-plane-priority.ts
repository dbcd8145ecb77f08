// The engine runs at a lower CPU priority than the API, and so does the
// provider it starts; fleets and balancers must not inherit that: they are
// the data plane, and a busy engine must never slow the requests they
// serve. They are started through `nice` back to the priority the server
// names (CUTOVER_DATA_PLANE_NICENESS, the API's own), before their first
// instruction, so every thread they make has it. Raising a priority takes
// CAP_SYS_NICE (root has it); without it `nice` says so in the process's
// log and runs the program at the engine's priority.
import { existsSync } from "node:fs";
import { getPriority } from "node:os";

const NICE = ["/usr/bin/nice", "/bin/nice"].find((p) => existsSync(p));

export function atDataPlanePriority(command: string, args: string[]): { command: string; args: string[] } {
  const wanted = Number(process.env.CUTOVER_DATA_PLANE_NICENESS ?? "");
  const own = ownPriority();
  if (!NICE || process.env.CUTOVER_DATA_PLANE_NICENESS === undefined || !Number.isInteger(wanted) || own === undefined || wanted === own) return { command, args };
  return { command: NICE, args: ["-n", String(wanted - own), command, ...args] };
}

function ownPriority(): number | undefined {
  try {
    return getPriority();
  } catch {
    return undefined;
  }
}

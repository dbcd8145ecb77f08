// The program of a fleet an environment already has, for destroying it.
import type { TargetRegistry } from "../targets/target-registry";
import type { Color, Environment } from "./model";

export function existingFleetProgram(targets: TargetRegistry, env: Environment, color: Color) {
  const fleet = env.fleets[color];
  return targets
    .get(env.spec.target)
    .fleetProgram(env.spec, color, fleet?.version ?? "unknown", fleet?.artifact ?? env.spec.fleet.artifact, env.traffic);
}

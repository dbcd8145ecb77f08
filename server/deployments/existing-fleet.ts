// The program of a fleet an environment already has, for destroying it.
// Destroying does not run the program, so sealed values stay sealed.
import type { TargetRegistry } from "./target-registry";
import { runnableArtifact, type Color, type Environment } from "./model";

export function existingFleetProgram(targets: TargetRegistry, env: Environment, color: Color) {
  const fleet = env.fleets[color];
  return targets
    .get(env.spec.target)
    .fleetProgram(env.spec, color, fleet?.version ?? "unknown", runnableArtifact(fleet?.artifact ?? env.spec.fleet.artifact), env.traffic);
}

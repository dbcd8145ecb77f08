// The one place a fleet stack is destroyed, and the rule that guards it:
// a fleet goes only after the target itself has reported that it receives
// no traffic. The journal's weights are never enough; they may be a crash
// behind reality.
import type { OperationOptions, StackEngine } from "./stack-engine";
import { stackNames } from "./deployment-target";
import type { TargetRegistry } from "./target-registry";
import { existingFleetProgram } from "./existing-fleet";
import type { Color, Environment } from "./model";
import type { EnvironmentRepository } from "./ports";
import type { TrafficOperator } from "./traffic-operator";
import { dropFleet } from "./environment-changes";

export class FleetStillServingError extends Error {
  constructor(
    readonly color: Color,
    readonly weight: number | undefined,
  ) {
    super(
      weight === undefined
        ? `the ${color} fleet is kept: the weights in force could not be read from the target`
        : `the ${color} fleet is kept: the target still sends it ${weight}% of the traffic`,
    );
    this.name = "FleetStillServingError";
  }
}

export interface RetirementDeps {
  engine: StackEngine;
  environments: EnvironmentRepository;
  targets: TargetRegistry;
  traffic: TrafficOperator;
}

/** Destroys a color's fleet stack once the target reads back 0% for it; throws FleetStillServingError otherwise. */
export async function retireFleet(deps: RetirementDeps, env: Environment, color: Color, ops: OperationOptions = {}): Promise<Environment> {
  const observed = await deps.traffic.observe(env);
  const weight = observed?.weights[color];
  if (weight !== 0) throw new FleetStillServingError(color, weight);
  await deps.engine.destroy(stackNames(env.name)[color], existingFleetProgram(deps.targets, env, color), ops);
  return deps.environments.update(env.name, dropFleet(color));
}

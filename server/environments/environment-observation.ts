// What the target says about an environment right now, set against what
// Cutover recorded: the weights in force, and every difference (drift)
// between the two. Drift is reported, never silently taken for `ready`.
import { stackNames } from "../deployments/deployment-target";
import type { RunnerDeps } from "../deployments/runner-deps";
import type { Color, Environment } from "../deployments/model";

export type DriftKind = "weights" | "balancer_unreachable" | "fleet" | "stack_locked" | "traffic_unsettled" | "stack_changed";

export interface Drift {
  kind: DriftKind;
  message: string;
  color?: Color;
  stack?: string;
}

export interface EnvironmentObservation {
  /** The weights the target routes by; absent when it could not be asked. */
  weights?: Record<Color, number>;
  source?: "balancer" | "stack-state";
  at: string;
  drift: Drift[];
}

const COLORS: Color[] = ["blue", "green"];

/** Observes an environment at rest; an environment being worked on (`busy`) is not checked for locks or pending changes. */
export async function observeEnvironment(deps: RunnerDeps, env: Environment, busy: boolean): Promise<EnvironmentObservation> {
  const at = new Date().toISOString();
  if (env.status !== "ready") return { at, drift: [] };
  const drift: Drift[] = [];
  const observed = await deps.traffic.observe(env, { fresh: false }).catch(() => undefined);
  if (!observed) {
    drift.push({ kind: "balancer_unreachable", message: "the load balancer did not answer: the weights in force are unknown" });
  } else if (!busy && COLORS.some((c) => observed.weights[c] !== env.weights[c])) {
    drift.push({
      kind: "weights",
      message: `the target routes blue ${observed.weights.blue}% / green ${observed.weights.green}%, Cutover recorded blue ${env.weights.blue}% / green ${env.weights.green}%`,
    });
  }
  if (!busy && env.trafficIntent) {
    drift.push({ kind: "traffic_unsettled", message: "a traffic change was started and its outcome never recorded" });
  }
  const target = deps.targets.get(env.spec.target);
  for (const color of COLORS) {
    const fleet = env.fleets[color];
    if (!fleet || !target.observeFleet) continue;
    const condition = await target.observeFleet(env.spec, fleet.outputs).catch(() => undefined);
    for (const problem of condition?.problems ?? []) drift.push({ kind: "fleet", color, message: problem });
  }
  if (!busy && deps.engine.isLocked) {
    for (const stack of Object.values(stackNames(env.name))) {
      if (await deps.engine.isLocked(stack)) drift.push({ kind: "stack_locked", stack, message: `stack ${stack} is locked with no operation running` });
    }
  }
  return { weights: observed?.weights, source: observed?.source, at, drift };
}

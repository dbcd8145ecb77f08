// Changes the capacity of a color's fleet stack: the one way a rolling
// deployment grows the new fleet and shrinks the old one. Instances are
// added or drained whole; none that stays is touched. A shrink first takes
// the instances that go out of the balancer's pool (their endpoints are the
// last ones), so none is drained while it still gets requests.
import type { OperationOptions } from "./stack-engine";
import { crashPoint } from "../fault-injection";
import { stackNames } from "./deployment-target";
import type { RunnerDeps } from "./runner-deps";
import { capacityOf, runnableArtifact, type Color, type Deployment, type Environment } from "./model";
import { resizeFleetRecord } from "./environment-changes";

/** Engine options for a part of the change; `label` names its fault-injection point (`resizing:engine`). */
export type OpsFor = (label?: string) => OperationOptions;

export interface ResizeOptions {
  /** The caller has already taken the instances that go out of the pool. */
  routed?: boolean;
  /** The weights to route by while the old instances leave the pool (a shrink only). */
  weights?: Record<Color, number>;
  /** Read the fleet's capacity back from the target first, whatever its record says (after a crash). */
  refresh?: boolean;
}

export async function resizeFleet(
  deps: RunnerDeps,
  d: Deployment,
  color: Color,
  size: number,
  opsFor: OpsFor,
  opts: ResizeOptions = {},
): Promise<Environment> {
  let env = (await deps.environments.get(d.environment))!;
  const fleet = env.fleets[color];
  if (!fleet) throw new Error(`the ${color} fleet is missing`);
  const current = capacityOf(env, color);
  if (size === current && !opts.refresh) return env;
  if (size < current && !opts.routed) {
    const weights = opts.weights ?? env.weights;
    env = await deps.traffic.apply(env, weights, { ...opsFor(), keep: { [color]: size }, deploymentId: d.id, label: "resizing" });
  }
  await deps.journal.record(d, "deployment:resizing", { color, from: current, to: size });
  crashPoint("resizing");
  const target = deps.targets.get(env.spec.target);
  const outputs = await deps.engine.up(
    stackNames(d.environment)[color],
    target.fleetProgram(env.spec, color, fleet.version, runnableArtifact(fleet.artifact, (s) => deps.secrets.open(s)), env.traffic, size),
    { ...opsFor("resizing"), refresh: opts.refresh },
  );
  env = await deps.environments.update(d.environment, resizeFleetRecord(color, outputs, size));
  if (size > current || opts.refresh) await target.verify(env.spec, outputs, size);
  await deps.journal.record(d, "deployment:resized", { color, replicas: size });
  return env;
}

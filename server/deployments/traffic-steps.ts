// Moving traffic to the new fleet, one decision at a time
// (deployment-decision.ts decides which): a person's hold, the preview of a
// pre-promotion analysis, one step (a rolling wave's sizes, the weights,
// the step's pause), and the promotion once every step is applied. A
// step the deployment was in when it was suspended is applied again (the
// change is idempotent) and only what is left of its pause is waited.
import { parseDuration } from "../../infra/duration";
import { stackNames } from "./deployment-target";
import type { DeploymentControl } from "./deployment-control";
import { prePromotionAnalysis } from "./analysis-watch";
import { otherColor, capacityOf, type Color, type Deployment, type Environment } from "./model";
import { resizeFleet } from "./fleet-capacity";
import { waveWeight } from "./rolling-waves";
import { pauseAtStep } from "./canary-pause";
import type { RunnerDeps } from "./runner-deps";
import { markLive } from "./environment-changes";
import { engineOptions } from "./phase-work";

/** Holds the deployment for the person who paused it, until they resume (or abort). */
export async function holdForUser(deps: RunnerDeps, d: Deployment, control: DeploymentControl): Promise<void> {
  if (d.pausedBy !== "user") {
    await deps.journal.hold(d, "user");
    await deps.journal.record(d, "deployment:paused", { by: "user" });
  }
  await control.wait(undefined, () => !control.pauseRequested);
  await deps.journal.release(d);
  await deps.journal.record(d, "deployment:resumed", {});
}

/** The new pool joins the balancer at weight 0 (only requests with the force header reach it), and is analysed there. */
export async function preview(deps: RunnerDeps, d: Deployment, control: DeploymentControl): Promise<void> {
  const to = d.toColor!;
  const from = otherColor(to);
  let env = (await deps.environments.get(d.environment))!;
  const weights = { [to]: 0, [from]: env.fleets[from] ? 100 : 0 } as Record<Color, number>;
  env = await deps.traffic.apply(env, weights, { ...engineOptions(deps, d, control), deploymentId: d.id, label: "preview" });
  await prePromotionAnalysis(deps, d, env, control);
  d.prePromotionPassed = true;
  await deps.journal.save(d);
}

/** One step: a rolling wave's sizes, the weights, then the step's pause. */
export async function applyStep(deps: RunnerDeps, d: Deployment, control: DeploymentControl, index: number): Promise<void> {
  const to = d.toColor!;
  const step = d.steps[index];
  const resuming = index === d.step;
  const wave = d.waves?.[index];
  let env = wave ? await growWave(deps, d, control, index) : (await deps.environments.get(d.environment))!;
  const weights = { [to]: step.weight, [otherColor(to)]: 100 - step.weight } as Record<Color, number>;
  await deps.journal.record(d, "deployment:traffic_intent", { step: index, weights, ...(wave ? { wave } : {}) });
  const keep = wave && wave.old > 0 ? { [otherColor(to)]: wave.old } : {};
  env = await deps.traffic.apply(env, weights, { ...engineOptions(deps, d, control), keep, deploymentId: d.id, label: "shifting" });
  // The instances of the old fleet that left the pool are drained: the wave's capacity change.
  if (wave && wave.old > 0 && d.fromColor && env.fleets[d.fromColor]) {
    env = await resizeFleet(deps, d, d.fromColor, wave.old, (label) => engineOptions(deps, d, control, label), { routed: true });
  }
  const pauseInProgress = resuming && (d.waitUntil !== undefined || d.pausedBy === "manual-step");
  d.step = index;
  if (step.pause && step.pause !== "manual" && !pauseInProgress) d.waitUntil = new Date(Date.now() + parseDuration(step.pause)).toISOString();
  if (step.pause === "manual") await deps.journal.hold(d, d.pausedBy === "analysis" ? "analysis" : "manual-step");
  else await deps.journal.save(d);
  await deps.journal.record(d, "deployment:step", {
    step: index,
    weight: step.weight,
    weights: env.weights,
    ...(wave ? { replicas: { [to]: wave.grow, [otherColor(to)]: wave.old } } : {}),
  });
  if (step.pause === "manual" && !pauseInProgress) await deps.journal.record(d, "deployment:paused", { by: "manual-step", step: index });
  if (step.pause) await pauseAtStep(deps, d, step, control, env);
}

/**
 * The first half of a rolling wave: the old fleet shrinks as far as
 * unavailability allows (routing by the capacity left), then the new
 * fleet grows as far as surge allows, health-gated. Each part is skipped
 * when the fleet already has that size (a resumed wave).
 */
async function growWave(deps: RunnerDeps, d: Deployment, control: DeploymentControl, index: number): Promise<Environment> {
  const wave = d.waves![index];
  const to = d.toColor!;
  const from = d.fromColor;
  const ops = (label?: string) => engineOptions(deps, d, control, label);
  let env = (await deps.environments.get(d.environment))!;
  if (from && env.fleets[from] && wave.shrinkTo < capacityOf(env, from)) {
    const w = waveWeight({ grow: capacityOf(env, to), old: wave.shrinkTo });
    const weights = { [to]: w, [from]: 100 - w } as Record<Color, number>;
    env = await resizeFleet(deps, d, from, wave.shrinkTo, ops, { weights });
  }
  if (wave.grow > capacityOf(env, to)) env = await resizeFleet(deps, d, to, wave.grow, ops);
  control.throwIfAborted();
  return env;
}

/** Every step applied: the new version is live; then the bake, retiring the old fleet, or the end when there is none. */
export async function promote(deps: RunnerDeps, d: Deployment): Promise<void> {
  const to = d.toColor!;
  const env = await deps.environments.update(d.environment, markLive(d));
  const from = d.fromColor && env.fleets[d.fromColor] ? d.fromColor : undefined;
  const bakeMs = parseDuration(d.strategy.bake ?? "0s");
  if (!from) {
    await deps.journal.finish(d, "succeeded", { version: d.version, color: to });
  } else if (bakeMs > 0) {
    d.waitUntil = new Date(Date.now() + bakeMs).toISOString();
    await deps.journal.move(d, { phase: "baking" }, { seconds: bakeMs / 1000 });
  } else {
    await deps.journal.move(d, { phase: "retiring" }, { color: from, stack: stackNames(d.environment)[from] });
  }
}

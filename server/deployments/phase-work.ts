// The work of a deployment's phases outside traffic steps: build the new
// fleet, verify it, bake, retire the old fleet. Each can run again after a
// crash or a shutdown: it reads what exists and what the target routes,
// and takes the next step from there.
import { describeError } from "../errors";
import { crashPoint } from "../fault-injection";
import type { Logger } from "../logger";
import { crashPointAtFirstStep, type OperationOptions } from "./stack-engine";
import { stackNames } from "./deployment-target";
import type { DeploymentControl } from "./deployment-control";
import { analyse, startAnalysis } from "./analysis-watch";
import { retireFleet } from "./fleet-retirement";
import { capacityOf, runnableArtifact, type Color, type Deployment } from "./model";
import { resizeFleet } from "./fleet-capacity";
import { runPreDeploy } from "./pre-deploy";
import type { RunnerDeps } from "./runner-deps";
import { buildFleet, dropFleet, markLive, needAttention } from "./environment-changes";

/**
 * Engine options for a piece of work: journaled engine events, and the
 * abort signal (if any). `label` names the fault-injection point fired once
 * the engine is at work on a resource.
 */
export function engineOptions(deps: RunnerDeps, d: Deployment, control: DeploymentControl | undefined, label?: string): OperationOptions {
  const ops: OperationOptions = {
    signal: control?.signal,
    onEvent: (e) => void deps.journal.record(d, e.type, e.data).catch(() => undefined),
  };
  return label ? crashPointAtFirstStep(ops, `${label}:engine`) : ops;
}

/** Builds the new fleet on the idle color; a fleet left there by an earlier failure goes first. */
export async function provision(deps: RunnerDeps, d: Deployment, control: DeploymentControl): Promise<void> {
  crashPoint("provisioning");
  const { environments, engine, targets } = deps;
  const ops = (label?: string) => engineOptions(deps, d, control, label);
  const to = d.toColor!;
  let env = (await environments.get(d.environment))!;
  await runPreDeploy(deps, d, env, control, ops());
  const existing = env.fleets[to];
  if (existing && existing.deploymentId !== d.id) env = await retireFleet(deps, env, to, ops());
  const wave = d.waves?.[0];
  if (wave && d.fromColor && env.fleets[d.fromColor] && wave.shrinkTo < capacityOf(env, d.fromColor)) {
    // No room to surge: the old fleet makes way first, and keeps all the traffic meanwhile.
    env = await resizeFleet(deps, d, d.fromColor, wave.shrinkTo, ops);
  }
  const size = wave?.grow ?? env.spec.fleet.replicas;
  const program = targets.get(env.spec.target).fleetProgram(env.spec, to, d.version, runnableArtifact(d.artifact, (s) => deps.secrets.open(s)), env.traffic, size);
  const fleet = await engine.up(stackNames(d.environment)[to], program, ops("provisioning"));
  await environments.update(d.environment, buildFleet(to, { version: d.version, artifact: d.artifact, deploymentId: d.id, outputs: fleet, ...(wave ? { replicas: size } : {}) }));
  control.throwIfAborted();
  await deps.journal.move(d, { phase: "verifying" });
}

export async function verify(deps: RunnerDeps, d: Deployment, control: DeploymentControl): Promise<void> {
  crashPoint("verifying");
  const env = (await deps.environments.get(d.environment))!;
  const fleet = env.fleets[d.toColor!];
  if (!fleet || fleet.deploymentId !== d.id) throw new Error(`the ${d.toColor} fleet of this deployment is missing`);
  await deps.targets.get(env.spec.target).verify(env.spec, fleet.outputs, capacityOf(env, d.toColor!));
  control.throwIfAborted();
  await deps.journal.move(d, { phase: "shifting" });
}

/** Keeps the old fleet warm for the bake: a rollback now is a weight flip. */
export async function bake(deps: RunnerDeps, d: Deployment, control: DeploymentControl): Promise<void> {
  crashPoint("baking");
  const metrics = await startAnalysis(deps, d, (await deps.environments.get(d.environment))!);
  control.beginPromotable();
  try {
    let deadline = d.waitUntil ? Date.parse(d.waitUntil) : Date.now();
    const hold = async () => {
      deadline = Infinity;
      await deps.journal.hold(d, "analysis");
    };
    if (!metrics) await control.wait(deadline);
    else
      for (;;) {
        if (Date.now() >= deadline) {
          if (!metrics.measured && (await analyse(deps, d, metrics, true)) === "hold") await hold();
          else break;
        }
        if ((await control.wait(Math.min(deadline, Date.now() + 1000))) === "promoted") break;
        if (d.pausedBy !== "analysis" && (await analyse(deps, d, metrics)) === "hold") await hold();
      }
  } finally {
    control.endPromotable();
  }
  control.throwIfAborted();
  d.waitUntil = undefined;
  await deps.journal.release(d);
  await deps.journal.move(d, { phase: "retiring" }, { color: d.fromColor, stack: stackNames(d.environment)[d.fromColor!] });
}

/**
 * Removes the old fleet. The new one served everything when retiring
 * began; if the target says otherwise, traffic is put on the new fleet
 * again first, since the old one is on its way out.
 */
export async function retire(deps: RunnerDeps, d: Deployment, log: Logger): Promise<void> {
  crashPoint("retiring");
  const to = d.toColor!;
  const from = d.fromColor!;
  let env = (await deps.environments.get(d.environment))!;
  try {
    const observed = await deps.traffic.observe(env);
    if (env.fleets[to] && (observed?.weights[to] !== 100 || env.trafficIntent)) {
      const weights = { [to]: 100, [from]: 0 } as Record<Color, number>;
      env = await deps.traffic.apply(env, weights, { ...engineOptions(deps, d, undefined), without: [from], deploymentId: d.id, label: "retiring" });
    }
    if (await deps.engine.exists(stackNames(d.environment)[from])) {
      await retireFleet(deps, env, from, engineOptions(deps, d, undefined, "retiring"));
    } else {
      await deps.environments.update(d.environment, dropFleet(from));
    }
  } catch (err) {
    d.error = {
      code: "retire_failed",
      message: `the new version serves all traffic, but the old fleet could not be removed: ${describeError(err).message}`,
    };
    await deps.environments.update(d.environment, needAttention(d.error));
    log.error({ error: d.error }, "retiring the old fleet failed");
    await deps.journal.finish(d, "failed");
    return;
  }
  await deps.environments.update(d.environment, markLive(d));
  await deps.journal.finish(d, "succeeded", { version: d.version, color: to });
  log.info("deployment succeeded");
}

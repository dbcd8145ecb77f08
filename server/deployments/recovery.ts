// Start-up recovery: brings every operation a crash interrupted to a
// consistent end before new work runs. Stack locks and pending operations
// are cleared, an interrupted deployment is rolled back (or, if it was
// retiring the old fleet, finished), an interrupted environment create or
// delete is run again, and runtime leftovers no stack owns are removed.
import { describeError, UnprocessableError } from "../errors";
import { stackNames } from "../targets/deployment-target";
import type { EnvironmentService } from "../environments/environment-service";
import { existingFleetProgram } from "./existing-fleet";
import type { DeploymentRunner, RunnerDeps } from "./deployment-runner";
import type { DeploymentService } from "./deployment-service";
import type { EnvironmentLanes } from "./environment-lanes";
import type { Color, Deployment, Environment } from "./model";

export interface RecoveryDeps extends RunnerDeps {
  runner: DeploymentRunner;
  deploymentService: DeploymentService;
  environmentService: EnvironmentService;
  lanes: EnvironmentLanes;
}

class InterruptedError extends UnprocessableError {
  constructor() {
    super("interrupted", "the Cutover server stopped in the middle of this deployment");
  }
}

export async function recover(deps: RecoveryDeps, startedAt: Date): Promise<void> {
  const { engine, environments, deployments, lanes, logger } = deps;
  const killed = engine.killOrphanedProcesses();
  if (killed.length) logger.warn({ pids: killed }, "stopped pulumi processes left by a previous server");

  await Promise.all(environments.list().map((env) => lanes.run(env.name, () => recoverEnvironment(deps, env))));
  await reap(deps, startedAt);
  for (const d of deployments.unfinished()) {
    if (d.state === "queued") deps.deploymentService.enqueue(d.id, d.environment);
  }
}

async function recoverEnvironment(deps: RecoveryDeps, env: Environment): Promise<void> {
  const { engine, deployments, logger } = deps;
  const log = logger.child({ environment: env.name });
  const interrupted = deployments.unfinished(env.name).filter((d) => d.state !== "queued");
  if (env.status === "ready" && interrupted.length === 0) return;
  for (const stack of Object.values(stackNames(env.name))) {
    const repaired = await engine.repair(stack).catch((err) => {
      log.error({ stack, error: describeError(err) }, "could not repair stack");
      return undefined;
    });
    if (repaired?.cancelled || repaired?.pendingCleared) log.warn({ stack, ...repaired }, "cleared an interrupted operation");
  }
  if (env.status === "creating") await deps.environmentService.provision(env.name);
  for (const d of interrupted) {
    log.warn({ deploymentId: d.id, phase: d.phase }, "bringing an interrupted deployment to an end");
    if (d.phase === "retiring") await finishRetiring(deps, d);
    else await deps.runner.rollBack(d, new InterruptedError());
  }
  if (env.status === "deleting") await deps.environmentService.destroy(env.name);
}

/** The new fleet already served everything when the crash came: finish removing the old one. */
async function finishRetiring(deps: RecoveryDeps, d: Deployment): Promise<void> {
  const { engine, environments, journal, targets } = deps;
  const env = environments.get(d.environment)!;
  const from = d.fromColor as Color;
  try {
    await engine.destroy(stackNames(d.environment)[from], existingFleetProgram(targets, env, from));
    environments.update(d.environment, (e) => delete e.fleets[from]);
    d.state = "succeeded";
  } catch (err) {
    d.state = "failed";
    d.error = { code: "retire_failed", message: describeError(err).message };
  }
  d.finishedAt = new Date().toISOString();
  journal.phase(d, "done");
  journal.record(d, d.state === "succeeded" ? "deployment:succeeded" : "deployment:failed", { recovered: true });
}

async function reap(deps: RecoveryDeps, startedAt: Date): Promise<void> {
  const { engine, environments, targets, logger } = deps;
  for (const name of targets.names()) {
    const target = targets.get(name);
    if (!target.reapUnowned) continue;
    const fleets: Record<string, unknown>[] = [];
    const owners: string[] = [];
    for (const env of environments.list().filter((e) => e.spec.target === name)) {
      for (const color of ["blue", "green"] as Color[]) {
        const stack = stackNames(env.name)[color];
        if (await engine.exists(stack)) fleets.push(await engine.outputs(stack, async () => undefined));
      }
      if (await engine.exists(stackNames(env.name).traffic)) owners.push(env.name);
    }
    const reaped = await target.reapUnowned({ fleets, environments: owners }, startedAt);
    if (reaped.length) logger.warn({ reaped }, "removed runtime leftovers no stack owns");
  }
}

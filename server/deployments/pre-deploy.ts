// The pre-deploy job: run once per deployment, before any fleet is built,
// for what must happen before a new version takes traffic (a schema
// migration's expand step). It runs on the target: a process on local, a
// one-off Job on Kubernetes. A failure ends the deployment with nothing
// built and traffic untouched. Its outcome is kept in the deployment, so a
// resumed deployment never runs it twice; a running job is named there
// too, so a restarted server stops a job whose deployment a crash ended.
import { UnprocessableError } from "../errors";
import type { StackEngine, OperationOptions } from "./stack-engine";
import { stackNames, type JobResult, type RunnableJob } from "./deployment-target";
import type { TargetRegistry } from "./target-registry";
import type { DeploymentControl } from "./deployment-control";
import type { DeploymentJournal } from "./deployment-journal";
import { parseDuration } from "../../infra/duration";
import { artifactFor, runnableArtifact, type Deployment, type Environment } from "./model";
import type { SecretSealer } from "./ports";

/** How much of a failed job's output its `job:failed` event carries. */
const EVENT_OUTPUT_CHARS = 500;

export class PreDeployFailedError extends UnprocessableError {
  constructor(code: "predeploy_failed" | "predeploy_timed_out", message: string) {
    super(code, message);
  }
}

export interface PreDeployDeps {
  journal: DeploymentJournal;
  targets: TargetRegistry;
  engine: StackEngine;
  secrets: SecretSealer;
}

export async function runPreDeploy(
  deps: PreDeployDeps,
  d: Deployment,
  env: Environment,
  control: DeploymentControl,
  ops: OperationOptions,
): Promise<void> {
  if (!d.preDeploy || d.job?.state === "succeeded") return;
  const target = deps.targets.get(env.spec.target);
  const secretValues: string[] = [];
  const artifact = runnableArtifact(artifactFor({ command: d.preDeploy.command, cwd: d.preDeploy.cwd, env: d.preDeploy.env }, d.version), (sealed) => {
    const plain = deps.secrets.open(sealed);
    secretValues.push(plain);
    return plain;
  });
  const job: RunnableJob = {
    command: artifact.command,
    cwd: artifact.cwd,
    env: { ...artifact.env, CUTOVER_ENVIRONMENT: d.environment, CUTOVER_DEPLOYMENT: d.id, APP_VERSION: d.version },
    timeoutMs: parseDuration(d.preDeploy.timeout),
  };
  d.job = { state: "running", startedAt: new Date().toISOString() };
  await deps.journal.save(d);
  await deps.journal.record(d, "job:started", { command: job.command[0], timeout: d.preDeploy.timeout });
  let result: JobResult;
  if (target.runJob) {
    result = await target.runJob(env.spec, job, {
      deploymentId: d.id,
      signal: control.signal,
      onStart: async (handle) => {
        d.job = { ...d.job!, handle };
        await deps.journal.save(d);
      },
    });
  } else if (target.jobProgram) {
    const stack = stackNames(d.environment).job;
    const program = target.jobProgram(env.spec, job, d.version, d.id);
    try {
      const outputs = await deps.engine.up(stack, program, ops);
      result = { exitCode: Number(outputs.exitCode ?? 0), timedOut: false };
    } catch (err) {
      result = { exitCode: null, timedOut: false, output: err instanceof Error ? err.message : String(err) };
    } finally {
      await deps.engine.destroy(stack, program, ops).catch(() => undefined);
    }
  } else {
    throw new PreDeployFailedError("predeploy_failed", `the ${env.spec.target} target cannot run a pre-deploy job`);
  }
  control.throwIfAborted();
  const output = scrub(result.output ?? "", secretValues);
  if (result.exitCode === 0 && !result.timedOut) {
    d.job = { state: "succeeded", startedAt: d.job.startedAt, exitCode: 0 };
    await deps.journal.save(d);
    await deps.journal.record(d, "job:succeeded", {});
    return;
  }
  d.job = { state: "failed", startedAt: d.job.startedAt, ...(result.exitCode !== null ? { exitCode: result.exitCode } : {}) };
  await deps.journal.save(d);
  const lastLine = output.trim().split("\n").pop()?.slice(0, 500) ?? "";
  // Viewers read events: only a short tail goes there (secrets replaced); the whole output stays in the job's log.
  await deps.journal.record(d, "job:failed", { exitCode: result.exitCode, timedOut: result.timedOut, output: output.slice(-EVENT_OUTPUT_CHARS) });
  if (result.timedOut) throw new PreDeployFailedError("predeploy_timed_out", `the pre-deploy job did not finish within ${d.preDeploy.timeout} and was stopped`);
  const how = result.exitCode === null ? "did not run to an exit" : `exited with ${result.exitCode}`;
  throw new PreDeployFailedError("predeploy_failed", `the pre-deploy job ${how}${lastLine ? `: ${lastLine}` : ""}`);
}

/** Stops a job a crash left running (its deployment is being rolled back). */
export async function stopLeftoverJob(deps: PreDeployDeps, d: Deployment, env: Environment | undefined): Promise<void> {
  if (d.job?.state !== "running" || !d.job.handle || !env) return;
  await deps.targets.get(env.spec.target).stopJob?.(d.job.handle);
  await deps.journal.record(d, "job:stopped", { reason: "the server that ran it stopped" });
}

/** Secret values never reach the journal, even when a job prints them. */
function scrub(text: string, secrets: string[]): string {
  return secrets.filter((s) => s.length >= 4).reduce((t, s) => t.split(s).join("[secret]"), text);
}

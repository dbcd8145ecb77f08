// Drives one deployment from where the journal says it is to an end, one
// phase at a time (the table is deployment-states.ts):
// queued → provisioning → verifying → shifting → baking → retiring → done,
// and on any failure, timeout or abort: rolling_back → done.
// A rolling deployment's steps are its waves: in each, the old fleet shrinks
// and the new one grows (fleet-capacity.ts) and the weights follow their
// capacity; the new fleet is built small in provisioning.
// The runner observes, decides (deployment-decision.ts), performs one
// decision (phase-work.ts, traffic-steps.ts) and asks again; recovery
// and normal progress are the same loop.
import { describeError, UnprocessableError } from "../errors";
import { crashPoint } from "../fault-injection";
import type { Logger } from "../logger";
import { AbortedError, DeploymentControl, SuspendedSignal } from "./deployment-control";
import { CanaryAnalysisError } from "./canary-analysis";
import { rollBack } from "./deployment-rollback";
import { isTerminal } from "./deployment-states";
import { decide, winding, type Decision, type Observation } from "./deployment-decision";
import { parseDuration } from "../../infra/duration";
import { otherColor, type Color, type Deployment } from "./model";
import { notifyGates, passGate } from "./gates";
import { stopLeftoverJob } from "./pre-deploy";
import type { RunnerDeps } from "./runner-deps";
import { stackNames } from "./deployment-target";
import { bake, engineOptions, provision, retire, verify } from "./phase-work";
import { applyStep, holdForUser, preview, promote } from "./traffic-steps";

export class InterruptedError extends UnprocessableError {
  constructor() {
    super("interrupted", "the Cutover server stopped in the middle of this deployment");
  }
}

export class DeploymentRunner {
  private readonly controls = new Map<string, DeploymentControl>();
  private readonly environmentOf = new Map<string, string>();

  constructor(private readonly deps: RunnerDeps) {}

  control(id: string): DeploymentControl | undefined {
    return this.controls.get(id);
  }

  /** Asks every running deployment to stop at its next safe point. */
  suspendAll(): void {
    for (const control of this.controls.values()) control.suspend();
  }

  /** Stops the running deployments of one environment (its lease was lost; their writes would be refused). */
  suspendEnvironment(environment: string): void {
    for (const [id, control] of this.controls) if (this.environmentOf.get(id) === environment) control.suspend();
  }

  /**
   * Drives a deployment to its end, or to a safe point when suspended:
   * observe, decide (deployment-decision.ts), act, and ask again. A queued
   * deployment starts; one a crash cut off (found mid-work, held by no
   * runner) rolls back, or goes on retiring or rolling back; one a graceful
   * shutdown suspended resumes. Never throws: every outcome is journaled.
   */
  async run(id: string): Promise<void> {
    const d = await this.deps.deployments.get(id);
    if (!d || isTerminal(d.state)) return;
    const control = new DeploymentControl();
    this.controls.set(id, control);
    this.environmentOf.set(id, d.environment);
    const log = this.deps.logger.child({ deploymentId: id, environment: d.environment });
    // Requests made on other replicas (or before this one took the deployment over).
    const takeRequests = () =>
      this.deps.requests.take(id).then(
        (requests) => requests.forEach((r) => control.apply(r)),
        (err) => log.warn({ err: String(err) }, "reading requests to the deployment failed"),
      );
    // A hold a person asked for outlives a restart: they resume it.
    if (d.pausedBy === "user") control.pauseRequested = true;
    await takeRequests();
    const requestPoll = setInterval(() => void takeRequests(), 500);
    requestPoll.unref();
    const look = (firstLook: boolean): Observation => ({
      firstLook,
      suspendRequested: control.suspendRequested,
      pauseRequested: control.pauseRequested,
      abortRequested: control.aborted,
    });
    try {
      if (d.state !== "queued") {
        // Picked up mid-way, after a crash or a shutdown: a job the last server started does not outlive it.
        crashPoint("recovery");
        await stopLeftoverJob(this.deps, d, await this.deps.environments.get(d.environment));
      }
      let seen = look(true);
      for (;;) {
        const decision = decide(d, seen);
        if (decision.do === "end") {
          // Told once the deployment has ended; the environment's next deployment does not wait for the receiver.
          void notifyGates(this.deps, d, "post-rollout").catch(() => undefined);
          return;
        }
        if (decision.do === "give_up") {
          log.error({ err: describeError(seen.failure?.error) }, "deployment runner failed");
          return;
        }
        if (decision.do === "suspend") {
          d.suspended = true;
          await this.deps.journal.save(d);
          await this.deps.journal.record(d, "deployment:suspended", { phase: d.phase, step: d.step ?? null });
          log.info({ phase: d.phase }, "deployment suspended at a safe point; the next start resumes it");
          return;
        }
        const came = await this.act(d, decision, seen.failure, control, log);
        seen = { ...look(false), ...came };
      }
    } catch (err) {
      log.error({ err: describeError(err) }, "deployment runner failed");
    } finally {
      clearInterval(requestPoll);
      control.clearDeadline();
      this.controls.delete(id);
      this.environmentOf.delete(id);
    }
  }

  /** Performs one decision; what came of it (a failure, a stop at a safe point) is the next observation. */
  private async act(
    d: Deployment,
    decision: Exclude<Decision, { do: "end" | "give_up" | "suspend" }>,
    failure: Observation["failure"],
    control: DeploymentControl,
    log: Logger,
  ): Promise<Partial<Observation>> {
    if (decision.do === "roll_back") {
      const cause = decision.because === "interrupted" ? new InterruptedError() : control.aborted ? control.signal.reason : failure?.error;
      await this.startRollback(d, cause);
      return {};
    }
    try {
      await this.perform(d, decision, control, log);
      return {};
    } catch (err) {
      return err instanceof SuspendedSignal ? { stoppedAtSafePoint: true } : { failure: { error: err } };
    }
  }

  private async perform(d: Deployment, decision: Exclude<Decision, { do: "end" | "give_up" | "suspend" | "roll_back" }>, control: DeploymentControl, log: Logger): Promise<void> {
    const deps = this.deps;
    switch (decision.do) {
      case "start":
        return this.start(d, control, log);
      case "resume":
        d.suspended = undefined;
        await deps.journal.save(d);
        await deps.journal.record(d, "deployment:resumed_after_restart", { phase: d.phase, step: d.step ?? null });
        if (!winding(d.phase)) control.startDeadline(await this.deadlineMs(d));
        return;
      case "hold":
        return holdForUser(deps, d, control);
      case "gate":
        return passGate(deps, d, control, decision.gate, decision.at);
      case "preview":
        return preview(deps, d, control);
      case "step":
        return applyStep(deps, d, control, decision.index);
      case "promote":
        return promote(deps, d);
      case "work":
        switch (decision.phase) {
          case "provisioning":
            return provision(deps, d, control);
          case "verifying":
            return verify(deps, d, control);
          case "baking":
            return bake(deps, d, control);
          case "retiring":
            control.clearDeadline();
            return retire(deps, d, log);
          case "rolling_back":
            control.clearDeadline();
            return rollBack(deps, d, engineOptions(deps, d, undefined), log);
          default:
            throw new Error(`no work for phase ${String(decision.phase)}`);
        }
    }
  }

  private async start(d: Deployment, control: DeploymentControl, log: Logger): Promise<void> {
    const env = (await this.deps.environments.get(d.environment))!;
    const from = env.activeColor && env.fleets[env.activeColor] ? env.activeColor : undefined;
    const to: Color = from ? otherColor(from) : "blue";
    Object.assign(d, {
      startedAt: new Date().toISOString(),
      fromColor: from,
      toColor: to,
      fromVersion: from ? env.liveVersion : undefined,
      restore: { previousVersion: env.previousVersion, previousArtifact: env.previousArtifact },
    });
    if (d.waves && !from) {
      // Nothing to roll from: the new fleet is built whole and takes all traffic at once.
      d.waves = [{ shrinkTo: 0, grow: env.spec.fleet.replicas, old: 0 }];
      d.steps = [{ weight: 100 }];
    }
    await this.deps.journal.move(d, { state: "running", phase: "provisioning" }, { color: to, stack: stackNames(d.environment)[to] });
    await this.deps.journal.record(d, "deployment:started", { fromColor: from ?? null, toColor: to, fromVersion: d.fromVersion ?? null });
    log.info({ version: d.version, toColor: to }, "deployment started");
    control.startDeadline(await this.deadlineMs(d));
  }

  private async deadlineMs(d: Deployment): Promise<number> {
    const env = await this.deps.environments.get(d.environment);
    return env?.spec.operationTimeout ? parseDuration(env.spec.operationTimeout) : this.deps.operationTimeoutMs;
  }

  private async startRollback(d: Deployment, cause: unknown): Promise<void> {
    d.error =
      cause instanceof AbortedError
        ? { code: cause.code, message: cause.reason }
        : cause instanceof CanaryAnalysisError || cause instanceof InterruptedError
          ? { code: cause.code, message: cause.message }
          : describeError(cause);
    d.waitUntil = undefined;
    await this.deps.journal.move(d, { state: "rolling_back", phase: "rolling_back" }, { error: d.error });
    // Told, not asked: a slow receiver never delays the rollback.
    void notifyGates(this.deps, d, "rollback").catch(() => undefined);
    this.deps.logger.warn({ deploymentId: d.id, environment: d.environment, error: d.error }, "rolling back");
  }
}

// Drives one deployment from where the journal says it is to an end, one
// phase at a time (the table is deployment-states.ts):
// queued → provisioning → verifying → shifting → baking → retiring → done,
// and on any failure, timeout or abort: rolling_back → done.
// A rolling deployment's steps are its waves: in each, the old fleet shrinks
// and the new one grows (fleet-capacity.ts) and the weights follow their
// capacity; the new fleet is built small in provisioning.
// Every phase handler can run again after a crash or a shutdown: it reads
// what exists and what the target routes, and takes the next step from
// there. That is how recovery and normal progress share one code path.
import { describeError, UnprocessableError } from "../errors";
import { crashPoint } from "../fault-injection";
import type { Logger } from "../logger";
import { crashPointAtFirstStep, type OperationOptions } from "./stack-engine";
import { stackNames } from "./deployment-target";
import { AbortedError, DeploymentControl, SuspendedSignal } from "./deployment-control";
import { CanaryAnalysisError } from "./canary-analysis";
import { analyse, prePromotionAnalysis, startAnalysis } from "./analysis-watch";
import { rollBack } from "./deployment-rollback";
import { isTerminal } from "./deployment-states";
import { decide, type Decision, type Observation } from "./deployment-decision";
import { parseDuration } from "../../infra/duration";
import { retireFleet } from "./fleet-retirement";
import { capacityOf, otherColor, runnableArtifact, type Color, type Deployment } from "./model";
import { resizeFleet } from "./fleet-capacity";
import { waveWeight } from "./rolling-waves";
import { pauseAtStep } from "./canary-pause";
import { notifyGates, passGates } from "./gates";
import { runPreDeploy, stopLeftoverJob } from "./pre-deploy";
import type { RunnerDeps } from "./runner-deps";
import { buildFleet, dropFleet, markLive, needAttention } from "./environment-changes";

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
    await takeRequests();
    const requestPoll = setInterval(() => void takeRequests(), 500);
    requestPoll.unref();
    try {
      if (d.state !== "queued") {
        // Picked up mid-way, after a crash or a shutdown: a job the last server started does not outlive it.
        crashPoint("recovery");
        await stopLeftoverJob(this.deps, d, await this.deps.environments.get(d.environment));
      }
      let seen: Observation = { firstLook: true, suspendRequested: control.suspendRequested };
      for (;;) {
        const decision = decide(d, seen);
        const failure = seen.failure;
        seen = { firstLook: false, suspendRequested: control.suspendRequested };
        if (decision.do === "end") {
          // Told once the deployment has ended; the environment's next deployment does not wait for the receiver.
          void notifyGates(this.deps, d, "post-rollout").catch(() => undefined);
          return;
        }
        if (decision.do === "give_up") {
          log.error({ err: describeError(failure?.error) }, "deployment runner failed");
          return;
        }
        if (decision.do === "suspend") {
          d.suspended = true;
          await this.deps.journal.save(d);
          await this.deps.journal.record(d, "deployment:suspended", { phase: d.phase, step: d.step ?? null });
          log.info({ phase: d.phase }, "deployment suspended at a safe point; the next start resumes it");
          return;
        }
        seen = { ...seen, ...(await this.act(d, decision, failure, control, log)), suspendRequested: control.suspendRequested };
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
    switch (decision.do) {
      case "start":
        await this.start(d, control, log);
        return {};
      case "resume":
        d.suspended = undefined;
        await this.deps.journal.save(d);
        await this.deps.journal.record(d, "deployment:resumed_after_restart", { phase: d.phase, step: d.step ?? null });
        if (d.phase !== "retiring" && d.phase !== "rolling_back") control.startDeadline(await this.deadlineMs(d));
        return {};
      case "roll_back":
        await this.startRollback(d, decision.because === "interrupted" ? new InterruptedError() : this.causeOf(failure?.error, control));
        return {};
      case "work":
        try {
          await this.step(d, control, log);
          return {};
        } catch (err) {
          return err instanceof SuspendedSignal ? { stoppedAtSafePoint: true } : { failure: { error: err } };
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

  private async step(d: Deployment, control: DeploymentControl, log: Logger): Promise<void> {
    switch (d.phase) {
      case "provisioning":
        return this.provision(d, control);
      case "verifying":
        return this.verify(d, control);
      case "shifting":
        return this.shift(d, control);
      case "baking":
        return this.bake(d, control);
      case "retiring":
        control.clearDeadline();
        return this.retire(d, log);
      case "rolling_back":
        control.clearDeadline();
        return rollBack(this.deps, d, this.ops(d, undefined), log);
      default:
        throw new Error(`no handler for phase ${d.phase}`);
    }
  }

  /** Builds the new fleet on the idle color; a fleet left there by an earlier failure goes first. */
  private async provision(d: Deployment, control: DeploymentControl): Promise<void> {
    crashPoint("provisioning");
    const { environments, engine, targets } = this.deps;
    const to = d.toColor!;
    await passGates(this.deps, d, control, "confirm-rollout");
    let env = (await environments.get(d.environment))!;
    await runPreDeploy(this.deps, d, env, control, this.ops(d, control));
    const existing = env.fleets[to];
    if (existing && existing.deploymentId !== d.id) {
      env = await retireFleet(this.deps, env, to, this.ops(d, control));
    }
    const wave = d.waves?.[0];
    if (wave && d.fromColor && env.fleets[d.fromColor] && wave.shrinkTo < capacityOf(env, d.fromColor)) {
      // No room to surge: the old fleet makes way first, and keeps all the traffic meanwhile.
      env = await resizeFleet(this.deps, d, d.fromColor, wave.shrinkTo, (label) => this.ops(d, control, label));
    }
    const size = wave?.grow ?? env.spec.fleet.replicas;
    const fleet = await engine.up(
      stackNames(d.environment)[to],
      targets
        .get(env.spec.target)
        .fleetProgram(env.spec, to, d.version, runnableArtifact(d.artifact, (s) => this.deps.secrets.open(s)), env.traffic, size),
      this.ops(d, control, "provisioning"),
    );
    await environments.update(d.environment, buildFleet(to, { version: d.version, artifact: d.artifact, deploymentId: d.id, outputs: fleet, ...(wave ? { replicas: size } : {}) }));
    control.throwIfAborted();
    await this.deps.journal.move(d, { phase: "verifying" });
  }

  private async verify(d: Deployment, control: DeploymentControl): Promise<void> {
    crashPoint("verifying");
    const env = (await this.deps.environments.get(d.environment))!;
    const fleet = env.fleets[d.toColor!];
    if (!fleet || fleet.deploymentId !== d.id) throw new Error(`the ${d.toColor} fleet of this deployment is missing`);
    await this.deps.targets.get(env.spec.target).verify(env.spec, fleet.outputs, capacityOf(env, d.toColor!));
    control.throwIfAborted();
    await this.deps.journal.move(d, { phase: "shifting" });
  }

  /**
   * Applies each step's weights in turn, with its pause. A resumed
   * deployment re-applies the step it was at (the change is idempotent)
   * and finishes that step's pause before going on.
   */
  private async shift(d: Deployment, control: DeploymentControl): Promise<void> {
    const to = d.toColor!;
    let env = (await this.deps.environments.get(d.environment))!;
    const resumeAt = d.step;
    for (let index = resumeAt ?? 0; index < d.steps.length; index++) {
      const step = d.steps[index];
      const resuming = index === resumeAt;
      if (!resuming) await this.holdIfPauseRequested(d, control);
      if (index === 0) {
        if (d.strategy.type === "blue-green" && d.strategy.prePromotion && !d.prePromotionPassed) {
          // The new pool joins the balancer at weight 0: only requests with the force header reach it.
          const from = otherColor(to);
          const preview = { [to]: 0, [from]: env.fleets[from] ? 100 : 0 } as Record<Color, number>;
          env = await this.deps.traffic.apply(env, preview, { ...this.ops(d, control), deploymentId: d.id, label: "preview" });
        }
        await prePromotionAnalysis(this.deps, d, env, control);
        await passGates(this.deps, d, control, "pre-rollout");
      }
      await passGates(this.deps, d, control, step.weight === 100 ? "confirm-promotion" : "confirm-traffic-increase", { step: index, weight: step.weight });
      const wave = d.waves?.[index];
      if (wave) env = await this.growWave(d, control, index);
      const weights = { [to]: step.weight, [otherColor(to)]: 100 - step.weight } as Record<Color, number>;
      await this.deps.journal.record(d, "deployment:traffic_intent", { step: index, weights, ...(wave ? { wave } : {}) });
      const keep = wave && wave.old > 0 ? { [otherColor(to)]: wave.old } : {};
      env = await this.deps.traffic.apply(env, weights, { ...this.ops(d, control), keep, deploymentId: d.id, label: "shifting" });
      // The instances of the old fleet that left the pool are drained: the wave's capacity change.
      if (wave && wave.old > 0 && d.fromColor && env.fleets[d.fromColor]) {
        env = await resizeFleet(this.deps, d, d.fromColor, wave.old, (label) => this.ops(d, control, label), { routed: true });
      }
      const pauseInProgress = resuming && (d.waitUntil !== undefined || d.pausedBy === "manual-step");
      d.step = index;
      if (step.pause && !pauseInProgress) {
        if (step.pause === "manual") d.pausedBy = "manual-step";
        else d.waitUntil = new Date(Date.now() + parseDuration(step.pause)).toISOString();
      }
      if (step.pause === "manual" && d.state !== "paused") await this.deps.journal.move(d, { state: "paused" });
      else await this.deps.journal.save(d);
      await this.deps.journal.record(d, "deployment:step", {
        step: index,
        weight: step.weight,
        weights: env.weights,
        ...(wave ? { replicas: { [to]: wave.grow, [otherColor(to)]: wave.old } } : {}),
      });
      if (step.pause === "manual" && !pauseInProgress) await this.deps.journal.record(d, "deployment:paused", { by: "manual-step", step: index });
      if (step.pause) await pauseAtStep(this.deps, d, step, control, env);
    }
    await this.markLive(d);
    const from = d.fromColor && env.fleets[d.fromColor] ? d.fromColor : undefined;
    const bakeMs = parseDuration(d.strategy.bake ?? "0s");
    if (!from) {
      await this.deps.journal.finish(d, "succeeded", { version: d.version, color: to });
    } else if (bakeMs > 0) {
      await this.holdIfPauseRequested(d, control);
      d.waitUntil = new Date(Date.now() + bakeMs).toISOString();
      await this.deps.journal.move(d, { phase: "baking" }, { seconds: bakeMs / 1000 });
    } else {
      await this.deps.journal.move(d, { phase: "retiring" }, { color: from, stack: stackNames(d.environment)[from] });
    }
  }

  /**
   * The first half of a rolling wave: the old fleet shrinks as far as
   * unavailability allows (routing by the capacity left), then the new
   * fleet grows as far as surge allows, health-gated. Each part is skipped
   * when the fleet already has that size (a resumed wave).
   */
  private async growWave(d: Deployment, control: DeploymentControl, index: number) {
    const wave = d.waves![index];
    const to = d.toColor!;
    const from = d.fromColor;
    let env = (await this.deps.environments.get(d.environment))!;
    if (from && env.fleets[from] && wave.shrinkTo < capacityOf(env, from)) {
      const w = waveWeight({ grow: capacityOf(env, to), old: wave.shrinkTo });
      const weights = { [to]: w, [from]: 100 - w } as Record<Color, number>;
      env = await resizeFleet(this.deps, d, from, wave.shrinkTo, (label) => this.ops(d, control, label), { weights });
    }
    if (wave.grow > capacityOf(env, to)) env = await resizeFleet(this.deps, d, to, wave.grow, (label) => this.ops(d, control, label));
    control.throwIfAborted();
    return env;
  }

  /** The new version is live: the environment's record says so. */
  private async markLive(d: Deployment): Promise<void> {
    await this.deps.environments.update(d.environment, markLive(d));
  }

  /** Keeps the old fleet warm for the bake: a rollback now is a weight flip. */
  private async bake(d: Deployment, control: DeploymentControl): Promise<void> {
    crashPoint("baking");
    const metrics = await startAnalysis(this.deps, d, (await this.deps.environments.get(d.environment))!);
    control.beginPromotable();
    try {
      let deadline = d.waitUntil ? Date.parse(d.waitUntil) : Date.now();
      const hold = async () => {
        deadline = Infinity;
        d.pausedBy = "analysis";
        await this.deps.journal.save(d);
      };
      if (!metrics) await control.wait(deadline);
      else
        for (;;) {
          if (Date.now() >= deadline) {
            if (!metrics.measured && (await analyse(this.deps, d, metrics, true)) === "hold") await hold();
            else break;
          }
          if ((await control.wait(Math.min(deadline, Date.now() + 1000))) === "promoted") break;
          if (d.pausedBy !== "analysis" && (await analyse(this.deps, d, metrics)) === "hold") await hold();
        }
    } finally {
      control.endPromotable();
    }
    control.throwIfAborted();
    d.waitUntil = undefined;
    d.pausedBy = undefined;
    await this.deps.journal.move(d, { phase: "retiring" }, { color: d.fromColor, stack: stackNames(d.environment)[d.fromColor!] });
  }

  /**
   * Removes the old fleet. The new one served everything when retiring
   * began; if the target says otherwise, traffic is put on the new fleet
   * again first, since the old one is on its way out.
   */
  private async retire(d: Deployment, log: Logger): Promise<void> {
    crashPoint("retiring");
    const to = d.toColor!;
    const from = d.fromColor!;
    let env = (await this.deps.environments.get(d.environment))!;
    try {
      const observed = await this.deps.traffic.observe(env);
      if (env.fleets[to] && (observed?.weights[to] !== 100 || env.trafficIntent)) {
        env = await this.deps.traffic.apply(env, { [to]: 100, [from]: 0 } as Record<Color, number>, {
          ...this.ops(d, undefined),
          without: [from],
          deploymentId: d.id,
          label: "retiring",
        });
      }
      if (await this.deps.engine.exists(stackNames(d.environment)[from])) {
        await retireFleet(this.deps, env, from, this.ops(d, undefined, "retiring"));
      } else {
        await this.deps.environments.update(d.environment, dropFleet(from));
      }
    } catch (err) {
      d.error = {
        code: "retire_failed",
        message: `the new version serves all traffic, but the old fleet could not be removed: ${describeError(err).message}`,
      };
      await this.deps.environments.update(d.environment, needAttention(d.error));
      log.error({ error: d.error }, "retiring the old fleet failed");
      await this.deps.journal.finish(d, "failed");
      return;
    }
    await this.markLive(d);
    await this.deps.journal.finish(d, "succeeded", { version: d.version, color: to });
    log.info("deployment succeeded");
  }

  private async startRollback(d: Deployment, cause: unknown): Promise<void> {
    d.error =
      cause instanceof AbortedError
        ? { code: cause.code, message: cause.reason }
        : cause instanceof CanaryAnalysisError || cause instanceof InterruptedError
          ? { code: cause.code, message: cause.message }
          : describeError(cause);
    d.pausedBy = undefined;
    d.waitUntil = undefined;
    await this.deps.journal.move(d, { state: "rolling_back", phase: "rolling_back" }, { error: d.error });
    // Told, not asked: a slow receiver never delays the rollback.
    void notifyGates(this.deps, d, "rollback").catch(() => undefined);
    this.deps.logger.warn({ deploymentId: d.id, environment: d.environment, error: d.error }, "rolling back");
  }

  private causeOf(err: unknown, control: DeploymentControl): unknown {
    return control.aborted ? control.signal.reason : err;
  }

  private async holdIfPauseRequested(d: Deployment, control: DeploymentControl): Promise<void> {
    control.throwIfAborted();
    if (!control.pauseRequested) return;
    d.pausedBy = "user";
    await this.deps.journal.move(d, { state: "paused" });
    await this.deps.journal.record(d, "deployment:paused", { by: "user" });
    await control.wait(undefined, () => !control.pauseRequested);
    d.pausedBy = undefined;
    await this.deps.journal.move(d, { state: "running" });
    await this.deps.journal.record(d, "deployment:resumed", {});
  }

  /**
   * Engine options for a step: journaled engine events, and the abort
   * signal (if any). `label` names the fault-injection point fired once the
   * engine is at work on a resource.
   */
  ops(d: Deployment, control: DeploymentControl | undefined, label?: string): OperationOptions {
    const ops: OperationOptions = {
      signal: control?.signal,
      onEvent: (e) => void this.deps.journal.record(d, e.type, e.data).catch(() => undefined),
    };
    return label ? crashPointAtFirstStep(ops, `${label}:engine`) : ops;
  }
}

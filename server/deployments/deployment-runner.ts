// The deployment state machine, the same for every target:
// queued → provisioning → verifying → shifting → baking → retiring → succeeded,
// and on any failure, timeout or abort: rolling_back → rolled_back.
import type { EngineEvent } from "@pulumi/pulumi/automation";
import type { StackEngine } from "../engine/stack-engine";
import { describeError, UnprocessableError } from "../errors";
import type { Logger } from "../logger";
import type { EnvironmentStore } from "../store/environment-store";
import type { DeploymentStore } from "../store/deployment-store";
import type { DeploymentTarget } from "../targets/deployment-target";
import { stackNames } from "../targets/deployment-target";
import type { TargetRegistry } from "../targets/target-registry";
import { AbortedError, DeploymentControl } from "./deployment-control";
import { CanaryAnalysisError, judgeCanary } from "./canary-analysis";
import type { DeploymentJournal } from "./deployment-journal";
import { parseDuration } from "./duration";
import { engineEventSummary } from "./engine-event-summary";
import { existingFleetProgram } from "./existing-fleet";
import { otherColor, type CanaryStep, type Color, type Deployment, type Environment } from "./model";
import type { TrafficOperator } from "./traffic-operator";

export interface RunnerDeps {
  environments: EnvironmentStore;
  deployments: DeploymentStore;
  journal: DeploymentJournal;
  engine: StackEngine;
  targets: TargetRegistry;
  traffic: TrafficOperator;
  logger: Logger;
  operationTimeoutMs: number;
}

class RetireError extends Error {}

export class DeploymentRunner {
  private readonly controls = new Map<string, DeploymentControl>();
  private readonly timedOut = new Set<string>();

  constructor(private readonly deps: RunnerDeps) {}

  control(id: string): DeploymentControl | undefined {
    return this.controls.get(id);
  }

  /** Runs a queued deployment to its end. Never throws: every outcome is journaled. */
  async run(id: string): Promise<void> {
    const d = this.deps.deployments.get(id);
    if (!d || d.state !== "queued") return;
    const control = new DeploymentControl();
    this.controls.set(id, control);
    try {
      await this.execute(d, control);
    } catch (err) {
      this.deps.logger.error({ deploymentId: id, err: describeError(err) }, "deployment runner failed");
    } finally {
      this.controls.delete(id);
    }
  }

  private async execute(d: Deployment, control: DeploymentControl): Promise<void> {
    const { environments, journal, engine } = this.deps;
    let env = environments.get(d.environment)!;
    const target = this.deps.targets.get(env.spec.target);
    const from = env.activeColor && env.fleets[env.activeColor] ? env.activeColor : undefined;
    const to: Color = from ? otherColor(from) : "blue";
    Object.assign(d, {
      state: "running",
      startedAt: new Date().toISOString(),
      fromColor: from,
      toColor: to,
      fromVersion: from ? env.liveVersion : undefined,
    });
    const restore = { previousVersion: env.previousVersion, previousArtifact: env.previousArtifact };
    journal.record(d, "deployment:started", { fromColor: from ?? null, toColor: to, fromVersion: d.fromVersion ?? null });
    const log = this.deps.logger.child({ deploymentId: d.id, environment: d.environment });
    log.info({ version: d.version, toColor: to }, "deployment started");

    try {
      journal.phase(d, "provisioning", { color: to, stack: stackNames(d.environment)[to] });
      if (env.fleets[to]) {
        // A fleet left on the idle color by an earlier failure goes before a new one is built there.
        await engine.destroy(stackNames(d.environment)[to], existingFleetProgram(this.deps.targets, env, to), this.ops(d, control));
        env = environments.update(d.environment, (e) => delete e.fleets[to]);
      }
      const fleet = await engine.up(
        stackNames(d.environment)[to],
        target.fleetProgram(env.spec, to, d.version, d.artifact, env.traffic),
        this.ops(d, control),
      );
      env = environments.update(d.environment, (e) => {
        e.fleets[to] = { version: d.version, artifact: d.artifact, deploymentId: d.id, outputs: fleet };
      });
      control.throwIfAborted();

      journal.phase(d, "verifying");
      await target.verify(env.spec, fleet);
      control.throwIfAborted();

      journal.phase(d, "shifting");
      for (const [index, step] of d.steps.entries()) {
        await this.holdIfPauseRequested(d, control);
        d.step = index;
        env = await this.deps.traffic.shift(env, { [to]: step.weight, [otherColor(to)]: 100 - step.weight } as Record<Color, number>, this.ops(d, control));
        journal.save(d);
        journal.record(d, "deployment:step", { step: index, weight: step.weight, weights: env.weights });
        if (step.pause) await this.pauseAt(d, step, control, target, env);
      }
      env = environments.update(d.environment, (e) => {
        e.activeColor = to;
        e.liveVersion = d.version;
        e.liveArtifact = d.artifact;
        if (from) {
          e.previousVersion = d.fromVersion;
          e.previousArtifact = e.fleets[from]?.artifact;
        }
        delete e.error;
      });

      const bakeMs = parseDuration(d.strategy.bake ?? "0s");
      if (from && bakeMs > 0) {
        await this.holdIfPauseRequested(d, control);
        journal.phase(d, "baking", { seconds: bakeMs / 1000 });
        control.beginPromotable();
        try {
          await control.wait(bakeMs);
        } finally {
          control.endPromotable();
        }
      }
      control.throwIfAborted();

      if (from) {
        journal.phase(d, "retiring", { color: from, stack: stackNames(d.environment)[from] });
        try {
          await engine.destroy(stackNames(d.environment)[from], existingFleetProgram(this.deps.targets, env, from), this.ops(d, undefined));
        } catch (err) {
          throw new RetireError(describeError(err).message);
        }
        env = environments.update(d.environment, (e) => delete e.fleets[from]);
      }
      d.state = "succeeded";
      d.finishedAt = new Date().toISOString();
      journal.phase(d, "done");
      journal.record(d, "deployment:succeeded", { version: d.version, color: to });
      log.info("deployment succeeded");
    } catch (err) {
      if (err instanceof RetireError) {
        await this.failRetire(d, err);
        return;
      }
      const cause = control.aborted
        ? (control.signal.reason as AbortedError)
        : this.timedOut.has(d.id)
          ? new OperationTimeoutError(this.deps.operationTimeoutMs)
          : err;
      await this.rollBack(d, cause, restore);
    } finally {
      this.timedOut.delete(d.id);
    }
  }

  /**
   * Puts traffic back on the old fleet and removes the new one. Also used by
   * start-up recovery for deployments a crash interrupted.
   */
  async rollBack(d: Deployment, cause: unknown, restore?: Pick<Environment, "previousVersion" | "previousArtifact">): Promise<void> {
    const { environments, journal } = this.deps;
    const log = this.deps.logger.child({ deploymentId: d.id, environment: d.environment });
    d.error = cause instanceof AbortedError ? { code: "aborted", message: cause.reason } : describeError(cause);
    d.state = "rolling_back";
    journal.phase(d, "rolling_back", { error: d.error });
    log.warn({ error: d.error }, "rolling back");
    try {
      const env = environments.get(d.environment)!;
      // Without a chosen color nothing was built, so there is nothing to undo.
      const to = d.toColor;
      const from = d.fromColor && env.fleets[d.fromColor] ? d.fromColor : undefined;
      if (to) await this.undo(d, env, to, from, restore);
      d.state = "rolled_back";
      log.info("rolled back");
    } catch (err) {
      const reason = describeError(err).message;
      d.state = "failed";
      d.error = { code: "rollback_failed", message: `${d.error.message}; then the rollback failed: ${reason}` };
      environments.update(d.environment, (e) => (e.error = { code: "rollback_failed", message: d.error!.message }));
      log.error({ error: d.error }, "rollback failed");
    }
    d.finishedAt = new Date().toISOString();
    journal.phase(d, "done");
    journal.record(d, d.state === "rolled_back" ? "deployment:rolled_back" : "deployment:failed", { error: d.error });
  }

  private async undo(
    d: Deployment,
    env: Environment,
    to: Color,
    from: Color | undefined,
    restore?: Pick<Environment, "previousVersion" | "previousArtifact">,
  ): Promise<void> {
    const { environments, journal, engine } = this.deps;
    if (env.weights[to] > 0 || (from && env.weights[from] < 100)) {
      const weights = { [to]: 0, [otherColor(to)]: from ? 100 : 0 } as Record<Color, number>;
      env = await this.deps.traffic.shift(env, weights, this.ops(d, undefined), [to]);
      journal.record(d, "deployment:step", { weights: env.weights, rollback: true });
    }
    await engine.destroy(stackNames(d.environment)[to], existingFleetProgram(this.deps.targets, env, to), this.ops(d, undefined));
    environments.update(d.environment, (e) => {
      delete e.fleets[to];
      e.activeColor = from;
      e.liveVersion = from ? d.fromVersion : undefined;
      e.liveArtifact = from ? e.fleets[from]?.artifact : undefined;
      if (restore) Object.assign(e, restore);
    });
  }

  private async failRetire(d: Deployment, err: RetireError): Promise<void> {
    d.state = "failed";
    d.error = { code: "retire_failed", message: `the new version serves all traffic, but the old fleet could not be removed: ${err.message}` };
    this.deps.environments.update(d.environment, (e) => (e.error = d.error));
    d.finishedAt = new Date().toISOString();
    this.deps.journal.phase(d, "done");
    this.deps.journal.record(d, "deployment:failed", { error: d.error });
  }

  private async holdIfPauseRequested(d: Deployment, control: DeploymentControl): Promise<void> {
    control.throwIfAborted();
    if (!control.pauseRequested) return;
    d.state = "paused";
    d.pausedBy = "user";
    this.deps.journal.save(d);
    this.deps.journal.record(d, "deployment:paused", { by: "user" });
    await control.wait(undefined, () => !control.pauseRequested);
    d.state = "running";
    d.pausedBy = undefined;
    this.deps.journal.save(d);
    this.deps.journal.record(d, "deployment:resumed", {});
  }

  private async pauseAt(d: Deployment, step: CanaryStep, control: DeploymentControl, target: DeploymentTarget, env: Environment): Promise<void> {
    const manual = step.pause === "manual";
    const deadline = manual ? Infinity : Date.now() + parseDuration(step.pause!);
    if (manual) {
      d.state = "paused";
      d.pausedBy = "manual-step";
      this.deps.journal.save(d);
      this.deps.journal.record(d, "deployment:paused", { by: "manual-step", step: d.step });
    }
    const analysis = d.strategy.type === "canary" ? d.strategy.analysis : undefined;
    const statsOf = async () => (analysis && target.poolStats && env.traffic ? target.poolStats(env.spec, env.traffic) : undefined);
    const baseline = await statsOf().catch(() => undefined);
    control.beginPromotable();
    try {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        if ((await control.wait(Math.min(left, 1000))) === "promoted") break;
        const now = analysis && baseline ? await statsOf().catch(() => undefined) : undefined;
        if (analysis && baseline && now) {
          try {
            judgeCanary(analysis, d.toColor!, baseline, now);
          } catch (err) {
            if (err instanceof CanaryAnalysisError) {
              this.deps.journal.record(d, "deployment:analysis_failed", { requests: err.requests, errors: err.errors, maxErrorRate: analysis.maxErrorRate });
            }
            throw err;
          }
        }
      }
    } finally {
      control.endPromotable();
    }
    if (manual) {
      d.state = "running";
      d.pausedBy = undefined;
      this.deps.journal.save(d);
      this.deps.journal.record(d, "deployment:promoted", { step: d.step });
    }
  }

  /** Engine options for a step: journaled engine events, the abort signal (if any) and the operation timeout. */
  private ops(d: Deployment, control: DeploymentControl | undefined) {
    const timeout = AbortSignal.timeout(this.deps.operationTimeoutMs);
    timeout.addEventListener("abort", () => this.timedOut.add(d.id));
    const signals = [timeout];
    if (control) signals.push(control.signal);
    return {
      signal: AbortSignal.any(signals),
      onEvent: (e: EngineEvent) => {
        const summary = engineEventSummary(e);
        if (summary) this.deps.journal.record(d, summary.type, summary.data);
      },
    };
  }
}

class OperationTimeoutError extends UnprocessableError {
  constructor(ms: number) {
    super("timed_out", `a step took longer than the operation timeout (${ms / 1000}s)`);
  }
}

// Start-up recovery and the choice of each environment's next piece of
// work. When the server starts, every environment is first brought to a
// consistent end of what a crash interrupted (stale stack locks and pending
// operations cleared, interrupted deployments rolled back or finished from
// what the target reports), before any queued work of that environment
// runs. Runtime leftovers that no stack owns are removed once every
// environment is recovered.
import { describeError } from "../errors";
import type { EnvironmentService } from "../environments/environment-service";
import { stackNames } from "../deployments/deployment-target";
import type { DeploymentRunner } from "../deployments/deployment-runner";
import type { RunnerDeps } from "../deployments/runner-deps";
import type { Environment } from "../deployments/model";
import { pollUntilGone } from "../../infra/poll";
import type { Reaper } from "./reaper";

/** Environment operations other than deployments (refresh), queued in the same lane. */
export interface LaneOperations {
  next(environment: string): Promise<{ createdAt: string } | undefined>;
  run(environment: string): Promise<void>;
  pendingEnvironments(): Promise<string[]>;
}

export interface RecoveryDeps extends RunnerDeps {
  reaper: Reaper;
  runner: DeploymentRunner;
  environmentService: EnvironmentService;
  operations?: LaneOperations;
}

export class EnvironmentReconciler {
  /** Environments whose recovery comes before their next work (all at start, and each whose lease this replica takes). */
  private readonly unrecovered = new Set<string>();
  /** Environments the start-up recovery still waits for: readiness. */
  private readonly startup = new Set<string>();
  private readonly startedAt = new Date();
  private waiting: (() => void)[] = [];

  constructor(private readonly deps: RecoveryDeps) {}

  /** Stops engine processes a previous server left, and marks every environment for recovery. */
  async begin(): Promise<string[]> {
    const killed = this.deps.engine.killOrphanedProcesses();
    if (killed.length) this.deps.logger.warn({ pids: killed }, "stopped pulumi processes left by a previous server");
    // What those processes were writing when they stopped is mended before any stack is read, once they are gone.
    await gone(killed, 2000);
    const mended = this.deps.engine.mendInterruptedWrites?.() ?? [];
    if (mended.length) this.deps.logger.warn({ mended }, "mended state files an interrupted engine left half-written");
    const names = (await this.deps.environments.list()).map((e) => e.name);
    names.forEach((n) => {
      this.unrecovered.add(n);
      this.startup.add(n);
    });
    if (names.length === 0) this.settle();
    return names;
  }

  /** This replica took the environment's lease: recovery of what the last holder left comes first. */
  claimed(name: string): void {
    this.unrecovered.add(name);
  }

  /** Another replica works on the environment: it is not this replica's to recover. */
  heldElsewhere(name: string): void {
    this.markRecovered(name);
  }

  /** Environments with work waiting: creation, deletion, an unsettled or unrecorded traffic change, or deployments not yet ended. */
  async pending(): Promise<string[]> {
    const { environments, deployments } = this.deps;
    const names = new Set((await deployments.unfinished()).map((d) => d.environment));
    for (const name of (await this.deps.operations?.pendingEnvironments()) ?? []) names.add(name);
    for (const env of await environments.list()) {
      if (env.status === "creating" || env.status === "deleting" || env.trafficIntent || env.trafficUnrecorded) names.add(env.name);
    }
    return [...names];
  }

  get recovering(): boolean {
    return this.startup.size > 0;
  }

  /** Resolves when every environment has been recovered. */
  recovered(): Promise<void> {
    return this.recovering ? new Promise((resolve) => this.waiting.push(resolve)) : Promise.resolve();
  }

  /** Does an environment's next piece of work: recovery first, then creation or deletion, then the oldest deployment; when idle, recording direct traffic changes in the traffic stack. */
  async next(name: string): Promise<boolean> {
    const { environments, deployments, runner, environmentService, journal } = this.deps;
    const env = await environments.get(name);
    if (!env) {
      this.markRecovered(name);
      return false;
    }
    if (this.unrecovered.has(name)) {
      try {
        await this.recoverEnvironment(env);
      } finally {
        this.markRecovered(name);
      }
      return true;
    }
    if (env.status === "creating") {
      await environmentService.provision(name);
      return true;
    }
    if (env.status === "deleting") {
      await environmentService.destroy(name);
      return true;
    }
    const next = (await deployments.unfinished(name))[0];
    // Operations and queued deployments take turns in the order they were asked for; a started deployment finishes first.
    const operation = await this.deps.operations?.next(name);
    if (operation && (!next || (next.state === "queued" && operation.createdAt < next.createdAt))) {
      await this.deps.operations!.run(name);
      return true;
    }
    if (!next) {
      if (!env.trafficUnrecorded) return false;
      // Idle: the traffic stack's state catches up with the changes made on the balancer directly,
      // once no engine work waits for a slot (the poll for pending work comes back meanwhile).
      if (this.deps.engine.busy?.()) return false;
      await this.deps.traffic.record(env).catch((err) => this.deps.logger.warn({ environment: name, err: describeError(err) }, "could not record the traffic in the traffic stack"));
      return (await environments.get(name))?.trafficUnrecorded === undefined;
    }
    if (env.status === "failed" && next.state === "queued") {
      next.error = { code: "cancelled", message: `environment ${name} is failed: ${env.error?.message ?? "see its error"}` };
      await journal.finish(next, "cancelled", { reason: next.error.message });
      return true;
    }
    await runner.run(next.id);
    // A deployment the runner could not move on (a fault it logged) is left for the next start, not retried in a loop.
    const after = await deployments.get(next.id);
    return !after || after.suspended === true || after.state !== next.state || after.phase !== next.phase || after.updatedAt !== next.updatedAt;
  }

  private async recoverEnvironment(env: Environment): Promise<void> {
    const { engine, deployments, runner, logger } = this.deps;
    const log = logger.child({ environment: env.name });
    const interrupted = (await deployments.unfinished(env.name)).filter((d) => d.state !== "queued");
    if (!(interrupted.length > 0 || (await this.unsettled(env)))) return;
    // Announced before the stacks are repaired, which can take a while: recovery has begun.
    for (const d of interrupted.filter((i) => !i.suspended)) {
      await this.deps.journal.record(d, "deployment:recovering", { state: d.state, phase: d.phase });
    }
    let cleared = false;
    for (const stack of Object.values(stackNames(env.name))) {
      const repaired = await engine.repair(stack).catch((err) => {
        log.error({ stack, error: describeError(err) }, "could not repair stack");
        return undefined;
      });
      if (repaired?.cancelled || repaired?.pendingCleared) {
        cleared = true;
        log.warn({ stack, ...repaired }, "cleared an interrupted operation");
      }
    }
    // An operation was cut off (here, or on a replica whose lease this one took): what it half-made goes now.
    if (cleared) await this.deps.reaper.environment(env.name, this.deps.engine).catch((err) => log.error({ err: describeError(err) }, "could not remove what an interrupted operation left"));
    // A deployment a graceful shutdown suspended resumes as ordinary work afterwards; it may wait for a person.
    for (const d of interrupted.filter((i) => !i.suspended)) {
      log.warn({ deploymentId: d.id, phase: d.phase }, "bringing an interrupted deployment to an end");
      await runner.run(d.id);
    }
  }

  /**
   * Whether a crash may have left one of the environment's stacks locked or
   * with pending operations: when creation, deletion or a traffic change was
   * under way; otherwise, on a file backend, when a lock is there (the record
   * of direct traffic changes or a refresh was running), and elsewhere when
   * such work was waiting.
   */
  private async unsettled(env: Environment): Promise<boolean> {
    const { engine, operations } = this.deps;
    if (env.status === "creating" || env.status === "deleting" || env.trafficIntent !== undefined) return true;
    const stacks = Object.values(stackNames(env.name));
    const locked = await Promise.all(stacks.map((s) => engine.isLocked?.(s)));
    if (locked.every((l) => l !== undefined)) return locked.some(Boolean);
    return env.trafficUnrecorded !== undefined || (await operations?.next(env.name)) !== undefined;
  }

  private markRecovered(name: string): void {
    this.unrecovered.delete(name);
    if (this.startup.delete(name) && this.startup.size === 0) this.settle();
  }

  private settle(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
    void this.deps.reaper.all(this.deps.engine, this.startedAt).catch((err) => this.deps.logger.error({ err: describeError(err) }, "removing runtime leftovers failed"));
  }
}

/** Waits until none of the pids is a live process (or the time is up). */
async function gone(pids: number[], withinMs: number): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await pollUntilGone(() => pids.some(alive), withinMs);
}

// What runs over time once the service is wired: the start (each
// environment's recovery first, then the periodic loops), looking for work
// queued through another replica or left by one that died, pruning
// idempotency keys, and the graceful stop, which lets running deployments
// reach a safe point before everything closes in order.
import type { Logger } from "../logger";
import type { DeploymentRunner } from "../deployments/deployment-runner";
import type { EnvironmentWorkers } from "../lane/environment-workers";
import type { EnvironmentReconciler } from "../lane/recovery";

/** Something that runs on its own once started (the scheduler, flag ramps, the webhook dispatcher). */
export interface Loop {
  start(): void;
  stop(): Promise<void> | void;
}

export interface LifecycleParts {
  logger: Logger;
  runner: DeploymentRunner;
  workers: EnvironmentWorkers;
  reconciler: EnvironmentReconciler;
  workPollIntervalMs: number;
  prune: () => Promise<unknown>;
  /** Started once recovery has begun, stopped in reverse. */
  loops: Loop[];
  /** Closed in this order after the loops stop. */
  closing: (() => Promise<unknown> | unknown)[];
}

export class Lifecycle {
  private started = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly parts: LifecycleParts) {}

  /** Ready once started and every environment this replica holds is recovered. */
  readonly ready = (): boolean => this.started && !this.parts.reconciler.recovering;

  /** Starts every environment's worker, each beginning with the recovery of what a crash interrupted. */
  async start(): Promise<void> {
    const { logger, reconciler, workers, prune, loops } = this.parts;
    await prune();
    for (const name of await reconciler.begin()) workers.poke(name);
    this.started = true;
    this.every(this.parts.workPollIntervalMs, () =>
      reconciler.pending().then(
        (names) => names.forEach((name) => workers.poke(name)),
        (err) => logger.warn({ err: String(err) }, "looking for pending work failed"),
      ),
    );
    this.every(3600_000, prune);
    loops.forEach((loop) => loop.start());
    return reconciler.recovered();
  }

  /** Graceful stop: running deployments stop at a safe point (resumed at the next start), then everything closes. */
  async shutdown(graceMs: number): Promise<boolean> {
    this.parts.runner.suspendAll();
    const stopped = this.parts.workers.stop().then(() => true);
    const done = await Promise.race([stopped, new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())]);
    await this.close();
    return done;
  }

  async close(): Promise<void> {
    this.timers.splice(0).forEach((t) => clearInterval(t));
    for (const loop of [...this.parts.loops].reverse()) await loop.stop();
    for (const close of this.parts.closing) await close();
  }

  private every(ms: number, tick: () => Promise<unknown>): void {
    const timer = setInterval(() => void tick(), ms);
    timer.unref();
    this.timers.push(timer);
  }
}

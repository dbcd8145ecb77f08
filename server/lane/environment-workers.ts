// One worker per environment takes the environment's work one item at a
// time, in the journal's order: first what a previous run left unfinished,
// then creation or deletion, then queued deployments, oldest first.
// Nothing is queued in memory: a worker asks the journal what comes next,
// so a restart cannot reorder or lose work.
//
// A worker works only while it holds the environment's lease, so across
// every replica sharing the journal at most one works on an environment.
// It renews the lease while it works and releases it when idle; its writes
// carry the lease's fencing token.
import type { Logger } from "../logger";
import { runFenced } from "../deployments/fencing";
import type { Lease } from "../deployments/ports";
import { LaneActivity } from "./lane-activity";

/** Does the next piece of an environment's work; false when there is none. */
export type NextWork = (environment: string) => Promise<boolean>;

export interface WorkLeases {
  ttlMs: number;
  acquire(environment: string): Promise<Lease | undefined>;
  renew(lease: Lease): Promise<boolean>;
  release(lease: Lease): Promise<void>;
}

export interface WorkerHooks {
  /** The lease was taken: whatever the last holder left is to be recovered first. */
  acquired(environment: string): void;
  /** Another replica holds the lease. */
  heldElsewhere(environment: string): void;
  /** The lease was lost mid-work: stop the environment's work (its writes are refused anyway). */
  lost(environment: string): void;
  /**
   * Whether this replica can serve one more environment now. Where other
   * replicas share the journal, a replica whose engine is saturated takes
   * no new lease: the environment's work is left to a replica with room
   * (it finds it at its next poll), rather than queued behind this one's.
   */
  hasRoom?(): boolean;
}

export class EnvironmentWorkers {
  private readonly loops = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private stopping = false;

  constructor(
    private readonly next: NextWork,
    private readonly leases: WorkLeases,
    private readonly hooks: WorkerHooks,
    private readonly logger: Logger,
    /** Where work is rung in and the lane's activity is shown (a lane of its own when none is given). */
    readonly activity: LaneActivity = new LaneActivity(),
  ) {
    activity.onRecorded((environment) => this.poke(environment));
  }

  /** Tells an environment's worker there may be work; starts it if it is idle. */
  poke(environment: string): void {
    if (this.stopping) return;
    if (this.loops.has(environment)) {
      this.again.add(environment);
      return;
    }
    this.again.delete(environment);
    this.activity.began(environment);
    const loop = this.loop(environment).finally(() => {
      this.loops.delete(environment);
      this.activity.ended(environment);
      // A poke that came while the worker was letting go (releasing its lease) is not lost.
      if (this.again.has(environment)) this.poke(environment);
    });
    this.loops.set(environment, loop);
  }

  /** Resolves once the environment's worker has nothing left to do. */
  async idle(environment: string): Promise<void> {
    while (this.loops.has(environment)) await this.loops.get(environment);
  }

  /** Takes no new work; resolves when every worker stopped (running work is asked to stop elsewhere). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.loops.values()]);
  }

  private async loop(environment: string): Promise<void> {
    if (this.hooks.hasRoom && !this.hooks.hasRoom()) {
      this.logger.debug({ environment }, "the engine is saturated: the environment's work is left to a replica with room");
      this.hooks.heldElsewhere(environment);
      return;
    }
    const lease = await this.leases.acquire(environment).catch((err) => {
      this.logger.warn({ environment, err: String(err) }, "could not take the environment's lease");
      return undefined;
    });
    if (!lease) {
      this.hooks.heldElsewhere(environment);
      return;
    }
    this.hooks.acquired(environment);
    let lost = false;
    let renewedAt = Date.now();
    const heartbeat = setInterval(() => {
      void this.leases.renew(lease).then(
        (held) => {
          if (held) renewedAt = Date.now();
          else markLost("another replica holds it now");
        },
        (err) => {
          if (Date.now() - renewedAt > this.leases.ttlMs) markLost(`renewing failed for longer than the lease lasts: ${String(err)}`);
        },
      );
    }, Math.max(100, Math.floor(this.leases.ttlMs / 3)));
    heartbeat.unref();
    const markLost = (why: string) => {
      if (lost) return;
      lost = true;
      clearInterval(heartbeat);
      this.logger.error({ environment, leaseToken: lease.token, why }, "lost the environment's lease: stopping its work");
      this.hooks.lost(environment);
    };
    try {
      for (;;) {
        this.again.delete(environment);
        let worked = false;
        try {
          worked = await runFenced({ environment, token: lease.token }, () => this.next(environment));
        } catch (err) {
          this.logger.error({ environment, err }, "environment work failed");
        }
        if (this.stopping || lost) return;
        if (!worked && !this.again.has(environment)) return;
      }
    } finally {
      clearInterval(heartbeat);
      if (!lost) await this.leases.release(lease).catch(() => undefined);
    }
  }
}

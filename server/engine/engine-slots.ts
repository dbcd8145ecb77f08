// A bound on the engine work one replica runs at once, with a fair queue.
// Each Pulumi operation starts a CLI and provider processes; run without a
// bound, ten of them leave the API no CPU. Waiting operations are served by
// priority first (traffic changes and destroys, which is what a rollback
// and a retirement do, go before new fleets), then round-robin across
// environments, so one environment's burst cannot starve another.

export type SlotPriority = "urgent" | "normal";

export interface SlotWait {
  /** How many operations are ahead of this one. */
  position: number;
  /** How many run now (the bound is reached). */
  running: number;
  limit: number;
}

interface Waiter {
  environment: string;
  priority: SlotPriority;
  seq: number;
  since: number;
  grant: () => void;
}

/** Where an environment's next engine operation stands in the queue. */
export interface EnvironmentWait extends SlotWait {
  priority: SlotPriority;
  /** Since when it waits (epoch ms). */
  since: number;
}

export class EngineSlots {
  private running = 0;
  private seq = 0;
  private readonly waiting: Waiter[] = [];
  /** The environment served last at each priority, for round-robin. */
  private readonly lastServed = new Map<SlotPriority, string>();

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`an engine slot limit must be a positive integer, not ${limit}`);
  }

  /**
   * Waits for a slot; `onWait` is told where the operation stands when it
   * has to wait. Resolves with the release function. An abort while
   * waiting leaves the queue and rejects with the signal's reason.
   */
  acquire(environment: string, priority: SlotPriority, opts: { signal?: AbortSignal; onWait?: (w: SlotWait) => void } = {}): Promise<() => void> {
    if (opts.signal?.aborted) return Promise.reject(abortReason(opts.signal));
    if (this.running < this.limit && this.waiting.length === 0) {
      this.running++;
      this.lastServed.set(priority, environment);
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        environment,
        priority,
        seq: this.seq++,
        since: Date.now(),
        grant: () => {
          opts.signal?.removeEventListener("abort", onAbort);
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortReason(opts.signal!));
      };
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
      opts.onWait?.({ position: this.order().indexOf(waiter), running: this.running, limit: this.limit });
    });
  }

  /** The environment's first waiting operation and its place in the queue; undefined when none waits. */
  waitOf(environment: string): EnvironmentWait | undefined {
    const order = this.order();
    const position = order.findIndex((w) => w.environment === environment);
    if (position < 0) return undefined;
    const w = order[position];
    return { position, running: this.running, limit: this.limit, priority: w.priority, since: w.since };
  }

  /** Operations running and waiting now. */
  get load(): { running: number; waiting: number; limit: number } {
    return { running: this.running, waiting: this.waiting.length, limit: this.limit };
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.dispatch();
    };
  }

  private dispatch(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      const next = this.order()[0];
      this.waiting.splice(this.waiting.indexOf(next), 1);
      this.lastServed.set(next.priority, next.environment);
      this.running++;
      next.grant();
    }
  }

  /** The waiting operations in the order they will be served. */
  private order(): Waiter[] {
    const out: Waiter[] = [];
    for (const priority of ["urgent", "normal"] as const) {
      const byEnvironment = new Map<string, Waiter[]>();
      for (const w of this.waiting.filter((x) => x.priority === priority).sort((a, b) => a.seq - b.seq)) {
        byEnvironment.set(w.environment, [...(byEnvironment.get(w.environment) ?? []), w]);
      }
      // Round-robin: each environment's oldest operation in turn, beginning after the environment served last.
      const last = this.lastServed.get(priority);
      const names = [...byEnvironment.keys()].sort();
      const rotated = last === undefined ? names : [...names.filter((e) => e > last), ...names.filter((e) => e <= last)];
      for (let round = 0; ; round++) {
        const turn = rotated.map((e) => byEnvironment.get(e)![round]).filter((w): w is Waiter => w !== undefined);
        if (turn.length === 0) break;
        out.push(...turn);
      }
    }
    return out;
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("the operation was aborted while it waited for an engine slot");
}

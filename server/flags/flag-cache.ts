// Each environment's flags, held in memory so an evaluation does no I/O.
// A change drops the environment's entry (here at once, on other replicas
// through the store's notifications). While notifications cannot be
// trusted (a Postgres listener not yet connected, or reconnecting) every
// read goes to the store, so a kill switch is never missed.
import type { Flag } from "./flag-model";

const MAX_ENVIRONMENTS = 10_000;

export interface FlagSnapshot {
  environment: string;
  flags: Map<string, Flag>;
  /** The same flags in key order, as bulk evaluation answers them. */
  sorted: Flag[];
}

export class FlagCache {
  private readonly entries = new Map<string, FlagSnapshot>();
  private readonly loading = new Map<string, Promise<FlagSnapshot>>();
  /** Bumped by every invalidation, so a load that began before a change never stores what it read. */
  private generation = 0;
  private trusted: boolean;

  constructor(
    private readonly load: (environment: string) => Promise<Flag[]>,
    opts: { trusted: boolean },
  ) {
    this.trusted = opts.trusted;
  }

  /** The environment's flags: from memory when warm, else read once however many callers wait. */
  snapshot(environment: string): FlagSnapshot | Promise<FlagSnapshot> {
    if (this.trusted) {
      const hit = this.entries.get(environment);
      if (hit) return hit;
    }
    const pending = this.loading.get(environment);
    if (pending) return pending;
    const generation = this.generation;
    const promise = this.load(environment)
      .then((flags) => {
        const sorted = [...flags].sort((a, b) => (a.key < b.key ? -1 : 1));
        const snap: FlagSnapshot = { environment, flags: new Map(sorted.map((f) => [f.key, f])), sorted };
        if (this.trusted && generation === this.generation) {
          // Bounded: a caller naming endless environments cannot grow it without limit.
          if (this.entries.size >= MAX_ENVIRONMENTS) this.entries.clear();
          this.entries.set(environment, snap);
        }
        return snap;
      })
      .finally(() => {
        if (this.loading.get(environment) === promise) this.loading.delete(environment);
      });
    this.loading.set(environment, promise);
    return promise;
  }

  invalidate(environment: string): void {
    this.generation += 1;
    this.entries.delete(environment);
    this.loading.delete(environment);
  }

  /** Notifications are flowing (true) or may have been missed (false): either way nothing cached survives. */
  setTrusted(trusted: boolean): void {
    this.trusted = trusted;
    this.generation += 1;
    this.entries.clear();
    this.loading.clear();
  }
}

// One worker per environment takes the environment's work one item at a
// time, in the journal's order: first what a previous run of the server
// left unfinished, then creation or deletion, then queued deployments,
// oldest first. Nothing is queued in memory: a worker asks the journal
// what comes next, so a restart cannot reorder or lose work.
import type { Logger } from "../logger";

/** Does the next piece of an environment's work; false when there is none. */
export type NextWork = (environment: string) => Promise<boolean>;

export class EnvironmentWorkers {
  private readonly loops = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private stopping = false;

  constructor(
    private readonly next: NextWork,
    private readonly logger: Logger,
  ) {}

  /** Tells an environment's worker there may be work; starts it if it is idle. */
  poke(environment: string): void {
    if (this.stopping) return;
    if (this.loops.has(environment)) {
      this.again.add(environment);
      return;
    }
    const loop = this.loop(environment).finally(() => this.loops.delete(environment));
    this.loops.set(environment, loop);
  }

  busy(environment: string): boolean {
    return this.loops.has(environment);
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
    for (;;) {
      this.again.delete(environment);
      let worked = false;
      try {
        worked = await this.next(environment);
      } catch (err) {
        this.logger.error({ environment, err }, "environment work failed");
      }
      if (this.stopping) return;
      if (!worked && !this.again.has(environment)) return;
    }
  }
}

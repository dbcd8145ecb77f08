// The one periodic loop: a pass every interval, one pass at a time, and a
// kick that asks for a pass now (after a change) instead of at the next
// interval. The scheduler, flag ramps and the webhook dispatcher run on it.

export interface TickerOptions {
  intervalMs: number;
  /** Told of a pass that failed; the next interval tries again. */
  onError: (err: unknown) => void;
}

export class Ticker {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly options: TickerOptions,
  ) {}

  /** Passes every interval from now on (the timer keeps no process alive). */
  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  /** A pass now; when one is under way, another right after it, so a change made during a pass is seen. */
  kick(): void {
    if (this.running) this.again = true;
    else this.tick();
  }

  /** Stops the interval and waits for the pass under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** A pass unless one is under way. */
  private tick(): void {
    if (this.stopped || this.running) return;
    this.running = this.pass()
      .catch((err) => this.options.onError(err))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.tick();
        }
      });
  }
}

// In-memory controls of a running deployment: abort, pause/resume, and
// promote, with the waits the state machine blocks on.
export class AbortedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "AbortedError";
  }
}

export class DeploymentControl {
  readonly abortController = new AbortController();
  pauseRequested = false;
  /** True while the deployment sits in a pause or bake that promote can end. */
  promotable = false;
  private wake?: () => void;
  private promoted = false;

  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  get aborted(): boolean {
    return this.signal.aborted;
  }

  abort(reason: string): void {
    if (!this.aborted) this.abortController.abort(new AbortedError(reason));
    this.wake?.();
  }

  promote(): void {
    this.promoted = true;
    this.wake?.();
  }

  resume(): void {
    this.pauseRequested = false;
    this.wake?.();
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.signal.reason as AbortedError;
  }

  /** Opens a promotable wait; a promote from before it does not count. */
  beginPromotable(): void {
    this.promoted = false;
    this.promotable = true;
  }

  endPromotable(): void {
    this.promotable = false;
    this.promoted = false;
  }

  /**
   * Waits for `ms` (or for ever when undefined), ending early on promote or
   * when `until` holds. Throws on abort. Returns how the wait ended.
   */
  async wait(ms: number | undefined, until: () => boolean = () => false): Promise<"elapsed" | "promoted" | "condition"> {
    const deadline = ms === undefined ? Infinity : Date.now() + ms;
    for (;;) {
      this.throwIfAborted();
      if (this.promoted) {
        this.promoted = false;
        return "promoted";
      }
      if (until()) return "condition";
      const left = deadline - Date.now();
      if (left <= 0) return "elapsed";
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}

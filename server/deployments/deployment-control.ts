import type { Actor } from "./model";
import type { DeploymentRequest } from "./ports";

/** A person's answer at a manual gate. */
export interface GateDecision {
  approved: boolean;
  by?: Actor;
  reason?: string;
}

// In-memory controls of a running deployment: abort, pause/resume, promote,
// suspend (graceful shutdown), and the deadline, with the waits the state
// machine blocks on.
export class AbortedError extends Error {
  constructor(
    readonly reason: string,
    readonly code: "aborted" | "timed_out" = "aborted",
  ) {
    super(reason);
    this.name = "AbortedError";
  }
}

/** Thrown out of a wait when a graceful shutdown asks the deployment to stop at a safe point. */
export class SuspendedSignal extends Error {
  constructor() {
    super("suspended for shutdown");
    this.name = "SuspendedSignal";
  }
}

export class DeploymentControl {
  readonly abortController = new AbortController();
  pauseRequested = false;
  suspendRequested = false;
  /** True while the deployment sits in a pause or bake that promote can end. */
  promotable = false;
  /** Decisions at manual gates, by gate name, until the gate takes them. */
  readonly decisions = new Map<string, GateDecision>();
  private wake?: () => void;
  private promoted = false;
  private deadline?: { timer?: NodeJS.Timeout; leftMs: number; startedAt: number };

  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  get aborted(): boolean {
    return this.signal.aborted;
  }

  abort(reason: string, code: AbortedError["code"] = "aborted"): void {
    if (!this.aborted) this.abortController.abort(new AbortedError(reason, code));
    this.wake?.();
  }

  promote(): void {
    this.promoted = true;
    this.wake?.();
  }

  decide(gate: string, decision: GateDecision): void {
    this.decisions.set(gate, decision);
    this.wake?.();
  }

  resume(): void {
    this.pauseRequested = false;
    this.wake?.();
  }

  suspend(): void {
    this.suspendRequested = true;
    this.wake?.();
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.signal.reason as AbortedError;
  }

  /**
   * Starts the deadline of the deployment's own work. Time spent in waits
   * the strategy or a person asks for (pauses, bake) does not count.
   */
  startDeadline(ms: number): void {
    this.deadline = { leftMs: ms, startedAt: Date.now() };
    this.runDeadline();
  }

  /** Stops the deadline clock for a wait. */
  holdDeadline(): void {
    const d = this.deadline;
    if (!d?.timer) return;
    clearTimeout(d.timer);
    d.timer = undefined;
    d.leftMs -= Date.now() - d.startedAt;
  }

  /** Restarts the deadline clock after a wait. */
  releaseDeadline(): void {
    if (this.deadline && !this.deadline.timer) this.runDeadline();
  }

  /** Ends the deadline for good (retiring and rolling back must run to their end). */
  clearDeadline(): void {
    if (this.deadline?.timer) clearTimeout(this.deadline.timer);
    this.deadline = undefined;
  }

  private runDeadline(): void {
    const d = this.deadline!;
    d.startedAt = Date.now();
    const limitS = Math.round(d.leftMs / 1000);
    d.timer = setTimeout(() => this.abort(`the deployment passed its deadline (operationTimeout, ${limitS}s of work left)`, "timed_out"), Math.max(0, d.leftMs));
    d.timer.unref();
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
   * Waits until `deadlineAt` (for ever when undefined), ending early on
   * promote or when `until` holds. Throws on abort, and on suspend when
   * `suspendable`. The deployment's deadline does not run meanwhile.
   */
  async wait(
    deadlineAt: number | undefined,
    until: () => boolean = () => false,
    suspendable = true,
  ): Promise<"elapsed" | "promoted" | "condition"> {
    this.holdDeadline();
    try {
      for (;;) {
        this.throwIfAborted();
        if (suspendable && this.suspendRequested) throw new SuspendedSignal();
        if (this.promoted) {
          this.promoted = false;
          return "promoted";
        }
        if (until()) return "condition";
        const left = (deadlineAt ?? Infinity) - Date.now();
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
    } finally {
      this.releaseDeadline();
    }
  }

  /** Takes a request made through the API (on this replica or another). */
  apply(r: DeploymentRequest): void {
    switch (r.action) {
      case "promote":
        if (this.pauseRequested) this.resume();
        else this.promote();
        return;
      case "pause":
        this.pauseRequested = true;
        return;
      case "resume":
        this.resume();
        return;
      case "abort":
        this.abort(r.reason ?? "aborted by request");
        return;
      case "approve":
      case "reject":
        if (r.gate) this.decide(r.gate, { approved: r.action === "approve", by: r.by, reason: r.reason });
    }
  }
}

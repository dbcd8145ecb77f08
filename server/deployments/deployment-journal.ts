// Records what happens to deployments: every change is checked against the
// state table, saved, and appended as an event before anyone is told.
// `finish` is the one way a deployment ends, whatever path got it there.
import type { DeploymentRepository } from "./ports";
import type { DomainEventBus } from "./deployment-events";
import { checkTransition, isTerminal } from "./deployment-states";
import type { Deployment, DeploymentState, Phase } from "./model";

export type Outcome = Extract<DeploymentState, "succeeded" | "rolled_back" | "failed" | "cancelled">;

const OUTCOME_EVENT: Record<Outcome, string> = {
  succeeded: "deployment:succeeded",
  rolled_back: "deployment:rolled_back",
  failed: "deployment:failed",
  cancelled: "deployment:cancelled",
};

export class DeploymentJournal {
  private readonly phaseStarted = new Map<string, number>();

  constructor(
    private readonly store: DeploymentRepository,
    private readonly bus: DomainEventBus,
  ) {}

  record(d: Deployment, type: string, data: Record<string, unknown> = {}): void {
    const event = this.store.appendEvent({ deploymentId: d.id, environment: d.environment, type, at: new Date().toISOString(), data });
    this.bus.emit("deployment:event", event);
  }

  /** Saves fields that are not part of the state machine (step, waits, flags). */
  save(d: Deployment): Deployment {
    this.store.save(d);
    return d;
  }

  /** Moves a deployment to a new state and/or phase, as the state table allows, and records it. */
  move(d: Deployment, to: { state?: DeploymentState; phase?: Phase }, data: Record<string, unknown> = {}): void {
    const next = { state: to.state ?? d.state, phase: to.phase ?? d.phase };
    checkTransition({ state: d.state, phase: d.phase }, next);
    const previous = d.phase;
    d.state = next.state;
    d.phase = next.phase;
    this.store.save(d);
    if (next.phase === previous) return;
    const now = Date.now();
    const since = this.phaseStarted.get(d.id) ?? now;
    this.phaseStarted.set(d.id, now);
    this.record(d, "deployment:phase", { phase: next.phase, previous, state: d.state, ...data });
    this.bus.emit("deployment:phase", { deployment: d, phase: next.phase, previous, secondsInPrevious: (now - since) / 1000 });
    if (next.phase === "done") this.phaseStarted.delete(d.id);
  }

  /** Ends a deployment: the terminal state, its time, its event, and the notice listeners (metrics, streams) wait for. */
  finish(d: Deployment, outcome: Outcome, data: Record<string, unknown> = {}): void {
    if (isTerminal(d.state)) return;
    d.finishedAt = new Date().toISOString();
    d.pausedBy = undefined;
    d.waitUntil = undefined;
    d.suspended = undefined;
    this.move(d, { state: outcome, phase: "done" });
    this.record(d, OUTCOME_EVENT[outcome], { ...data, ...(d.error ? { error: d.error } : {}) });
    this.bus.emit("deployment:finished", d);
  }
}

// Records what happens to deployments: every change is checked against the
// state table, saved, and appended as an event before anyone is told.
// `finish` is the one way a deployment ends, whatever path got it there.
import type { DeploymentRepository } from "./ports";
import type { DomainEventBus } from "./deployment-events";
import { checkTransition, isTerminal } from "./deployment-states";
import { outcomeEvent, type JournalEventType } from "./journal-events";
import type { Deployment, DeploymentState, Phase } from "./model";

export type Outcome = Extract<DeploymentState, "succeeded" | "rolled_back" | "failed" | "cancelled">;


export class DeploymentJournal {
  private readonly phaseStarted = new Map<string, number>();
  /** Writes of one deployment go to the store in the order they were made. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: DeploymentRepository,
    private readonly bus: DomainEventBus,
  ) {}

  record(d: Deployment, type: JournalEventType, data: Record<string, unknown> = {}): Promise<void> {
    return this.serial(d.id, () => this.append(d, type, data));
  }

  /** Saves fields that are not part of the state machine (step, waits, flags). */
  save(d: Deployment): Promise<Deployment> {
    return this.serial(d.id, async () => {
      await this.store.save(d);
      return d;
    });
  }

  /**
   * Holds the deployment for someone (a person's pause, a manual step, a
   * gate, an inconclusive analysis): it is paused, and says by what. A
   * hold's reason lives only while the deployment is paused: any move to
   * another state ends it.
   */
  hold(d: Deployment, by: NonNullable<Deployment["pausedBy"]>): Promise<void> {
    d.pausedBy = by;
    return d.state === "paused" ? this.save(d).then(() => undefined) : this.move(d, { state: "paused" });
  }

  /** Ends a hold: the deployment runs again. */
  release(d: Deployment): Promise<void> {
    if (d.state === "paused") return this.move(d, { state: "running" });
    d.pausedBy = undefined;
    return this.save(d).then(() => undefined);
  }

  /** Moves a deployment to a new state and/or phase, as the state table allows, and records it. */
  move(d: Deployment, to: { state?: DeploymentState; phase?: Phase }, data: Record<string, unknown> = {}): Promise<void> {
    // Checked at once, so an illegal move throws where it was asked for.
    checkTransition({ state: d.state, phase: d.phase }, { state: to.state ?? d.state, phase: to.phase ?? d.phase });
    return this.serial(d.id, () => this.apply(d, to, data));
  }

  /** Ends a deployment: the terminal state, its time, its event, and the notice listeners (metrics, streams) wait for. */
  finish(d: Deployment, outcome: Outcome, data: Record<string, unknown> = {}): Promise<void> {
    return this.serial(d.id, async () => {
      if (isTerminal(d.state)) return;
      d.finishedAt = new Date().toISOString();
      d.waitUntil = undefined;
      d.suspended = undefined;
      // The terminal state and its outcome event are one write: whoever sees the one sees the other.
      await this.apply(d, { state: outcome, phase: "done" }, {}, { type: outcomeEvent(outcome), data: { ...data, ...(d.error ? { error: d.error } : {}) } });
      this.bus.emit("deployment:finished", d);
    });
  }

  private async append(d: Deployment, type: JournalEventType, data: Record<string, unknown>): Promise<void> {
    const event = await this.store.appendEvent({ deploymentId: d.id, environment: d.environment, type, at: new Date().toISOString(), data });
    this.bus.emit("deployment:event", event);
  }

  private async apply(
    d: Deployment,
    to: { state?: DeploymentState; phase?: Phase },
    data: Record<string, unknown>,
    outcome?: { type: JournalEventType; data: Record<string, unknown> },
  ): Promise<void> {
    const next = { state: to.state ?? d.state, phase: to.phase ?? d.phase };
    checkTransition({ state: d.state, phase: d.phase }, next);
    const previous = d.phase;
    d.state = next.state;
    d.phase = next.phase;
    if (d.state !== "paused") d.pausedBy = undefined;
    const at = new Date().toISOString();
    const event = (type: JournalEventType, body: Record<string, unknown>) => ({ deploymentId: d.id, environment: d.environment, type, at, data: body });
    const phaseChanged = next.phase !== previous;
    const events = [
      ...(phaseChanged ? [event("deployment:phase", { phase: next.phase, previous, state: d.state, ...data })] : []),
      ...(outcome ? [event(outcome.type, outcome.data)] : []),
    ];
    const stored = await this.store.saveWithEvents(d, events);
    if (phaseChanged) {
      const now = Date.now();
      const since = this.phaseStarted.get(d.id) ?? now;
      this.phaseStarted.set(d.id, now);
      this.bus.emit("deployment:event", stored[0]);
      this.bus.emit("deployment:phase", { deployment: d, phase: next.phase, previous, secondsInPrevious: (now - since) / 1000 });
      if (next.phase === "done") this.phaseStarted.delete(d.id);
    }
    if (outcome) this.bus.emit("deployment:event", stored[stored.length - 1]);
  }

  private serial<T>(id: string, write: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(id) ?? Promise.resolve()).then(write);
    const tail = result.catch(() => undefined);
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return result;
  }
}

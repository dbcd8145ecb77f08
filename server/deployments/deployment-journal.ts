// Records what happens to deployments: every state change is saved and
// appended as an event before anyone is told about it.
import type { DeploymentStore } from "../store/deployment-store";
import type { DomainEventBus } from "./deployment-events";
import type { Deployment, Phase } from "./model";
import { isTerminal } from "./model";

export class DeploymentJournal {
  private readonly phaseStarted = new Map<string, number>();

  constructor(
    private readonly store: DeploymentStore,
    private readonly bus: DomainEventBus,
  ) {}

  record(d: Deployment, type: string, data: Record<string, unknown> = {}): void {
    const event = this.store.appendEvent({ deploymentId: d.id, environment: d.environment, type, at: new Date().toISOString(), data });
    this.bus.emit("deployment:event", event);
  }

  save(d: Deployment): Deployment {
    this.store.save(d);
    if (isTerminal(d.state)) this.bus.emit("deployment:finished", d);
    return d;
  }

  /** Moves a deployment to a phase, saving it and recording the change. */
  phase(d: Deployment, phase: Phase, data: Record<string, unknown> = {}): void {
    const previous = d.phase;
    const now = Date.now();
    const since = this.phaseStarted.get(d.id) ?? now;
    this.phaseStarted.set(d.id, now);
    d.phase = phase;
    this.save(d);
    this.record(d, "deployment:phase", { phase, previous, state: d.state, ...data });
    this.bus.emit("deployment:phase", { deployment: d, phase, previous, secondsInPrevious: (now - since) / 1000 });
    if (phase === "done") this.phaseStarted.delete(d.id);
  }
}

// Typed, namespaced events of the deployment domain. The journal records
// them; metrics and live event streams listen to them.
import { EventEmitter } from "node:events";
import type { Color, Deployment, DeploymentEvent, Environment, Phase } from "./model";

export interface DomainEvents {
  "deployment:event": [DeploymentEvent];
  /** Another replica journaled events of this deployment: read them from the journal. */
  "deployment:journaled_elsewhere": [{ deploymentId: string }];
  "deployment:phase": [{ deployment: Deployment; phase: Phase; previous: Phase; secondsInPrevious: number }];
  "deployment:finished": [Deployment];
  "environment:weights": [{ environment: string; weights: Record<Color, number> }];
  "environment:removed": [Environment];
  /** A refresh found the target differs from what Cutover recorded. */
  "environment:drifted": [{ environment: string; drift: { kind: string; message: string }[]; at: string }];
  /** An environment went into maintenance, changed it, or came out of it. */
  "environment:maintenance": [{ environment: string; on: boolean; mode?: string; since?: string; by?: { kind: string; name: string }; at: string }];
  /** An environment operation (a refresh, a maintenance change) ended. */
  "operation:finished": [{ id: string; environment: string; state: string; error?: { code: string; message: string } }];
  /** A scheduled run ended (succeeded, failed, missed or skipped). */
  "schedule:run_finished": [{ scheduleId: string; runId: string; environment: string; kind: string; state: string; error?: { code: string; message: string } }];
  /** A release was recorded (what it is, never its secret values). */
  /** An environment's flags changed (here, or on another replica): live views read them again. */
  "flag:changed": [{ environment: string }];
  "release:created": [{ id: string; version: string; digest: string; provenance: Record<string, unknown>; createdBy: { kind: string; name: string }; scope?: string[]; at: string }];
  /** Automatic promotion into a stage stopped: someone promoted an older release there by hand. */
  /** A release became eligible for a `manual` stage: someone may promote it now (said once per stage and release). */
  "promotion:eligible": [{ pipeline: string; stage: string; from: string; release: { id: string; version: string; digest: string }; reason: string; at: string }];
  "promotion:held": [{ pipeline: string; stage: string; release: { id: string; version: string }; by: { kind: string; name: string }; at: string }];
}

export class DomainEventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof DomainEvents>(name: K, listener: (...args: DomainEvents[K]) => void): () => void {
    this.emitter.on(name, listener as (...args: unknown[]) => void);
    return () => this.emitter.off(name, listener as (...args: unknown[]) => void);
  }

  emit<K extends keyof DomainEvents>(name: K, ...args: DomainEvents[K]): void {
    this.emitter.emit(name, ...args);
  }
}

// What the deployment domain needs from storage, declared by the domain.
// The journal's adapters (SQLite, PostgreSQL) implement these; nothing in
// the domain names them.
import type { Actor, Deployment, DeploymentEvent, DeploymentState, Environment } from "./model";
import type { EnvironmentChange } from "./environment-changes";

export interface EnvironmentRepository {
  get(name: string): Promise<Environment | undefined>;
  list(): Promise<Environment[]>;
  /** Environments ready or failed whose `ttl` has run out by `now`. */
  expired(now: Date): Promise<Environment[]>;
  /** Which of the names are environments (none asked, none read). */
  existing(names: string[]): Promise<Set<string>>;
  /** Inserts a new environment; false when the name is taken. */
  insert(env: Environment): Promise<boolean>;
  /** Applies one named transition to the stored environment atomically and returns the result. */
  update(name: string, change: EnvironmentChange): Promise<Environment>;
  remove(name: string): Promise<void>;
}

export interface DeploymentRepository {
  insert(d: Deployment): Promise<void>;
  save(d: Deployment): Promise<Deployment>;
  /** Saves the deployment and appends its events atomically, returning them as stored. */
  saveWithEvents(d: Deployment, events: Omit<DeploymentEvent, "id">[]): Promise<DeploymentEvent[]>;
  get(id: string): Promise<Deployment | undefined>;
  forEnvironment(environment: string, limit?: number): Promise<Deployment[]>;
  /** Deployments not yet at an end, oldest first. */
  unfinished(environment?: string): Promise<Deployment[]>;
  list(opts: { environment?: string; state?: DeploymentState; limit: number }): Promise<Deployment[]>;
  appendEvent(e: Omit<DeploymentEvent, "id">): Promise<DeploymentEvent>;
  events(deploymentId: string, afterId?: number, limit?: number): Promise<DeploymentEvent[]>;
  /** How many deployments the journal holds in each state (every replica's). */
  countByState(): Promise<Partial<Record<DeploymentState, number>>>;
}

/** Seals and opens secret values; the journal only ever holds sealed ones. */
export interface SecretSealer {
  seal(plain: string): string;
  open(sealed: string): string;
}

/** An environment's lease: at most one replica does an environment's work at a time. */
export interface Lease {
  environment: string;
  holder: string;
  /** Grows with every new holder; writes carry it (see fencing.ts). */
  token: number;
}

export interface LeaseRepository {
  /** Takes the lease if it is free, expired, or already this holder's; undefined when another replica holds it. */
  acquire(environment: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
  /** Extends a held lease; false when it was lost. */
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  release(lease: Lease): Promise<void>;
  current(environment: string): Promise<(Lease & { expiresAt: number }) | undefined>;
}

export type DeploymentAction = "promote" | "pause" | "resume" | "abort" | "approve" | "reject";

/** A caller's request to a running deployment, for whichever replica runs it. */
export interface DeploymentRequest {
  deploymentId: string;
  action: DeploymentAction;
  reason?: string;
  /** The gate an approve or reject answers. */
  gate?: string;
  by?: Actor;
}

export interface DeploymentRequestRepository {
  add(request: DeploymentRequest): Promise<void>;
  /** Removes and returns the deployment's requests, oldest first. */
  take(deploymentId: string): Promise<DeploymentRequest[]>;
}

/** Where an environment's next engine operation waits for one of the replica's engine slots. */
export interface EngineWait {
  /** Operations ahead of it. */
  position: number;
  running: number;
  limit: number;
  /** `urgent`: a rollback, retirement or traffic change, served before new fleets. */
  priority: "urgent" | "normal";
  since: number;
}

/** The replica's engine queue, as the domain asks it. */
export type EngineQueue = (environment: string) => EngineWait | undefined;

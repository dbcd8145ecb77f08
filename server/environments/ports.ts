// Environment operations other than deployments (refresh, maintenance), as the domain
// sees them, with the storage they need.
import type { Actor, RecordedDrift } from "../deployments/model";

export type OperationState = "queued" | "running" | "succeeded" | "failed";

/** Environment work other than a deployment, queued in the environment's lane. */
export interface Operation {
  id: string;
  environment: string;
  kind: "refresh" | "maintenance";
  state: OperationState;
  /** A refresh's: what drift leads to. */
  onDrift?: "report" | "repave";
  /** A maintenance change's: on (and how), or off. */
  maintenance?: MaintenanceRequest;
  requestedBy?: Actor;
  /** What the refresh found. */
  drift?: RecordedDrift["items"];
  /** A repave the drift led to. */
  repaveDeploymentId?: string;
  error?: { code: string; message: string };
  createdAt: string;
  updatedAt: string;
}

export interface MaintenanceRequest {
  on: boolean;
  mode: "page" | "hold";
  retryAfterSeconds: number;
  holdTimeoutMs: number;
  message?: string;
}

export interface OperationRepository {
  insert(op: Operation): Promise<void>;
  get(id: string): Promise<Operation | undefined>;
  save(op: Operation): Promise<void>;
  /** The environment's oldest operation not yet ended. */
  next(environment: string): Promise<Operation | undefined>;
  /** Environments with operations not yet ended. */
  pendingEnvironments(): Promise<string[]>;
  /** Fails the environment's operations not yet ended (it is gone); returns them. */
  failPending(environment: string, error: { code: string; message: string }): Promise<Operation[]>;
}

// What the deployment domain needs from storage, declared by the domain.
// The SQLite store implements these; nothing in the domain names it.
import type { Deployment, DeploymentEvent, DeploymentState, Environment } from "./model";

export interface EnvironmentRepository {
  get(name: string): Environment | undefined;
  list(): Environment[];
  /** Inserts a new environment; false when the name is taken. */
  insert(env: Environment): boolean;
  /** Applies a change to the stored environment and returns the result. */
  update(name: string, change: (env: Environment) => void): Environment;
  remove(name: string): void;
}

export interface DeploymentRepository {
  insert(d: Deployment): void;
  save(d: Deployment): Deployment;
  get(id: string): Deployment | undefined;
  forEnvironment(environment: string, limit?: number): Deployment[];
  /** Deployments not yet at an end, oldest first. */
  unfinished(environment?: string): Deployment[];
  list(opts: { environment?: string; state?: DeploymentState; limit: number }): Deployment[];
  appendEvent(e: Omit<DeploymentEvent, "id">): DeploymentEvent;
  events(deploymentId: string, afterId?: number, limit?: number): DeploymentEvent[];
}

/** Seals and opens secret values; the journal only ever holds sealed ones. */
export interface SecretSealer {
  seal(plain: string): string;
  open(sealed: string): string;
}

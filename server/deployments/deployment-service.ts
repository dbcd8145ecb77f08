// Deployments as callers see them: queue one, follow it, steer it.
import { randomBytes } from "node:crypto";
import { ConflictError, NotFoundError } from "../errors";
import type { DeploymentJournal } from "./deployment-journal";
import type { DeploymentRunner } from "./deployment-runner";
import type { TargetRegistry } from "../targets/target-registry";
import { isTerminal } from "./deployment-states";
import { artifactFor, hasSecrets, sealArtifact, stepsOf, type Actor, type ArtifactInput, type Deployment, type DeploymentKind, type Strategy } from "./model";
import type { DeploymentRepository, DeploymentRequestRepository, EnvironmentRepository, SecretSealer } from "./ports";
import { checkSecretsSupported } from "./secret-support";

export interface DeploymentRequest {
  version: string;
  artifact?: ArtifactInput;
  strategy?: Strategy;
}

const PROMOTE_RULE = "a deployment can be promoted while it waits at a canary step or bakes";

export interface DeploymentView extends Deployment {
  queuePosition?: number;
}

export class DeploymentService {
  constructor(
    private readonly environments: EnvironmentRepository,
    private readonly deployments: DeploymentRepository,
    private readonly journal: DeploymentJournal,
    private readonly runner: DeploymentRunner,
    private readonly poke: (environment: string) => void,
    private readonly targets: TargetRegistry,
    private readonly secrets: SecretSealer,
    private readonly requests: DeploymentRequestRepository,
  ) {}

  /** Queues a deployment; `beforeStart` runs once it is journaled and before any worker can take it (to follow it from the start). */
  async create(
    environment: string,
    request: DeploymentRequest,
    kind: DeploymentKind = "deploy",
    by?: Actor,
    beforeStart?: (d: Deployment) => Promise<void>,
  ): Promise<DeploymentView> {
    const env = await this.environments.get(environment);
    if (!env) throw new NotFoundError("environment_not_found", `no environment named ${environment}`, { environment });
    if (env.status === "deleting" || env.status === "failed") {
      throw new ConflictError("environment_not_ready", `environment ${environment} is ${env.status}${env.error ? `: ${env.error.message}` : ""}`, {
        environment,
        status: env.status,
      });
    }
    const strategy = request.strategy ?? env.spec.strategy;
    this.targets.get(env.spec.target).checkStrategy?.(env.spec, strategy);
    const artifact = request.artifact ? sealArtifact(request.artifact, (v) => this.secrets.seal(v)) : env.spec.fleet.artifact;
    if (hasSecrets(artifact)) checkSecretsSupported(env.spec.target);
    const now = new Date().toISOString();
    const d: Deployment = {
      id: `dep_${randomBytes(8).toString("hex")}`,
      environment,
      version: request.version,
      artifact: artifactFor(artifact, request.version),
      strategy,
      kind,
      ...(by ? { requestedBy: by } : {}),
      state: "queued",
      phase: "queued",
      steps: stepsOf(strategy),
      createdAt: now,
      updatedAt: now,
    };
    await this.deployments.insert(d);
    await this.journal.record(d, "deployment:queued", { version: d.version, kind, strategy: strategy.type, ...(by ? { by } : {}) });
    await beforeStart?.(d);
    this.poke(environment);
    return this.get(d.id);
  }

  async get(id: string): Promise<DeploymentView> {
    const d = await this.deployments.get(id);
    if (!d) throw new NotFoundError("deployment_not_found", `no deployment with id ${id}`, { deployment: id });
    if (d.state !== "queued") return d;
    const ahead = (await this.deployments.unfinished(d.environment)).findIndex((u) => u.id === id);
    return { ...d, queuePosition: Math.max(0, ahead) };
  }

  list(opts: { environment?: string; state?: Deployment["state"]; limit: number }): Promise<Deployment[]> {
    return this.deployments.list(opts);
  }

  /**
   * Steering goes to the deployment's control when this replica runs it;
   * otherwise it is judged from the journal and left as a request for the
   * replica that does, which carries it out within a second.
   */
  async promote(id: string, by?: Actor): Promise<DeploymentView> {
    const d = await this.get(id);
    const control = this.runner.control(id);
    if (control) {
      if (d.pausedBy === "user") control.resume();
      else if (control.promotable) control.promote();
      else throw this.invalidState(d, "promote", PROMOTE_RULE);
    } else {
      const waiting = d.phase === "baking" || (d.phase === "shifting" && (d.pausedBy !== undefined || d.waitUntil !== undefined));
      if (!waiting || isTerminal(d.state)) throw this.invalidState(d, "promote", PROMOTE_RULE);
      await this.requests.add({ deploymentId: id, action: "promote" });
    }
    await this.journal.record(d, "deployment:promote_requested", by ? { by } : {});
    return this.get(id);
  }

  async pause(id: string, by?: Actor): Promise<DeploymentView> {
    const d = await this.get(id);
    const control = this.runner.control(id);
    if (isTerminal(d.state) || d.state === "rolling_back" || d.state === "queued" || (!control && d.phase === "retiring")) {
      throw this.invalidState(d, "pause", "only a running deployment can be paused");
    }
    if (control) control.pauseRequested = true;
    else await this.requests.add({ deploymentId: id, action: "pause" });
    await this.journal.record(d, "deployment:pause_requested", by ? { by } : {});
    return this.get(id);
  }

  async resume(id: string, by?: Actor): Promise<DeploymentView> {
    const d = await this.get(id);
    const control = this.runner.control(id);
    if (control) {
      if (!control.pauseRequested) throw this.invalidState(d, "resume", "the deployment is not paused");
      control.resume();
    } else {
      if (d.pausedBy !== "user") throw this.invalidState(d, "resume", "the deployment is not paused");
      await this.requests.add({ deploymentId: id, action: "resume" });
    }
    await this.journal.record(d, "deployment:resume_requested", by ? { by } : {});
    return this.get(id);
  }

  async abort(id: string, reason = "aborted by request", by?: Actor): Promise<DeploymentView> {
    const d = await this.get(id);
    if (isTerminal(d.state) || d.state === "rolling_back") {
      throw this.invalidState(d, "abort", "the deployment has already finished or is rolling back");
    }
    const control = this.runner.control(id);
    if (d.state === "queued" && !control) {
      d.error = { code: "cancelled", message: reason };
      await this.journal.finish(d, "cancelled", { reason, ...(by ? { by } : {}) });
      return this.get(id);
    }
    if (control) control.abort(reason);
    else await this.requests.add({ deploymentId: id, action: "abort", reason });
    await this.journal.record(d, "deployment:abort_requested", { reason, ...(by ? { by } : {}) });
    return this.get(id);
  }

  /**
   * Back to the previous good version: an in-flight deployment is aborted
   * (a weight flip while the old fleet is warm); otherwise the previous
   * version is deployed again, rebuilt.
   */
  async rollback(environment: string, by?: Actor, beforeStart?: (d: Deployment) => Promise<void>): Promise<DeploymentView> {
    const env = await this.environments.get(environment);
    if (!env) throw new NotFoundError("environment_not_found", `no environment named ${environment}`, { environment });
    const active = (await this.deployments.unfinished(environment)).find((d) => d.state !== "queued" && d.state !== "rolling_back");
    if (active) return this.abort(active.id, "rollback requested", by);
    if (!env.previousVersion || !env.previousArtifact) {
      throw new ConflictError("no_previous_version", `environment ${environment} has no previous version to roll back to`, { environment });
    }
    return this.create(
      environment,
      { version: env.previousVersion, artifact: env.previousArtifact, strategy: { type: "blue-green" } },
      "rollback",
      by,
      beforeStart,
    );
  }

  private invalidState(d: Deployment, action: string, message: string): ConflictError {
    return new ConflictError("invalid_state", `cannot ${action} deployment ${d.id} (${d.state}, ${d.phase}): ${message}`, {
      deployment: d.id,
      state: d.state,
      phase: d.phase,
    });
  }
}

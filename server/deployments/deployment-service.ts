// Deployments as callers see them: queue one, follow it, steer it.
import { randomBytes } from "node:crypto";
import { ConflictError, ForbiddenError, NotFoundError } from "../errors";
import type { DeploymentJournal } from "./deployment-journal";
import type { DeploymentRunner } from "./deployment-runner";
import type { TargetRegistry } from "./target-registry";
import { isTerminal } from "./deployment-states";
import { isManual, waitingEntry } from "./gate-rules";
import {
  artifactFor,
  hasSecrets,
  samePerson,
  sealArtifact,
  sealGates,
  sealJob,
  stepsOf,
  wavesOf,
  type Actor,
  type Artifact,
  type ArtifactInput,
  type Deployment,
  type DeploymentKind,
  type Environment,
  type Gate,
  type GateInput,
  type PreDeployJob,
  type PreDeployJobInput,
  type Promotion,
  type Strategy,
} from "./model";
import type { DeploymentRepository, DeploymentRequestRepository, EnvironmentRepository, SecretSealer, EngineQueue } from "./ports";
import { checkArtifactFits, checkPreDeploySupported, checkSecretsSupported } from "./secret-support";
import { planOf, type DeploymentPlan } from "./deployment-plan";
import type { ChangePreview } from "./change-preview";

export interface DeploymentRequest {
  version: string;
  artifact?: ArtifactInput;
  /** A release to deploy: its version, its artifact (sealed already) and its pre-deploy job in place of the environment's. */
  release?: { id: string; digest: string; version: string; artifact: Artifact; preDeploy?: PreDeployJob; createdAt: string };
  /** The pipeline that promotes the release. */
  promotion?: Promotion;
  /** A deployment id decided by the caller: asking again with it answers with the deployment made the first time (an automatic promotion's, so that no crash or second replica makes it twice). */
  id?: string;
  strategy?: Strategy;
  /** Replaces the environment's gates for this deployment. */
  gates?: GateInput[];
  /** Replaces the environment's pre-deploy job for this deployment. */
  preDeploy?: PreDeployJobInput;
  /** A person's approval (an `approval` gate named `promotion`) before the new version takes all traffic: a pipeline stage's `approval`. */
  approval?: { requireDistinctApprover?: boolean; timeout?: string };
}

const PROMOTE_RULE = "a deployment can be promoted while it waits at a canary step or bakes";

export interface DeploymentView extends Deployment {
  queuePosition?: number;
  /** Running, but its next engine operation waits for one of the replica's engine slots: where it stands, and since when. */
  engineWait?: { reason: "engine_busy"; position: number; running: number; limit: number; priority: "urgent" | "normal"; waitingSince: string };
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
    private readonly engineQueue: EngineQueue = () => undefined,
    /** The Pulumi preview of what a planned deployment changes (absent: plans carry none). */
    private readonly previewer?: (env: Environment, d: Deployment, plan: DeploymentPlan) => Promise<ChangePreview>,
  ) {}

  /** Queues a deployment; `beforeStart` runs once it is journaled and before any worker can take it (to follow it from the start). */
  async create(
    environment: string,
    request: DeploymentRequest,
    kind: DeploymentKind = "deploy",
    by?: Actor,
    beforeStart?: (d: Deployment) => Promise<void>,
  ): Promise<DeploymentView> {
    if (request.id && (await this.deployments.get(request.id))) return this.get(request.id);
    const { d } = await this.draft(environment, request, kind, by);
    const { strategy } = d;
    try {
      await this.deployments.insert(d);
    } catch (err) {
      // Another replica made the deployment of this id a moment before.
      if (request.id && (await this.deployments.get(request.id))) return this.get(request.id);
      throw err;
    }
    await this.journal.record(d, "deployment:queued", { version: d.version, kind, strategy: strategy.type, ...(d.release ? { release: d.release } : {}), ...(d.promotion ? { promotion: d.promotion } : {}), ...(by ? { by } : {}) });
    await beforeStart?.(d);
    this.poke(environment);
    return this.get(d.id);
  }

  /** What a deployment request would do, in order, without doing anything: the same checks as `create`, nothing journaled. */
  async plan(environment: string, request: DeploymentRequest, by?: Actor, opts: { preview?: boolean } = {}): Promise<DeploymentPlan & { preview?: ChangePreview }> {
    const { env, d } = await this.draft(environment, request, "deploy", by);
    const plan = planOf(env, d, (await this.deployments.unfinished(environment)).length);
    return opts.preview === false || !this.previewer ? plan : { ...plan, preview: await this.previewer(env, d, plan) };
  }

  /** The deployment a request makes, checked against its environment and target, not yet journaled. */
  private async draft(environment: string, request: DeploymentRequest, kind: DeploymentKind, by?: Actor): Promise<{ env: Environment; d: Deployment }> {
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
    const { release } = request;
    const artifact = release ? release.artifact : request.artifact ? sealArtifact(request.artifact, (v) => this.secrets.seal(v)) : env.spec.fleet.artifact;
    if (hasSecrets(artifact)) checkSecretsSupported(env.spec.target);
    checkArtifactFits(env.spec.target, artifact);
    const seal = (v: string) => this.secrets.seal(v);
    const approval: Gate[] = request.approval ? [{ name: "promotion", kind: "approval", ...request.approval }] : [];
    const gates = [...((request.gates ? sealGates(request.gates, seal) : env.spec.gates) ?? []).filter((g) => !approval.length || g.name !== "promotion"), ...approval];
    const preDeploy = release?.preDeploy ?? (request.preDeploy ? sealJob(request.preDeploy, seal) : env.spec.preDeploy);
    if (preDeploy) checkPreDeploySupported(this.targets.get(env.spec.target), env.spec.target);
    if (preDeploy && hasSecrets(preDeploy)) checkSecretsSupported(env.spec.target);
    const now = new Date().toISOString();
    const d: Deployment = {
      id: request.id ?? `dep_${randomBytes(8).toString("hex")}`,
      environment,
      version: request.version,
      artifact: artifactFor(artifact, request.version),
      ...(release ? { release: { id: release.id, digest: release.digest, recordedAt: release.createdAt } } : {}),
      ...(request.promotion ? { promotion: request.promotion } : {}),
      strategy,
      kind,
      ...(by ? { requestedBy: by } : {}),
      state: "queued",
      phase: "queued",
      steps: stepsOf(strategy, env.spec.fleet.replicas),
      ...(strategy.type === "rolling" ? { waves: wavesOf(strategy, env.spec.fleet.replicas) } : {}),
      ...(gates.length ? { gates } : {}),
      ...(preDeploy ? { preDeploy } : {}),
      createdAt: now,
      updatedAt: now,
    };
    return { env, d };
  }

  async get(id: string): Promise<DeploymentView> {
    const d = await this.deployments.get(id);
    if (!d) throw new NotFoundError("deployment_not_found", `no deployment with id ${id}`, { deployment: id });
    if (d.state !== "queued") {
      const wait = isTerminal(d.state) ? undefined : this.engineQueue(d.environment);
      if (!wait) return d;
      const { since, ...where } = wait;
      return { ...d, engineWait: { reason: "engine_busy", ...where, waitingSince: new Date(since).toISOString() } };
    }
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
      const waiting = d.phase === "baking" || (d.phase === "shifting" && d.pausedBy !== "gate" && (d.pausedBy !== undefined || d.waitUntil !== undefined));
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

  /**
   * A person's answer at a manual gate the deployment waits at. With
   * `requireDistinctApprover`, whoever requested the deployment may reject
   * it but not approve it.
   */
  async decide(id: string, gateName: string, approved: boolean, by?: Actor, reason?: string): Promise<DeploymentView> {
    const d = await this.get(id);
    const gate = d.gates?.find((g) => g.name === gateName);
    if (!gate) {
      throw new NotFoundError("gate_not_found", `deployment ${id} has no gate named ${gateName}`, { deployment: id, gate: gateName, gates: (d.gates ?? []).map((g) => g.name) });
    }
    if (!isManual(gate)) throw new ConflictError("gate_not_manual", `gate ${gateName} is decided by its URL, not by a person`, { deployment: id, gate: gateName });
    if (isTerminal(d.state) || !waitingEntry(d, gateName)) {
      throw new ConflictError("gate_not_waiting", `deployment ${id} (${d.state}, ${d.phase}) is not waiting at gate ${gateName}`, { deployment: id, gate: gateName, state: d.state });
    }
    if (approved && gate.requireDistinctApprover && samePerson(by, d.requestedBy)) {
      throw new ForbiddenError("approver_is_requester", `gate ${gateName} needs an approver other than ${d.requestedBy!.name}, who requested the deployment`, {
        deployment: id,
        gate: gateName,
      });
    }
    const control = this.runner.control(id);
    const decision = { approved, ...(by ? { by } : {}), ...(reason ? { reason } : {}) };
    if (control) control.decide(gateName, decision);
    else await this.requests.add({ deploymentId: id, action: approved ? "approve" : "reject", gate: gateName, ...(by ? { by } : {}), ...(reason ? { reason } : {}) });
    return this.get(id);
  }

  private invalidState(d: Deployment, action: string, message: string): ConflictError {
    return new ConflictError("invalid_state", `cannot ${action} deployment ${d.id} (${d.state}, ${d.phase}): ${message}`, {
      deployment: d.id,
      state: d.state,
      phase: d.phase,
    });
  }
}

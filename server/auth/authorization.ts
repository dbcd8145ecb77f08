// What each action needs, written once for every caller kind: an API
// token, a linked chat user, a button press, and a schedule (which acts
// with its creator's role and scope, looked up again each time it fires).
// A path that reaches an action (a chat command, a schedule's run, a
// ramp) asks here with the action's name, never with a role of its own.
import type { Principal, Role, TokenService } from "./token-service";
import { ForbiddenError } from "../errors";

export type Action =
  | "environment.read"
  | "environment.create"
  | "environment.delete"
  | "environment.refresh"
  /** Putting an environment in maintenance, or taking it out: its balancer stops routing to the fleets meanwhile. */
  | "environment.maintenance"
  | "deployment.create"
  | "deployment.rollback"
  | "deployment.control"
  | "deployment.decide"
  /** A deployment that brings its own artifact or pre-deploy job: it chooses what runs. */
  | "deployment.artifact"
  /** A deployment that replaces the environment's gates: they hold deployments for approval. */
  | "deployment.gates"
  | "schedule.read"
  | "schedule.refresh"
  | "schedule.repave"
  | "schedule.deploy"
  | "schedule.destroy"
  | "schedule.maintenance"
  | "flag.read"
  | "flag.write"
  | "audit.read"
  /** Recording a release: it chooses what runs wherever it is deployed (within its maker's scope). */
  | "release.create"
  | "release.read"
  /** Declaring a pipeline over environments (each stage's environment in scope). */
  | "pipeline.write"
  | "pipeline.read"
  /** Promoting past a pipeline's rules: a release never live in the stage before, or one still soaking there. */
  | "promotion.force"
  /** Choosing what a local environment runs (artifact, pre-deploy job) while local processes cannot be sandboxed: they run with Cutover's own rights. */
  | "local.unsandboxed-run"
  /** Naming where a target's credentials come from (a kubeconfig or context, an AWS profile): they reach whatever those credentials reach. */
  | "target.credentials"
  /** Serving a certificate of the operator's TLS directory: its key serves any environment's domain, so it reaches past a scope. */
  | "local.tls";

/** The least role each action needs; every path to the action asks for the same. */
export const POLICY: Record<Action, Role> = {
  "local.unsandboxed-run": "admin",
  "target.credentials": "admin",
  "local.tls": "admin",
  "environment.read": "viewer",
  "environment.create": "admin",
  "environment.delete": "admin",
  "environment.refresh": "deployer",
  "environment.maintenance": "deployer",
  "deployment.create": "deployer",
  "deployment.rollback": "deployer",
  "deployment.control": "deployer",
  "deployment.decide": "approver",
  "deployment.artifact": "admin",
  "deployment.gates": "admin",
  "schedule.read": "viewer",
  "schedule.refresh": "deployer",
  "schedule.repave": "deployer",
  "schedule.deploy": "deployer",
  // A destroy schedule deletes the environment: exactly what DELETE /v1/environments/:name needs.
  "schedule.destroy": "admin",
  "schedule.maintenance": "deployer",
  "flag.read": "viewer",
  "flag.write": "deployer",
  "audit.read": "admin",
  "release.create": "admin",
  "release.read": "viewer",
  "pipeline.write": "admin",
  "pipeline.read": "viewer",
  "promotion.force": "admin",
};

/** Actions that need a principal without an environment scope: they reach past any scope. */
const UNSCOPED: ReadonlySet<Action> = new Set(["local.unsandboxed-run", "target.credentials", "local.tls"]);

const REFUSAL: Partial<Record<Action, { code: string; message: string }>> = {
  "local.unsandboxed-run": {
    code: "local_sandbox_unavailable",
    message:
      "Cutover cannot switch users here (it does not run as root), so local fleets and pre-deploy jobs run with Cutover's own rights: only an unscoped admin may set an artifact or a pre-deploy job on a local environment",
  },
  "local.tls": {
    code: "tls_forbidden",
    message:
      "only an unscoped admin may name a certificate of Cutover's TLS directory (local.tls): the directory's keys serve any environment's domain, so they reach past any environment scope",
  },
  "target.credentials": {
    code: "target_credentials_forbidden",
    message:
      "only an unscoped admin may name where a target's credentials come from (kubernetes.kubeconfig or context, aws.profile): they reach past any environment scope; without them Cutover uses its own (KUBECONFIG, the AWS environment)",
  },
  "deployment.artifact": {
    code: "artifact_override_forbidden",
    message: "only an admin may override the artifact or the pre-deploy job (they choose what runs)",
  },
  "deployment.gates": { code: "gates_override_forbidden", message: "only an admin may replace the environment's gates (they hold deployments for approval)" },
};

export class Authorization {
  /** `localSandboxed`: whether local fleets and jobs run as a user of their own (decided at start). */
  constructor(
    private readonly tokens: TokenService,
    private readonly localSandboxed: boolean,
  ) {}

  /** Throws unless the principal may take the action on the environment. */
  authorize(principal: Principal, action: Action, environment: string): void {
    const refusal = REFUSAL[action];
    if (UNSCOPED.has(action) && principal.environments) {
      throw new ForbiddenError(refusal?.code ?? "insufficient_scope", refusal?.message ?? `${action} needs an unscoped principal`, { required: "unscoped" });
    }
    try {
      this.tokens.authorize(principal, POLICY[action], environment);
    } catch (err) {
      if (refusal && err instanceof ForbiddenError && err.code === "insufficient_role") throw new ForbiddenError(refusal.code, refusal.message, { required: POLICY[action] });
      throw err;
    }
  }

  /** Every action a deployment request takes: the deployment, and what it overrides (on `target`). */
  deploymentActions(request: { artifact?: unknown; preDeploy?: unknown; gates?: unknown }, target?: string): Action[] {
    const choosesWhatRuns = !!(request.artifact || request.preDeploy);
    return [
      "deployment.create",
      ...(choosesWhatRuns ? (["deployment.artifact"] as const) : []),
      ...(request.gates ? (["deployment.gates"] as const) : []),
      ...this.whatRunsActions(target, choosesWhatRuns),
    ];
  }

  /** Creating an environment: it always chooses what its fleets run, and may name where its target's credentials come from. */
  environmentActions(spec: { target?: string; kubernetes?: { kubeconfig?: string; context?: string }; aws?: { profile?: string }; local?: { tls?: unknown } }): Action[] {
    const target = spec.target ?? "local";
    const credentials = !!(spec.kubernetes?.kubeconfig || spec.kubernetes?.context || spec.aws?.profile);
    return [
      "environment.create",
      ...this.whatRunsActions(target, true),
      ...(credentials ? (["target.credentials"] as const) : []),
      ...(target === "local" && spec.local?.tls ? (["local.tls"] as const) : []),
    ];
  }

  /** An unknown target counts as local: the stricter rule. */
  private whatRunsActions(target: string | undefined, choosesWhatRuns: boolean): Action[] {
    return choosesWhatRuns && (target ?? "local") === "local" && !this.localSandboxed ? ["local.unsandboxed-run"] : [];
  }

  /**
   * A release chose what runs when it was made: deploying it into an
   * environment (on `target`) needs its maker, at the scope they had then,
   * to have been allowed to choose what runs there. The caller's own right
   * to deploy is checked apart (deploymentActions).
   */
  authorizeRelease(release: { id: string; createdBy: { id: string; name: string }; scope?: string[] }, target: string, environment: string): void {
    const maker: Principal = { id: release.createdBy.id, name: release.createdBy.name, role: "admin", ...(release.scope ? { environments: release.scope } : {}) };
    try {
      this.authorizeAll(maker, ["deployment.artifact", ...this.whatRunsActions(target, true)], environment);
    } catch (err) {
      if (!(err instanceof ForbiddenError) || err.code !== "environment_out_of_scope") throw err;
      throw new ForbiddenError("release_out_of_scope", `release ${release.id} was made by ${release.createdBy.name}, whose scope does not reach environment ${environment}`, {
        release: release.id,
        environment,
      });
    }
  }

  authorizeAll(principal: Principal, actions: Action[], environment: string): void {
    for (const a of actions) this.authorize(principal, a, environment);
  }
}

/** The action a schedule of this kind takes each time it fires. */
export const scheduleAction = (kind: "refresh" | "repave" | "deploy" | "destroy" | "maintenance"): Action => `schedule.${kind}`;

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
  | "flag.read"
  | "flag.write"
  | "audit.read";

/** The least role each action needs; every path to the action asks for the same. */
export const POLICY: Record<Action, Role> = {
  "environment.read": "viewer",
  "environment.create": "admin",
  "environment.delete": "admin",
  "environment.refresh": "deployer",
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
  "flag.read": "viewer",
  "flag.write": "deployer",
  "audit.read": "admin",
};

const REFUSAL: Partial<Record<Action, { code: string; message: string }>> = {
  "deployment.artifact": {
    code: "artifact_override_forbidden",
    message: "only an admin may override the artifact or the pre-deploy job (they choose what runs)",
  },
  "deployment.gates": { code: "gates_override_forbidden", message: "only an admin may replace the environment's gates (they hold deployments for approval)" },
};

export class Authorization {
  constructor(private readonly tokens: TokenService) {}

  /** Throws unless the principal may take the action on the environment. */
  authorize(principal: Principal, action: Action, environment: string): void {
    const refusal = REFUSAL[action];
    try {
      this.tokens.authorize(principal, POLICY[action], environment);
    } catch (err) {
      if (refusal && err instanceof ForbiddenError && err.code === "insufficient_role") throw new ForbiddenError(refusal.code, refusal.message, { required: POLICY[action] });
      throw err;
    }
  }

  /** Every action a deployment request takes: the deployment, and what it overrides. */
  deploymentActions(request: { artifact?: unknown; preDeploy?: unknown; gates?: unknown }): Action[] {
    return [
      "deployment.create",
      ...(request.artifact || request.preDeploy ? (["deployment.artifact"] as const) : []),
      ...(request.gates ? (["deployment.gates"] as const) : []),
    ];
  }

  authorizeAll(principal: Principal, actions: Action[], environment: string): void {
    for (const a of actions) this.authorize(principal, a, environment);
  }
}

/** The action a schedule of this kind takes each time it fires. */
export const scheduleAction = (kind: "refresh" | "repave" | "deploy" | "destroy"): Action => `schedule.${kind}`;

// The HTTP API under /v1: environments and deployments (tokens, the audit
// log and the gate signing secret are in admin-routes.ts).
import { InputError, NotFoundError } from "../errors";
import { tokenActor, type AuditRepository } from "../audit/audit-log";
import type { Principal, TokenService } from "../auth/token-service";
import type { Action, Authorization } from "../auth/authorization";
import { analysesOf, type MetricProviders } from "../analysis/metric-providers";
import type { DeploymentService } from "../deployments/deployment-service";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { EnvironmentService } from "../environments/environment-service";
import type { ReleaseService } from "../releases/release-service";
import type { DeploymentRepository } from "../deployments/ports";
import type { EnvironmentSpec } from "../deployments/model";
import { principalOf } from "./authentication";
import { streamEvents } from "./event-stream";
import { route, type Route } from "./route-table";
import { adminRoutes } from "./admin-routes";
import {
  abortSchema,
  createDeploymentSchema,
  createEnvironmentSchema,
  dryRunQuery,
  emptySchema,
  eventsQuery,
  gateDecisionSchema,
  gateParams,
  idParams,
  listDeploymentsQuery,
  nameParams,
} from "./schemas";

export interface ApiDeps {
  environments: EnvironmentService;
  releases: ReleaseService;
  deployments: DeploymentService;
  deploymentStore: DeploymentRepository;
  tokens: TokenService;
  authorization: Authorization;
  metricProviders: MetricProviders;
  /** The outbound guard's reason a URL may not be called (gates are checked when they come in, and again on each call). */
  urlProblem(url: string): string | undefined;
  bus: DomainEventBus;
  audit: AuditRepository;
  /** The secret gates without their own are signed with. */
  gateSigningSecret?: string;
}

const ENV_ERRORS = ["validation_failed", "environment_not_found", "environment_out_of_scope"];
const DEPLOY_ERRORS = [...ENV_ERRORS, "environment_not_ready", "artifact_override_forbidden", "gates_override_forbidden", "predeploy_unsupported", "local_sandbox_unavailable", "release_not_found", "release_out_of_scope"];

export function apiRoutes(deps: ApiDeps): Route[] {
  const { environments, deployments, tokens } = deps;
  const scoped = (p: Principal, env: string, action: Action) => deps.authorization.authorize(p, action, env);
  /** Looks a deployment up and checks the caller may take the action on its environment. */
  const deploymentFor = async (p: Principal, id: string, action: Action) => {
    const d = await deployments.get(id);
    if (!tokens.canSee(p, d.environment)) throw new NotFoundError("deployment_not_found", `no deployment with id ${id}`, { deployment: id });
    scoped(p, d.environment, action);
    return d;
  };
  const accepted = (body: { id: string }) => ({ status: 202, body, location: `/v1/deployments/${body.id}` });

  return [
    route({
      method: "post",
      path: "/v1/environments",
      summary: "Create an environment: its traffic stack is brought up in the background. With a `forceHeader`, the answer holds the force key (`forceKey`), this once.",
      action: "environment.create",
      body: createEnvironmentSchema,
      success: 201,
      errors: ["validation_failed", "environment_exists", "listen_port_taken", "local_sandbox_unavailable", "data_plane_unavailable", "target_credentials_forbidden", "tls_forbidden"],
      audit: "environment.create",
      handle: async ({ body, res }) => {
        deps.authorization.authorizeAll(principalOf(res), deps.authorization.environmentActions(body), body.name);
        deps.metricProviders.check(body.name, analysesOf(body.strategy));
        checkGateTargets(deps, body.gates);
        // The force key (when the environment opted in to forcing) is in this answer only.
        const { environment: env, forceKey } = await environments.create(body as EnvironmentSpec);
        return { status: 201, body: { ...env, ...(forceKey ? { forceKey } : {}) }, location: `/v1/environments/${env.name}` };
      },
    }),
    route({
      method: "get",
      path: "/v1/environments",
      summary: "List the environments the token can see.",
      role: "viewer",
      success: 200,
      handle: async ({ res }) => {
        const p = principalOf(res);
        return { status: 200, body: { environments: (await environments.list()).filter((e) => tokens.canSee(p, e.name)) } };
      },
    }),
    route({
      method: "get",
      path: "/v1/metric-providers",
      summary: "The operator's metric providers an analysis may name: name, kind and the environments each serves (never address or credentials).",
      role: "viewer",
      success: 200,
      handle: ({ res }) => {
        const p = principalOf(res);
        // A provider is listed when it serves at least one environment the caller can see.
        const visible = (scope: string[] | undefined) => !scope || !p.environments || scope.some((e) => p.environments!.some((own) => sharesEnvironments(own, e)));
        return { status: 200, body: { providers: deps.metricProviders.list(visible) } };
      },
    }),
    route({
      method: "get",
      path: "/v1/environments/:name",
      summary: "An environment: target, live version, active color, weights, fleets and recent deployments.",
      action: "environment.read",
      params: nameParams,
      success: 200,
      errors: ENV_ERRORS,
      handle: async ({ params, res }) => {
        scoped(principalOf(res), params.name, "environment.read");
        return { status: 200, body: await environments.get(params.name) };
      },
    }),
    route({
      method: "delete",
      path: "/v1/environments/:name",
      summary: "Delete an environment: cancels queued deployments, aborts a running one, destroys every stack.",
      action: "environment.delete",
      params: nameParams,
      success: 202,
      errors: ENV_ERRORS,
      audit: "environment.delete",
      handle: async ({ params, res }) => {
        scoped(principalOf(res), params.name, "environment.delete");
        return { status: 202, body: await environments.delete(params.name) };
      },
    }),
    route({
      method: "post",
      path: "/v1/environments/:name/deployments",
      summary: "Deploy a version: queued behind the environment's other operations. With ?dryRun=true: the same checks, and what it would do in order (200), nothing queued.",
      action: "deployment.create",
      params: nameParams,
      query: dryRunQuery,
      body: createDeploymentSchema,
      success: 202,
      errors: DEPLOY_ERRORS,
      audit: "deployment.create",
      handle: async ({ params, query, body, res }) => {
        const p = principalOf(res);
        deps.authorization.authorize(p, "deployment.create", params.name);
        const { target } = (await environments.record(params.name)).spec;
        const { release: releaseId, version, ...request } = body;
        deps.authorization.authorizeAll(p, deps.authorization.deploymentActions(request, target), params.name);
        const release = releaseId ? await deps.releases.get(releaseId, p.environments) : undefined;
        if (release) deps.authorization.authorizeRelease(release, target, params.name);
        deps.metricProviders.check(params.name, analysesOf(body.strategy));
        checkGateTargets(deps, body.gates);
        const asked = { ...request, version: release?.version ?? version!, ...(release ? { release } : {}) };
        if (query.dryRun === "true") return { status: 200, body: await deployments.plan(params.name, asked, tokenActor(p), { preview: query.preview !== "false" }), changedNothing: true };
        return accepted(await deployments.create(params.name, asked, "deploy", tokenActor(p)));
      },
    }),
    route({
      method: "get",
      path: "/v1/environments/:name/deployments",
      summary: "The environment's deployments, newest first.",
      action: "environment.read",
      params: nameParams,
      query: listDeploymentsQuery.omit({ environment: true }),
      success: 200,
      errors: ENV_ERRORS,
      handle: async ({ params, query, res }) => {
        scoped(principalOf(res), params.name, "environment.read");
        await environments.record(params.name);
        return { status: 200, body: { deployments: await deployments.list({ ...query, environment: params.name }) } };
      },
    }),
    route({
      method: "post",
      path: "/v1/environments/:name/rollback",
      summary: "Back to the previous good version: a weight flip while the old fleet is warm, a rebuild otherwise.",
      action: "deployment.rollback",
      params: nameParams,
      body: emptySchema,
      success: 202,
      errors: [...ENV_ERRORS, "no_previous_version"],
      audit: "environment.rollback",
      handle: async ({ params, res }) => {
        scoped(principalOf(res), params.name, "deployment.rollback");
        return accepted(await deployments.rollback(params.name, tokenActor(principalOf(res))));
      },
    }),
    route({
      method: "get",
      path: "/v1/deployments",
      summary: "Recent deployments across the environments the token can see.",
      role: "viewer",
      query: listDeploymentsQuery,
      success: 200,
      handle: async ({ query, res }) => {
        const p = principalOf(res);
        return { status: 200, body: { deployments: (await deployments.list(query)).filter((d) => tokens.canSee(p, d.environment)) } };
      },
    }),
    route({
      method: "get",
      path: "/v1/deployments/:id",
      summary: "A deployment: state, phase, steps, timestamps, error, and its place in the queue.",
      action: "environment.read",
      params: idParams,
      success: 200,
      errors: ["deployment_not_found"],
      handle: async ({ params, res }) => ({ status: 200, body: await deploymentFor(principalOf(res), params.id, "environment.read") }),
    }),
    route({
      method: "get",
      path: "/v1/deployments/:id/events",
      summary: "The deployment's events: Server-Sent Events, live; a JSON list with `Accept: application/json`.",
      action: "environment.read",
      params: idParams,
      query: eventsQuery,
      success: 200,
      errors: ["deployment_not_found"],
      handle: async ({ params, query, req, res }) => {
        const d = await deploymentFor(principalOf(res), params.id, "environment.read");
        const lastEventId = Number(req.get("last-event-id"));
        const after = Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : query.after;
        if (req.accepts(["text/event-stream", "application/json"]) === "application/json") {
          return { status: 200, body: { events: await deps.deploymentStore.events(d.id, after) } };
        }
        await streamEvents(req, res, d.id, after, deps.deploymentStore, deps.bus);
        return undefined;
      },
    }),
    ...(["promote", "pause", "resume", "abort"] as const).map((action) =>
      route({
        method: "post",
        path: `/v1/deployments/:id/${action}`,
        summary: {
          promote: "Continue past a manual canary step, or end a timed pause or bake early.",
          pause: "Hold the deployment before its next traffic step.",
          resume: "Continue a paused deployment.",
          abort: "Stop the deployment and roll back (a queued one is cancelled).",
        }[action],
        action: "deployment.control",
        params: idParams,
        body: action === "abort" ? abortSchema : emptySchema,
        success: 202,
        errors: ["deployment_not_found", "invalid_state"],
        audit: `deployment.${action}`,
        handle: async ({ params, body, res }) => {
          const p = principalOf(res);
          await deploymentFor(p, params.id, "deployment.control");
          const d =
            action === "abort"
              ? deployments.abort(params.id, (body as { reason?: string }).reason, tokenActor(p))
              : deployments[action](params.id, tokenActor(p));
          return accepted(await d);
        },
      }),
    ),
    ...(["approve", "reject"] as const).map((decision) =>
      route({
        method: "post",
        path: `/v1/deployments/:id/gates/:gate/${decision}`,
        summary:
          decision === "approve"
            ? "Approve a manual gate the deployment waits at; it goes on. Needs the approver role (and, with requireDistinctApprover, someone other than who requested it)."
            : "Reject a manual gate the deployment waits at; it rolls back.",
        action: "deployment.decide",
        params: gateParams,
        body: gateDecisionSchema,
        success: 202,
        errors: ["deployment_not_found", "gate_not_found", "gate_not_manual", "gate_not_waiting", "approver_is_requester"],
        audit: `deployment.gate.${decision}`,
        handle: async ({ params, body, res }) => {
          const p = principalOf(res);
          await deploymentFor(p, params.id, "deployment.decide");
          return accepted(await deployments.decide(params.id, params.gate, decision === "approve", tokenActor(p), body.reason));
        },
      }),
    ),
    ...adminRoutes(deps),
  ];
}

/** Refuses a gate whose URL leads inside the network (unless the operator allows it). */
function checkGateTargets(deps: Pick<ApiDeps, "urlProblem">, gates: { name?: string; kind: string; url?: string }[] | undefined): void {
  for (const g of gates ?? []) {
    const problem = g.url && deps.urlProblem(g.url);
    if (problem) {
      throw new InputError("gate_target_forbidden", `gate ${g.name ?? g.kind}: ${problem}; an operator can allow a target with CUTOVER_OUTBOUND_ALLOW`, { gate: g.name ?? g.kind });
    }
  }
}

/** Whether two scope entries (names or `prefix-*`) can name a common environment. */
function sharesEnvironments(a: string, b: string): boolean {
  const stem = (x: string) => (x.endsWith("*") ? x.slice(0, -1) : x);
  if (a.endsWith("*") && b.endsWith("*")) return stem(a).startsWith(stem(b)) || stem(b).startsWith(stem(a));
  if (a.endsWith("*")) return b.startsWith(stem(a));
  if (b.endsWith("*")) return a.startsWith(stem(b));
  return a === b;
}

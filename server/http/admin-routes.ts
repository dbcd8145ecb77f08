// Administration under /v1: API tokens, the audit log, and the secret
// gates without their own are signed with.
import { ForbiddenError } from "../errors";
import type { AuditRepository } from "../audit/audit-log";
import type { Principal, TokenService } from "../auth/token-service";
import type { Action, Authorization } from "../auth/authorization";
import { principalOf } from "./authentication";
import { route, type Route } from "./route-table";
import { auditQuery, createTokenSchema, tokenIdParams } from "./schemas";

export interface AdminDeps {
  tokens: TokenService;
  authorization: Authorization;
  audit: AuditRepository;
  /** The secret gates without their own are signed with. */
  gateSigningSecret?: string;
}

export function adminRoutes(deps: AdminDeps): Route[] {
  const { tokens } = deps;
  const scoped = (p: Principal, env: string, action: Action) => deps.authorization.authorize(p, action, env);
  return [
    route({
      method: "get",
      path: "/v1/gates/signing-secret",
      summary: "The Standard Webhooks secret that signs requests to gates without a secret of their own (unscoped admin).",
      role: "admin",
      success: 200,
      handle: ({ res }) => {
        const p = principalOf(res);
        if (p.environments) throw new ForbiddenError("insufficient_scope", "the gate signing secret is for unscoped admin tokens");
        return { status: 200, body: { secret: deps.gateSigningSecret ?? null } };
      },
    }),
    route({
      method: "post",
      path: "/v1/tokens",
      summary: "Create an API token; the token is in this response only.",
      role: "admin",
      body: createTokenSchema,
      success: 201,
      errors: ["validation_failed", "token_role_exceeds_own", "token_scope_exceeds_own"],
      audit: "token.create",
      handle: async ({ body, res }) => {
        const { token, record } = await tokens.create(principalOf(res), body);
        return { status: 201, body: { ...record, token } };
      },
    }),
    route({
      method: "get",
      path: "/v1/tokens",
      summary: "List API tokens (never the tokens themselves).",
      role: "admin",
      success: 200,
      handle: async ({ res }) => ({ status: 200, body: { tokens: await tokens.list(principalOf(res)) } }),
    }),
    route({
      method: "delete",
      path: "/v1/tokens/:id",
      summary: "Revoke an API token.",
      role: "admin",
      params: tokenIdParams,
      success: 204,
      errors: ["token_not_found"],
      audit: "token.revoke",
      handle: async ({ params, res }) => {
        await tokens.revoke(principalOf(res), params.id);
        return { status: 204 };
      },
    }),
    route({
      method: "get",
      path: "/v1/audit",
      summary: "The audit log, newest first: who did what, through which caller (token, chat, schedule). A scoped admin sees its environments.",
      action: "audit.read",
      query: auditQuery,
      success: 200,
      handle: async ({ query, res }) => {
        const p = principalOf(res);
        if (query.environment) scoped(p, query.environment, "audit.read");
        const entries = await deps.audit.list(query);
        return { status: 200, body: { entries: entries.filter((e) => (e.environment ? tokens.canSee(p, e.environment) : !p.environments)) } };
      },
    }),
  ];
}

// Managing an environment's feature flags: set, read, list, switch off and
// on, delete, and each flag's history. Evaluation is OFREP's (ofrep-routes).
import type { Response } from "express";
import { tokenActor } from "../audit/audit-log";
import type { Principal, TokenService } from "../auth/token-service";
import { InputError, NotFoundError } from "../errors";
import type { FlagService } from "../flags/flag-service";
import type { FlagRamps } from "../flags/flag-ramps";
import type { MetricProviders } from "../analysis/metric-providers";
import type { Action, Authorization } from "../auth/authorization";
import { principalOf } from "./authentication";
import { flagHistoryQuery, flagInputSchema, flagParams, flagRampSchema, flagSwitchSchema, rampParams } from "./flag-schemas";
import { route, type Route } from "./route-table";
import { abortSchema, emptySchema, nameParams } from "./schemas";

const FLAG_ERRORS = ["flag_not_found", "environment_not_found", "environment_out_of_scope", "insufficient_role"];

/** `If-Match: "3"` (or 3): the version the caller last read. */
function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(header);
  if (!m) throw new InputError("invalid_if_match", 'If-Match must carry the flag version the change is based on, e.g. If-Match: "3"');
  return Number(m[1]);
}

export function flagRoutes(flags: FlagService, ramps: FlagRamps, tokens: TokenService, authorization: Authorization, metricProviders: MetricProviders): Route[] {
  const p = (res: Response): Principal => principalOf(res);
  const allow = (res: Response, action: Action, environment: string) => authorization.authorize(p(res), action, environment);
  return [
    route({
      method: "get",
      path: "/v1/environments/:name/flags",
      summary: "The environment's feature flags, by key.",
      action: "flag.read",
      params: nameParams,
      success: 200,
      errors: ["environment_not_found", "environment_out_of_scope"],
      handle: async ({ params, res }) => {
        allow(res, "flag.read", params.name);
        return { status: 200, body: { flags: await flags.list(params.name) } };
      },
    }),
    route({
      method: "put",
      path: "/v1/environments/:name/flags/:key",
      summary: "Create or replace a feature flag: variants, default, rules, rollout. With If-Match, only if the flag is still at that version.",
      action: "flag.write",
      params: flagParams,
      body: flagInputSchema,
      success: 200,
      errors: ["validation_failed", "flag_invalid", "flag_version_mismatch", "invalid_if_match", ...FLAG_ERRORS],
      handle: async ({ params, body, req, res }) => {
        allow(res, "flag.write", params.name);
        const { flag, created } = await flags.put(params.name, params.key, body, tokenActor(p(res)), ifMatchVersion(req.get("if-match")));
        res.setHeader("ETag", `"${flag.version}"`);
        return { status: created ? 201 : 200, body: flag, location: `/v1/environments/${params.name}/flags/${params.key}` };
      },
    }),
    route({
      method: "get",
      path: "/v1/environments/:name/flags/:key",
      summary: "A feature flag, with its version (also its ETag, for If-Match).",
      action: "flag.read",
      params: flagParams,
      success: 200,
      errors: FLAG_ERRORS,
      handle: async ({ params, res }) => {
        allow(res, "flag.read", params.name);
        const flag = await flags.get(params.name, params.key);
        res.setHeader("ETag", `"${flag.version}"`);
        return { status: 200, body: flag };
      },
    }),
    route({
      method: "delete",
      path: "/v1/environments/:name/flags/:key",
      summary: "Delete a feature flag; evaluations answer FLAG_NOT_FOUND from then on.",
      action: "flag.write",
      params: flagParams,
      success: 204,
      errors: FLAG_ERRORS,
      handle: async ({ params, res }) => {
        allow(res, "flag.write", params.name);
        await flags.remove(params.name, params.key, tokenActor(p(res)));
        return { status: 204 };
      },
    }),
    ...(["enable", "disable"] as const).map((action) =>
      route({
        method: "post",
        path: `/v1/environments/:name/flags/:key/${action}`,
        summary:
          action === "disable"
            ? "The kill switch: every evaluation answers the default variant (reason DISABLED) from the next request on, on every replica."
            : "Switch the flag back on: rules and rollout apply again.",
        action: "flag.write",
        params: flagParams,
        body: flagSwitchSchema,
        success: 200,
        errors: FLAG_ERRORS,
        handle: async ({ params, body, res }) => {
          allow(res, "flag.write", params.name);
          return { status: 200, body: await flags.setEnabled(params.name, params.key, action === "enable", tokenActor(p(res)), body.reason) };
        },
      }),
    ),
    route({
      method: "get",
      path: "/v1/environments/:name/flags/:key/history",
      summary: "Every change of the flag, newest first: who, when, which fields, and the flag as it became.",
      action: "flag.read",
      params: flagParams,
      query: flagHistoryQuery,
      success: 200,
      errors: ["environment_not_found", "environment_out_of_scope"],
      handle: async ({ params, query, res }) => {
        allow(res, "flag.read", params.name);
        return { status: 200, body: { changes: await flags.history(params.name, params.key, query.limit) } };
      },
    }),
    route({
      method: "post",
      path: "/v1/environments/:name/flags/:key/ramps",
      summary: "Ramp the flag's rollout up in steps with pauses, like a canary; with analysis, a failing metric switches the flag off.",
      action: "flag.write",
      params: flagParams,
      body: flagRampSchema,
      success: 202,
      errors: ["validation_failed", "flag_has_no_rollout", "flag_disabled", "ramp_steps_not_rising", "ramp_in_progress", ...FLAG_ERRORS],
      handle: async ({ params, body, res }) => {
        allow(res, "flag.write", params.name);
        metricProviders.check(params.name, body.analysis ? [body.analysis] : []);
        const ramp = await ramps.create(params.name, params.key, body, tokenActor(p(res)));
        return { status: 202, body: ramp, location: `/v1/flag-ramps/${ramp.id}` };
      },
    }),
    route({
      method: "get",
      path: "/v1/environments/:name/flags/:key/ramps",
      summary: "The flag's ramps, newest first.",
      action: "flag.read",
      params: flagParams,
      success: 200,
      errors: ["environment_out_of_scope"],
      handle: async ({ params, res }) => {
        allow(res, "flag.read", params.name);
        return { status: 200, body: { ramps: await ramps.list(params.name, params.key) } };
      },
    }),
    route({
      method: "get",
      path: "/v1/flag-ramps/:id",
      summary: "A flag ramp: its state, the step it is at, and its events and measurements.",
      action: "flag.read",
      params: rampParams,
      success: 200,
      errors: ["ramp_not_found"],
      handle: async ({ params, res }) => ({ status: 200, body: await rampFor(res, params.id, "flag.read") }),
    }),
    ...(["abort", "resume"] as const).map((action) =>
      route({
        method: "post",
        path: `/v1/flag-ramps/:id/${action}`,
        summary: action === "abort" ? "Stop the ramp and put the rollout back where it began." : "Go on after an inconclusive analysis paused the ramp.",
        action: "flag.write",
        params: rampParams,
        body: action === "abort" ? abortSchema : emptySchema,
        success: 200,
        errors: ["ramp_not_found", action === "abort" ? "ramp_finished" : "ramp_not_paused", "ramp_busy"],
        handle: async ({ params, body, res }) => {
          await rampFor(res, params.id, "flag.write");
          const actor = tokenActor(p(res));
          return { status: 200, body: action === "abort" ? await ramps.abort(params.id, actor, (body as { reason?: string }).reason) : await ramps.resume(params.id, actor) };
        },
      }),
    ),
  ];

  /** A ramp, if the caller may see its environment (404 otherwise), checked for `role`. */
  async function rampFor(res: Response, id: string, action: Action) {
    const ramp = await ramps.get(id);
    if (!tokens.canSee(p(res), ramp.environment)) throw new NotFoundError("ramp_not_found", `no flag ramp ${id}`, { ramp: id });
    allow(res, action, ramp.environment);
    return ramp;
  }
}

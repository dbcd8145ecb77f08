// Maintenance of an environment: its balancer answers with a 503 page, or
// holds requests, until maintenance ends. Both changes are queued in the
// environment's lane and answered 202 with the operation to follow.
import { z } from "zod";
import { tokenActor } from "../audit/audit-log";
import type { Authorization } from "../auth/authorization";
import { MAX_HOLD_MS, MAX_MESSAGE, MAX_RETRY_AFTER_S, maintenanceRequest, type EnvironmentMaintenance } from "../environments/environment-maintenance";
import { principalOf } from "./authentication";
import { durationWithin } from "./duration-schema";
import { route, type Route } from "./route-table";
import { nameParams } from "./schemas";


export const maintenanceSchema = z.strictObject({
  mode: z.enum(["page", "hold"]).default("page"),
  retryAfter: durationWithin(0, MAX_RETRY_AFTER_S * 1000, "at most 24h").optional(),
  holdTimeout: durationWithin(1, MAX_HOLD_MS, "between 1ms and 5m").default("30s"),
  message: z
    .string()
    .max(MAX_MESSAGE)
    .refine((m) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(m), "no control characters")
    .optional(),
});

const ERRORS = ["validation_failed", "environment_not_found", "environment_out_of_scope", "environment_not_ready", "maintenance_unsupported"];

export function maintenanceRoutes(maintenance: EnvironmentMaintenance, authorization: Authorization): Route[] {
  return [
    route({
      method: "post",
      path: "/v1/environments/:name/maintenance",
      summary:
        "Put the environment in maintenance: its balancer answers every request with a 503 page (`mode: page`, with Retry-After), or holds each until maintenance ends or `holdTimeout` passes (`mode: hold`). Kept through every later deployment until it is turned off.",
      action: "environment.maintenance",
      params: nameParams,
      body: maintenanceSchema,
      success: 202,
      errors: ERRORS,
      audit: "environment.maintenance_on",
      handle: async ({ params, body, res }) => {
        authorization.authorize(principalOf(res), "environment.maintenance", params.name);
        const op = await maintenance.request(params.name, maintenanceRequest(body), tokenActor(principalOf(res)));
        return { status: 202, body: op, location: `/v1/operations/${op.id}` };
      },
    }),
    route({
      method: "delete",
      path: "/v1/environments/:name/maintenance",
      summary: "End the environment's maintenance: requests reach its fleets again, held ones first.",
      action: "environment.maintenance",
      params: nameParams,
      success: 202,
      errors: ERRORS,
      audit: "environment.maintenance_off",
      handle: async ({ params, res }) => {
        authorization.authorize(principalOf(res), "environment.maintenance", params.name);
        const op = await maintenance.request(params.name, maintenanceRequest(undefined), tokenActor(principalOf(res)));
        return { status: 202, body: op, location: `/v1/operations/${op.id}` };
      },
    }),
  ];
}

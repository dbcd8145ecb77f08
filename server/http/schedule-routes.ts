// Schedules (refresh, repave, deploy, destroy on a cron), their runs, and
// on-demand refresh operations.
import type { Response } from "express";
import { z } from "zod";
import { tokenActor } from "../audit/audit-log";
import type { Principal, TokenService } from "../auth/token-service";
import { scheduleAction, type Authorization } from "../auth/authorization";
import { analysesOf, type MetricProviders } from "../analysis/metric-providers";
import type { EnvironmentRefresh } from "../environments/environment-refresh";
import { NotFoundError } from "../errors";
import type { ScheduleService } from "../schedules/schedule-service";
import { principalOf } from "./authentication";
import { route, type Route } from "./route-table";
import { nameParams, strategySchema, version } from "./schemas";
import { duration } from "./duration-schema";
import { maintenanceSchema } from "./maintenance-routes";

const common = {
  cron: z.string().min(9).max(120).describe('"0 3 * * *", or six fields with seconds first: "*/10 * * * * *"'),
  timezone: z.string().min(1).max(64).default("UTC").describe("an IANA time zone, e.g. Europe/Berlin"),
  startingDeadline: duration.default("10m").describe("a run due while the server was down still starts this long after its time; later it is recorded missed"),
};
const createScheduleSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("refresh"), ...common, onDrift: z.enum(["report", "repave"]).default("report") }),
  z.strictObject({ kind: z.literal("repave"), ...common }),
  z.strictObject({ kind: z.literal("destroy"), ...common }),
  z.strictObject({ kind: z.literal("deploy"), ...common, deployment: z.strictObject({ version, strategy: strategySchema.optional() }) }),
  z.strictObject({
    kind: z.literal("maintenance"),
    ...common,
    maintenance: z.discriminatedUnion("on", [maintenanceSchema.extend({ on: z.literal(true) }), z.strictObject({ on: z.literal(false) })]),
  }),
]);
const scheduleParams = z.strictObject({ id: z.string().regex(/^sch_[0-9a-f]{16}$/, "a schedule id") });
const operationParams = z.strictObject({ id: z.string().regex(/^op_[0-9a-f]{16}$/, "an operation id") });
const runsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });
const refreshSchema = z.strictObject({ onDrift: z.enum(["report", "repave"]).default("report") });

export function scheduleRoutes(
  schedules: ScheduleService,
  refresh: EnvironmentRefresh,
  tokens: TokenService,
  authorization: Authorization,
  metricProviders: MetricProviders,
): Route[] {
  const p = (res: Response): Principal => principalOf(res);
  /** A schedule, if the caller may see its environment (404 otherwise); changing it needs what creating one of its kind needs. */
  const scheduleFor = async (res: Response, id: string, intent: "read" | "change") => {
    const s = await schedules.get(id);
    if (!tokens.canSee(p(res), s.environment)) throw new NotFoundError("schedule_not_found", `no schedule with id ${id}`, { schedule: id });
    authorization.authorize(p(res), intent === "read" ? "schedule.read" : scheduleAction(s.kind), s.environment);
    return s;
  };
  const SCHEDULE_ERRORS = ["schedule_not_found", "environment_out_of_scope", "insufficient_role"];
  return [
    route({
      method: "post",
      path: "/v1/environments/:name/schedules",
      summary: "Schedule a refresh, repave, deploy, maintenance window or destroy (admin) of the environment on a cron expression in a time zone.",
      role: "deployer",
      params: nameParams,
      body: createScheduleSchema,
      success: 201,
      errors: ["validation_failed", "environment_not_found", "environment_out_of_scope", "invalid_cron", "invalid_timezone"],
      audit: "schedule.create",
      handle: async ({ params, body, res }) => {
        authorization.authorize(p(res), scheduleAction(body.kind), params.name);
        if (body.kind === "deploy") metricProviders.check(params.name, analysesOf(body.deployment.strategy));
        const s = await schedules.create(params.name, body, tokenActor(p(res)));
        return { status: 201, body: s, location: `/v1/schedules/${s.id}` };
      },
    }),
    route({
      method: "get",
      path: "/v1/environments/:name/schedules",
      summary: "The environment's schedules, with their next run (UTC).",
      action: "schedule.read",
      params: nameParams,
      success: 200,
      errors: ["environment_out_of_scope"],
      handle: async ({ params, res }) => {
        authorization.authorize(p(res), "schedule.read", params.name);
        return { status: 200, body: { schedules: await schedules.list(params.name) } };
      },
    }),
    route({
      method: "get",
      path: "/v1/schedules/:id",
      summary: "A schedule.",
      action: "schedule.read",
      params: scheduleParams,
      success: 200,
      errors: SCHEDULE_ERRORS,
      handle: async ({ params, res }) => ({ status: 200, body: await scheduleFor(res, params.id, "read") }),
    }),
    ...(["pause", "resume"] as const).map((action) =>
      route({
        method: "post",
        path: `/v1/schedules/:id/${action}`,
        summary: action === "pause" ? "Stop a schedule from firing." : "Let a paused schedule fire again, from now on (missed times are not made up).",
        role: "deployer",
        params: scheduleParams,
        success: 200,
        errors: SCHEDULE_ERRORS,
        audit: `schedule.${action}`,
        handle: async ({ params, res }) => {
          const s = await scheduleFor(res, params.id, "change");
          return { status: 200, body: { ...(await schedules[action](params.id)), environment: s.environment } };
        },
      }),
    ),
    route({
      method: "delete",
      path: "/v1/schedules/:id",
      summary: "Delete a schedule; its past runs are kept.",
      role: "deployer",
      params: scheduleParams,
      success: 204,
      errors: SCHEDULE_ERRORS,
      audit: "schedule.delete",
      handle: async ({ params, res }) => {
        await scheduleFor(res, params.id, "change");
        await schedules.remove(params.id);
        return { status: 204 };
      },
    }),
    route({
      method: "get",
      path: "/v1/schedules/:id/runs",
      summary: "The schedule's runs, newest first: running, succeeded, failed, missed or skipped, with what each started.",
      action: "schedule.read",
      params: scheduleParams,
      query: runsQuery,
      success: 200,
      errors: SCHEDULE_ERRORS,
      handle: async ({ params, query, res }) => {
        await scheduleFor(res, params.id, "read");
        return { status: 200, body: { runs: await schedules.runs(params.id, query.limit) } };
      },
    }),
    route({
      method: "post",
      path: "/v1/environments/:name/refresh",
      summary: "Refresh the environment from reality and record any drift; queued behind its other work.",
      action: "environment.refresh",
      params: nameParams,
      body: refreshSchema,
      success: 202,
      errors: ["environment_not_found", "environment_out_of_scope", "environment_not_ready"],
      audit: "environment.refresh",
      handle: async ({ params, body, res }) => {
        authorization.authorize(p(res), "environment.refresh", params.name);
        const op = await refresh.request(params.name, body.onDrift, tokenActor(p(res)));
        return { status: 202, body: op, location: `/v1/operations/${op.id}` };
      },
    }),
    route({
      method: "get",
      path: "/v1/operations/:id",
      summary: "An environment operation (refresh): its state, the drift it found, the repave it queued.",
      role: "viewer",
      params: operationParams,
      success: 200,
      errors: ["operation_not_found"],
      handle: async ({ params, res }) => {
        const op = await refresh.get(params.id);
        if (!tokens.canSee(p(res), op.environment)) throw new NotFoundError("operation_not_found", `no operation with id ${params.id}`, { operation: params.id });
        return { status: 200, body: op };
      },
    }),
  ];
}

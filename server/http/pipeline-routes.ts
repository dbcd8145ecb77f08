// The HTTP API for pipelines (and the releases they carry): declare one, see each stage's live release
// and what may come next, promote. A promotion answers like a deployment.
import { tokenActor } from "../audit/audit-log";
import { analysesOf, type MetricProviders } from "../analysis/metric-providers";
import type { Principal, TokenService } from "../auth/token-service";
import type { Authorization } from "../auth/authorization";
import { NotFoundError } from "../errors";
import type { EnvironmentService } from "../environments/environment-service";
import type { Pipeline } from "../releases/pipeline";
import type { PipelineService } from "../releases/pipeline-service";
import type { ReleaseService } from "../releases/release-service";
import type { Release } from "../releases/release";
import { principalOf } from "./authentication";
import { route, type Route } from "./route-table";
import { dryRunQuery } from "./schemas";
import { releaseRoutes } from "./release-routes";
import { holdParams, pipelineParams, promoteSchema, putPipelineSchema } from "./release-schemas";

export interface PipelineRouteDeps {
  pipelines: PipelineService;
  releases: ReleaseService;
  environments: EnvironmentService;
  tokens: TokenService;
  authorization: Authorization;
  metricProviders: MetricProviders;
}

/** The release routes, and the pipeline routes over them. */
const PROMOTE_ERRORS = ["validation_failed", "pipeline_not_found", "stage_not_found", "release_not_found", "promotion_not_eligible", "promotion_denied", "release_not_promoted_upstream", "release_out_of_scope"];

export function pipelineRoutes(deps: PipelineRouteDeps): Route[] {
  const { pipelines, tokens, authorization } = deps;
  /** A pipeline the caller sees: one with a stage in its scope (stages outside it show only their environment's name). */
  const visible = async (p: Principal, name: string): Promise<Pipeline> => {
    const pipeline = await pipelines.get(name).catch(() => undefined);
    if (!pipeline || !pipeline.stages.some((s) => tokens.canSee(p, s.environment))) throw new NotFoundError("pipeline_not_found", `no pipeline named ${name}`, { pipeline: name });
    return pipeline;
  };
  const view = async (p: Principal, pipeline: Pipeline) => ({
    name: pipeline.name,
    updatedAt: pipeline.updatedAt,
    stages: (await pipelines.view(pipeline)).map((s) => (tokens.canSee(p, s.environment) ? s : { environment: s.environment, hidden: true })),
  });

  return [
    ...releaseRoutes(deps.releases),
    route({
      method: "put",
      path: "/v1/pipelines/:name",
      summary: "Declare (or replace) a pipeline: its stages in order, each with its soak and strategy.",
      action: "pipeline.write",
      params: pipelineParams,
      body: putPipelineSchema,
      success: 201,
      errors: ["validation_failed", "invalid_cron", "invalid_timezone", "environment_not_found", "environment_out_of_scope"],
      audit: "pipeline.put",
      handle: async ({ params, body, res }) => {
        const p = principalOf(res);
        // Replacing a pipeline changes every stage it had: the caller must reach those too.
        const before = await pipelines.get(params.name).catch(() => undefined);
        for (const stage of before?.stages ?? []) authorization.authorize(p, "pipeline.write", stage.environment);
        for (const stage of body.stages) {
          authorization.authorize(p, "pipeline.write", stage.environment);
          deps.metricProviders.check(stage.environment, analysesOf(stage.strategy));
        }
        const { pipeline, created } = await pipelines.put(params.name, body.stages, tokenActor(p));
        return { status: created ? 201 : 200, body: await view(p, pipeline), location: `/v1/pipelines/${pipeline.name}` };
      },
    }),
    route({
      method: "get",
      path: "/v1/pipelines",
      summary: "Pipelines with a stage in the token's scope.",
      action: "pipeline.read",
      success: 200,
      handle: async ({ res }) => {
        const p = principalOf(res);
        const all = (await pipelines.list()).filter((pl) => pl.stages.some((s) => tokens.canSee(p, s.environment)));
        return { status: 200, body: { pipelines: all.map((pl) => ({ name: pl.name, stages: pl.stages.map((s) => s.environment), updatedAt: pl.updatedAt })) } };
      },
    }),
    route({
      method: "get",
      path: "/v1/pipelines/:name",
      summary: "Each stage: the release live there, and what may come next and why (or why not).",
      action: "pipeline.read",
      params: pipelineParams,
      success: 200,
      errors: ["pipeline_not_found"],
      handle: async ({ params, res }) => {
        const p = principalOf(res);
        return { status: 200, body: await view(p, await visible(p, params.name)) };
      },
    }),
    route({
      method: "post",
      path: "/v1/pipelines/:name/promote",
      summary: "Promote into a stage: the release named, or what is live and soaked in the stage before. Answers with the deployment; with ?dryRun=true, with what it would do (200), nothing queued.",
      action: "deployment.create",
      params: pipelineParams,
      query: dryRunQuery,
      body: promoteSchema,
      success: 202,
      errors: PROMOTE_ERRORS,
      audit: "pipeline.promote",
      handle: async ({ params, query, body, res }) => {
        const p = principalOf(res);
        const pipeline = await visible(p, params.name);
        if (!pipeline.stages.some((s) => s.environment === body.to)) throw new NotFoundError("stage_not_found", `pipeline ${pipeline.name} has no stage ${body.to}`, { stage: body.to });
        authorization.authorize(p, "deployment.create", body.to);
        if (body.force) authorization.authorize(p, "promotion.force", body.to);
        const { target } = (await deps.environments.record(body.to)).spec;
        const release = body.release ? await deps.releases.get(body.release, p.environments) : undefined;
        const asked = { release, force: body.force, reason: body.reason };
        const mayRun = (r: Release) => authorization.authorizeRelease(r, target, body.to);
        if (query.dryRun === "true") return { status: 200, body: await pipelines.previewPromotion(pipeline, body.to, asked, tokenActor(p), mayRun, { preview: query.preview !== "false" }), changedNothing: true };
        const d = await pipelines.promote(pipeline, body.to, asked, tokenActor(p), mayRun);
        return { status: 202, body: d, location: `/v1/deployments/${d.id}` };
      },
    }),
    route({
      method: "delete",
      path: "/v1/pipelines/:name/holds/:stage",
      summary: "Let automatic promotion into a stage go on again after someone promoted an older release there by hand.",
      action: "deployment.create",
      params: holdParams,
      success: 204,
      errors: ["pipeline_not_found", "hold_not_found", "environment_out_of_scope"],
      audit: "pipeline.release_hold",
      handle: async ({ params, res }) => {
        const p = principalOf(res);
        const pipeline = await visible(p, params.name);
        authorization.authorize(p, "deployment.create", params.stage);
        await pipelines.releaseHold(pipeline, params.stage);
        return { status: 204 };
      },
    }),
  ];
}

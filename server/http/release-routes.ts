// The HTTP API for releases: record one, list them, show one. A release is
// never changed; asking to record the same one again answers with it.
import { tokenActor } from "../audit/audit-log";
import type { ReleaseService } from "../releases/release-service";
import { principalOf } from "./authentication";
import { route, type Route } from "./route-table";
import { createReleaseSchema, listReleasesQuery, releaseParams } from "./release-schemas";

export function releaseRoutes(releases: ReleaseService): Route[] {
  return [
    route({
      method: "post",
      path: "/v1/releases",
      summary: "Record a release (version, artifact, pre-deploy job, provenance); the same request again answers with it (200).",
      action: "release.create",
      body: createReleaseSchema,
      success: 201,
      errors: ["validation_failed", "release_exists"],
      audit: "release.create",
      handle: async ({ body, res }) => {
        const p = principalOf(res);
        const { release, created } = await releases.create(body, tokenActor(p), p.environments);
        return { status: created ? 201 : 200, body: release, location: `/v1/releases/${release.id}` };
      },
    }),
    route({
      method: "get",
      path: "/v1/releases",
      summary: "Releases the token's scope may deploy somewhere, newest first.",
      action: "release.read",
      query: listReleasesQuery,
      success: 200,
      handle: async ({ query, res }) => ({ status: 200, body: { releases: await releases.list(query, principalOf(res).environments) } }),
    }),
    route({
      method: "get",
      path: "/v1/releases/:id",
      summary: "One release.",
      action: "release.read",
      params: releaseParams,
      success: 200,
      errors: ["release_not_found"],
      handle: async ({ params, res }) => ({ status: 200, body: await releases.get(params.id, principalOf(res).environments) }),
    }),
  ];
}

// The change stream live views follow (the web UI): what changed, by
// environment and kind, across the environments the caller can see.
import type { TokenService } from "../auth/token-service";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { DeploymentRepository } from "../deployments/ports";
import { principalOf } from "./authentication";
import { streamChanges } from "./event-stream";
import { route, type Route } from "./route-table";

export function changeRoutes(deps: { tokens: TokenService; deploymentStore: DeploymentRepository; bus: DomainEventBus }): Route[] {
  const { tokens } = deps;
  return [
    route({
      method: "get",
      path: "/v1/changes",
      summary: "Server-Sent Events naming what changed (environment, deployment, kind) across the environments the caller can see, for live views.",
      role: "viewer",
      success: 200,
      handle: ({ req, res }) => {
        const p = principalOf(res);
        // A session or token revoked meanwhile ends the stream at its next heartbeat.
        const stillValid = async () => p.id.startsWith("oidc:") || (await tokens.principalById(p.id)) !== undefined;
        streamChanges(req, res, (env) => tokens.canSee(p, env), deps.deploymentStore, deps.bus, stillValid);
        return undefined;
      },
    }),
  ];
}

// /openapi.json, generated from the route table and its zod schemas.
import { z } from "zod";
import type { Route } from "./route-table";

const errorSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" }, details: { type: "object" } },
    },
  },
};

const toOpenApiPath = (p: string) => p.replace(/:([A-Za-z]+)/g, "{$1}");

function parameters(r: Route) {
  const out: unknown[] = [];
  for (const [where, schema] of [
    ["path", r.params],
    ["query", r.query],
  ] as const) {
    if (!schema) continue;
    const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, unknown>; required?: string[] };
    for (const [name, s] of Object.entries(json.properties ?? {})) {
      out.push({ name, in: where, required: where === "path" || (json.required ?? []).includes(name), schema: s });
    }
  }
  return out;
}

export function openApiDocument(routes: Route[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = toOpenApiPath(r.path);
    paths[path] ??= {};
    paths[path][r.method] = {
      summary: r.summary,
      description: r.action ? `Action ${r.action}: requires the ${r.role} role in the environment's scope.` : `Requires the ${r.role} role.`,
      security: [{ bearer: [] }],
      parameters: parameters(r),
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: z.toJSONSchema(r.body, { io: "input", unrepresentable: "any" }) } },
            },
          }
        : {}),
      responses: {
        [r.success]: { description: "success" },
        default: {
          description: `error; codes include ${["unauthenticated", "invalid_token", "insufficient_role", ...r.errors].join(", ")}`,
          content: { "application/json": { schema: errorSchema } },
        },
      },
    };
  }
  const chat = (summary: string) => ({
    post: {
      summary,
      description: "Verified by the chat provider's signature or token, not a bearer token. Answers a chat message.",
      requestBody: { required: true, content: { "application/x-www-form-urlencoded": { schema: { type: "object" } } } },
      responses: { 200: { description: "a chat message" }, 401: { description: "invalid_signature", content: { "application/json": { schema: errorSchema } } } },
    },
  });
  paths["/v1/chatops/slack/commands"] = chat("A Slack slash command, signed with the app's signing secret.");
  paths["/v1/chatops/slack/interactions"] = chat("A Slack button press (block_actions), signed with the app's signing secret.");
  paths["/v1/chatops/mattermost/commands"] = chat("A Mattermost slash command, with the command's token.");
  paths["/healthz"] = { get: { summary: "Liveness; needs no token.", responses: { 200: { description: "ok" } } } };
  paths["/metrics"] = { get: { summary: "Prometheus metrics.", security: [{ bearer: [] }], responses: { 200: { description: "text" } } } };
  return {
    openapi: "3.1.0",
    info: { title: "Cutover", version, description: "Blue/green and canary deployments of immutable fleets." },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    paths,
  };
}

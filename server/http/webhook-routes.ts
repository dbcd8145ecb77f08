// Outgoing webhooks: register (the signing secret is in the answer only),
// list, inspect deliveries, redeliver, delete.
import { z } from "zod";
import type { Response } from "express";
import type { WebhookService } from "../webhooks/webhook-service";
import { WEBHOOK_EVENTS } from "../webhooks/ports";
import { principalOf } from "./authentication";
import { route, type Route } from "./route-table";
import { environmentScope } from "./schemas";

const createWebhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2048).describe("where deliveries are POSTed"),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length),
  environments: environmentScope
    .optional()
    .describe("only events of these environments; absent means all"),
  format: z.enum(["standard", "slack"]).default("standard").describe("`slack`: a Block Kit message for a Slack incoming webhook"),
  description: z.string().min(1).max(200).optional(),
});
const webhookParams = z.strictObject({ id: z.string().regex(/^wh_[0-9a-f]{16}$/, "a webhook id") });
const deliveryParams = webhookParams.extend({ deliveryId: z.string().regex(/^msg_[0-9a-f]{24}$/, "a delivery id") });
const deliveriesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });

export function webhookRoutes(webhooks: WebhookService): Route[] {
  const caller = (res: Response) => principalOf(res);
  return [
    route({
      method: "post",
      path: "/v1/webhooks",
      summary: "Register a webhook; its signing secret (whsec_…) is in this response only.",
      role: "admin",
      body: createWebhookSchema,
      success: 201,
      errors: ["validation_failed", "webhook_target_forbidden", "webhook_scope_exceeds_own"],
      audit: "webhook.create",
      handle: async ({ body, res }) => {
        const { webhook, secret } = await webhooks.create(caller(res), body);
        return { status: 201, body: { ...webhook, secret }, location: `/v1/webhooks/${webhook.id}` };
      },
    }),
    route({
      method: "get",
      path: "/v1/webhooks",
      summary: "The webhooks within the caller's scope (never their secrets).",
      role: "admin",
      success: 200,
      handle: async ({ res }) => ({ status: 200, body: { webhooks: await webhooks.list(caller(res)) } }),
    }),
    route({
      method: "get",
      path: "/v1/webhooks/:id",
      summary: "A webhook; `disabledAt` and `disabledReason` once a receiver answered 410 Gone.",
      role: "admin",
      params: webhookParams,
      success: 200,
      errors: ["webhook_not_found"],
      handle: async ({ params, res }) => ({ status: 200, body: await webhooks.get(caller(res), params.id) }),
    }),
    route({
      method: "delete",
      path: "/v1/webhooks/:id",
      summary: "Delete a webhook and its deliveries.",
      role: "admin",
      params: webhookParams,
      success: 204,
      errors: ["webhook_not_found"],
      audit: "webhook.delete",
      handle: async ({ params, res }) => {
        await webhooks.remove(caller(res), params.id);
        return { status: 204 };
      },
    }),
    route({
      method: "get",
      path: "/v1/webhooks/:id/deliveries",
      summary: "The webhook's deliveries, newest first, each with its attempts and next attempt.",
      role: "admin",
      params: webhookParams,
      query: deliveriesQuery,
      success: 200,
      errors: ["webhook_not_found"],
      handle: async ({ params, query, res }) => ({ status: 200, body: { deliveries: await webhooks.deliveries(caller(res), params.id, query.limit) } }),
    }),
    route({
      method: "post",
      path: "/v1/webhooks/:id/deliveries/:deliveryId/redeliver",
      summary: "Send a delivery again, with the same webhook-id.",
      role: "admin",
      params: deliveryParams,
      success: 202,
      errors: ["webhook_not_found", "delivery_not_found"],
      audit: "webhook.redeliver",
      handle: async ({ params, res }) => ({ status: 202, body: await webhooks.redeliver(caller(res), params.id, params.deliveryId) }),
    }),
  ];
}

// Standard Webhooks signing (standardwebhooks.com): `webhook-signature:
// v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
// base64 part of a `whsec_` secret. Receivers verify with any of the
// standard's libraries.
import { createHmac, randomBytes } from "node:crypto";
import { parseDuration } from "../../infra/duration";

export const newWebhookSecret = (): string => `whsec_${randomBytes(24).toString("base64")}`;

export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret, "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`;
}

export function webhookHeaders(secret: string, id: string, body: string, now = new Date()): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signWebhook(secret, id, timestamp, body),
  };
}

/** The standard's recommended retry schedule: after the first attempt, 5s, 5m, 30m, 2h, 5h, 10h, 10h. */
export const DEFAULT_RETRY_SCHEDULE_MS = ["5s", "5m", "30m", "2h", "5h", "10h", "10h"].map(parseDuration);

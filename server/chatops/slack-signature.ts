// Slack's request signing: `v0=` HMAC-SHA256 of `v0:{timestamp}:{raw body}`
// with the app's signing secret, compared in constant time, and refused
// when the timestamp is more than five minutes from now (replays).
import { createHmac, timingSafeEqual } from "node:crypto";

export const SLACK_MAX_AGE_SECONDS = 5 * 60;

export type SlackVerdict = { ok: true } | { ok: false; reason: "missing_signature" | "stale_timestamp" | "bad_signature" };

export function slackSignature(secret: string, timestamp: string, rawBody: Buffer | string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:`).update(rawBody).digest("hex")}`;
}

export function verifySlackRequest(
  secret: string,
  headers: { timestamp?: string; signature?: string },
  rawBody: Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): SlackVerdict {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature) return { ok: false, reason: "missing_signature" };
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > SLACK_MAX_AGE_SECONDS) {
    return { ok: false, reason: "stale_timestamp" };
  }
  const expected = Buffer.from(slackSignature(secret, timestamp, rawBody));
  const given = Buffer.from(signature);
  // Lengths are public (a v0= hex digest); only equal-length buffers reach the constant-time compare.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "bad_signature" };
  return { ok: true };
}

/** Mattermost's slash commands carry a per-command token: compared in constant time, by digest so lengths do not leak. */
export function verifyCommandToken(expected: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = createHmac("sha256", "cutover-token-compare").update(expected).digest();
  const b = createHmac("sha256", "cutover-token-compare").update(given).digest();
  return timingSafeEqual(a, b);
}

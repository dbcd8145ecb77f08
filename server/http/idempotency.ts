// Idempotency-Key on POSTs: a retried request gets the original response
// and starts nothing new. Keys are per principal; reusing one for a
// different request is an error. A key is claimed in the journal before the
// request runs, so the same key sent to two replicas at once runs once.
import { createHash } from "node:crypto";
import type { RequestHandler } from "express";
import { ConflictError, InputError, UnprocessableError } from "../errors";
import { principalOf } from "./authentication";
import { REDACTED, redactArtifactEnv, redactGateUrls } from "./redaction";

export interface StoredResponse {
  method: string;
  path: string;
  requestHash: string;
  /** 0 while the request that claimed the key is still running. */
  status: number;
  body: unknown;
  createdAt?: string;
}

/** Where idempotency keys live: a unique (principal, key) shared by every replica. */
export interface IdempotencyRepository {
  /** Records a pending claim; false when the key already exists. */
  claim(principal: string, key: string, r: { method: string; path: string; requestHash: string }): Promise<boolean>;
  get(principal: string, key: string): Promise<StoredResponse | undefined>;
  complete(principal: string, key: string, r: { status: number; body: unknown }): Promise<void>;
  /** Forgets a pending claim whose request produced nothing worth replaying. */
  release(principal: string, key: string): Promise<void>;
  prune(olderThan: Date): Promise<void>;
}

const REPLAY_NOTE =
  "secret values (a new token, a webhook's secret and URL, an environment's force key, artifact env values, gate URLs' query strings) appear only in the original response and are not kept for replays";
// A claim still pending after this long belongs to a replica that died mid-request.
const STALE_CLAIM_MS = 60_000;

/** What is kept of a response for replays: everything but its secrets. Returns whether something was left out. */
function storable(body: unknown): { body: unknown; redacted: boolean } {
  let stored = redactGateUrls(redactArtifactEnv(body));
  if (stored && typeof stored === "object" && !Array.isArray(stored) && ("token" in stored || "secret" in stored || "forceKey" in stored)) {
    const { token: _token, secret: _secret, forceKey: _forceKey, ...rest } = stored as Record<string, unknown>;
    stored = rest;
  }
  // A webhook's URL is often itself a credential (a Slack incoming webhook): it is kept sealed with the webhook, not here.
  if (stored && typeof stored === "object" && !Array.isArray(stored) && typeof (stored as { id?: unknown }).id === "string" && (stored as { id: string }).id.startsWith("wh_")) {
    stored = { ...(stored as Record<string, unknown>), url: REDACTED };
  }
  return { body: stored, redacted: JSON.stringify(stored) !== JSON.stringify(body) };
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function idempotency(store: IdempotencyRepository): RequestHandler {
  return async (req, res, next) => {
    const key = req.get("idempotency-key");
    if (req.method !== "POST" || key === undefined) return next();
    if (!KEY_PATTERN.test(key)) {
      throw new InputError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
    const principal = principalOf(res).id;
    const requestHash = createHash("sha256")
      .update(`${req.method} ${req.originalUrl}\n${JSON.stringify(req.body ?? {})}`)
      .digest("hex");
    let claimed = await store.claim(principal, key, { method: req.method, path: req.originalUrl, requestHash });
    if (!claimed) {
      const stored = await store.get(principal, key);
      if (stored && stored.requestHash !== requestHash) {
        throw new UnprocessableError("idempotency_key_reused", "this Idempotency-Key was used for a different request", {
          originalPath: stored.path,
        });
      }
      if (stored && stored.status !== 0) {
        res.setHeader("Idempotent-Replayed", "true");
        res.status(stored.status).json(stored.body);
        return;
      }
      const stale = !stored || Date.now() - Date.parse(stored.createdAt ?? "") > STALE_CLAIM_MS;
      if (stale) {
        await store.release(principal, key);
        claimed = await store.claim(principal, key, { method: req.method, path: req.originalUrl, requestHash });
      }
      if (!claimed) throw new ConflictError("idempotency_key_in_use", "a request with this Idempotency-Key is still being processed");
    }
    let settled = false;
    res.on("close", () => {
      if (!settled) void store.release(principal, key).catch(() => undefined);
    });
    const json = res.json.bind(res);
    // The response is kept before it is sent, so a retry that follows it at once finds it.
    res.json = (body: unknown) => {
      settled = true;
      const status = res.statusCode;
      const kept = storable(body);
      const replayBody = kept.redacted ? { ...(kept.body as object), replay: { redacted: true, note: REPLAY_NOTE } } : kept.body;
      const keep = status < 500 ? store.complete(principal, key, { status, body: replayBody }) : store.release(principal, key);
      void keep.catch(() => undefined).then(() => json(body));
      return res;
    };
    next();
  };
}

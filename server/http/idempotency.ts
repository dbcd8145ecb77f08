// Idempotency-Key on POSTs: a retried request gets the original response
// and starts nothing new. Keys are per principal; reusing one for a
// different request is an error.
import { createHash } from "node:crypto";
import type { RequestHandler } from "express";
import { ConflictError, InputError, UnprocessableError } from "../errors";
import type { IdempotencyStore } from "../store/idempotency-store";
import { principalOf } from "./authentication";
import { redactArtifactEnv } from "./redaction";

const REPLAY_NOTE = "secret values (a new token, artifact env values) appear only in the original response and are not kept for replays";

/** What is kept of a response for replays: everything but its secrets. Returns whether something was left out. */
function storable(body: unknown): { body: unknown; redacted: boolean } {
  let stored = redactArtifactEnv(body);
  if (stored && typeof stored === "object" && !Array.isArray(stored) && "token" in stored) {
    const { token: _token, ...rest } = stored as Record<string, unknown>;
    stored = rest;
  }
  return { body: stored, redacted: JSON.stringify(stored) !== JSON.stringify(body) };
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function idempotency(store: IdempotencyStore): RequestHandler {
  const inFlight = new Set<string>();
  return (req, res, next) => {
    const key = req.get("idempotency-key");
    if (req.method !== "POST" || key === undefined) return next();
    if (!KEY_PATTERN.test(key)) {
      throw new InputError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
    const principal = principalOf(res).id;
    const requestHash = createHash("sha256")
      .update(`${req.method} ${req.originalUrl}\n${JSON.stringify(req.body ?? {})}`)
      .digest("hex");
    const stored = store.get(principal, key);
    if (stored) {
      if (stored.requestHash !== requestHash) {
        throw new UnprocessableError("idempotency_key_reused", "this Idempotency-Key was used for a different request", {
          originalPath: stored.path,
        });
      }
      res.setHeader("Idempotent-Replayed", "true");
      res.status(stored.status).json(stored.body);
      return;
    }
    const slot = `${principal}\n${key}`;
    if (inFlight.has(slot)) {
      throw new ConflictError("idempotency_key_in_use", "a request with this Idempotency-Key is still being processed");
    }
    inFlight.add(slot);
    res.on("close", () => inFlight.delete(slot));
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      if (res.statusCode < 500) {
        const kept = storable(body);
        const replayBody = kept.redacted ? { ...(kept.body as object), replay: { redacted: true, note: REPLAY_NOTE } } : kept.body;
        store.put(principal, key, { method: req.method, path: req.originalUrl, requestHash, status: res.statusCode, body: replayBody });
      }
      return json(body);
    };
    next();
  };
}

// OpenFeature's Remote Evaluation Protocol: any OpenFeature SDK's OFREP
// provider evaluates an environment's flags here. The protocol has its own
// error shapes ({key, errorCode, errorDetails}), so this router
// authenticates and answers errors itself instead of through the API's
// error handler. The environment is the token's, when it is scoped to
// exactly one, or the Cutover-Environment header's.
import { createHash } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Principal, TokenService } from "../auth/token-service";
import { CutoverError } from "../errors";
import { isFailure, type Evaluation, type EvaluationContext } from "../flags/flag-evaluation";
import type { FlagService } from "../flags/flag-service";
import type { Logger } from "../logger";
import { RateLimiter } from "./rate-limiter";
import { flagKey } from "./flag-schemas";
import { environmentName } from "./schemas";

export const ENVIRONMENT_HEADER = "cutover-environment";

export interface OfrepDeps {
  flags: FlagService;
  tokens: TokenService;
  logger: Logger;
  /** Evaluations a second per token, on average. */
  ratePerSecond: number;
  maxBodyBytes: number;
}

interface Caller {
  principal: Principal;
  environment: string;
}

class OfrepError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string | undefined,
    readonly errorDetails: string,
    readonly retryAfter?: number,
  ) {
    super(errorDetails);
  }
}

export function ofrepRouter(deps: OfrepDeps): express.Router {
  const router = express.Router();
  const limiter = new RateLimiter(deps.ratePerSecond, deps.ratePerSecond);
  const asCaller = (res: Response) => res.locals.ofrep as Caller;

  router.use("/ofrep", async (req: Request, res: Response, next: NextFunction) => {
    try {
      const principal = await deps.tokens.authenticate(req.get("authorization")).catch((err: unknown) => {
        throw new OfrepError(401, undefined, err instanceof CutoverError ? err.message : "authentication failed");
      });
      const environment = environmentOf(principal, req.get(ENVIRONMENT_HEADER));
      try {
        deps.tokens.authorizeFlagReads(principal, environment);
      } catch (err) {
        throw new OfrepError(403, undefined, err instanceof CutoverError ? err.message : "forbidden");
      }
      const wait = limiter.take(principal.id);
      if (wait > 0) throw new OfrepError(429, undefined, `too many evaluations for this token; retry in ${wait}s`, wait);
      res.locals.ofrep = { principal, environment } satisfies Caller;
      next();
    } catch (err) {
      next(err);
    }
  });
  router.use("/ofrep", express.json({ limit: deps.maxBodyBytes, strict: true, type: () => true }));

  router.post("/ofrep/v1/evaluate/flags/:key", async (req: Request, res: Response) => {
    const key = String(req.params.key);
    const parsedKey = flagKey.safeParse(key);
    const context = contextOf(req.body);
    if (!parsedKey.success) return void res.status(404).json({ key, errorCode: "FLAG_NOT_FOUND", errorDetails: `flag ${key} was not found` });
    const result = await deps.flags.evaluate(asCaller(res).environment, key, context);
    if (isFailure(result)) return void res.status(result.errorCode === "FLAG_NOT_FOUND" ? 404 : 400).json(result);
    res.status(200).json(result);
  });

  router.post("/ofrep/v1/evaluate/flags", async (req: Request, res: Response) => {
    const context = contextOf(req.body);
    const { environment } = asCaller(res);
    const flags: Evaluation[] = await deps.flags.evaluateAll(environment, context);
    const body = JSON.stringify({ flags, metadata: { environment } });
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    res.setHeader("ETag", etag);
    res.setHeader("Cache-Control", "no-cache");
    if (matchesEtag(req.get("if-none-match"), etag)) return void res.status(304).end();
    res.status(200).type("application/json").send(body);
  });

  router.use("/ofrep", (req: Request, res: Response) => {
    res.status(404).json({ errorDetails: `no OFREP route ${req.method} ${req.path}` });
  });

  router.use("/ofrep", (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const single = req.path.startsWith("/v1/evaluate/flags/") ? { key: decodeURIComponent(req.path.slice("/v1/evaluate/flags/".length)) } : {};
    if (err instanceof OfrepError) {
      if (err.status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="cutover"');
      if (err.retryAfter) res.setHeader("Retry-After", String(err.retryAfter));
      return void res.status(err.status).json({ ...(err.errorCode ? single : {}), ...(err.errorCode ? { errorCode: err.errorCode } : {}), errorDetails: err.errorDetails });
    }
    const type = (err as { type?: string } | undefined)?.type;
    if (type === "entity.parse.failed") return void res.status(400).json({ ...single, errorCode: "PARSE_ERROR", errorDetails: "the request body is not valid JSON" });
    if (type === "entity.too.large") return void res.status(413).json({ ...single, errorCode: "GENERAL", errorDetails: "the request body is too large" });
    deps.logger.error({ err, path: req.path }, "flag evaluation failed");
    res.status(500).json({ errorDetails: "an internal error occurred while evaluating flags" });
  });
  return router;
}

function environmentOf(principal: Principal, header: string | undefined): string {
  if (header !== undefined) {
    if (!environmentName.safeParse(header).success) throw new OfrepError(400, "GENERAL", "Cutover-Environment must name an environment");
    return header;
  }
  const scope = principal.environments;
  if (scope?.length === 1 && !scope[0].endsWith("*")) return scope[0];
  throw new OfrepError(400, "GENERAL", "this token covers more than one environment: name one in the Cutover-Environment header");
}

/** The evaluation context: an object whose targetingKey, when present, is a string. */
function contextOf(body: unknown): EvaluationContext {
  const fail = (details: string) => new OfrepError(400, "INVALID_CONTEXT", details);
  if (body === undefined || body === null || (typeof body === "object" && Object.keys(body).length === 0)) return {};
  if (typeof body !== "object" || Array.isArray(body)) throw new OfrepError(400, "PARSE_ERROR", "the request body must be an object: {\"context\": {…}}");
  const context = (body as { context?: unknown }).context;
  if (context === undefined) return {};
  if (typeof context !== "object" || context === null || Array.isArray(context)) throw fail("context must be an object");
  const targetingKey = (context as { targetingKey?: unknown }).targetingKey;
  if (targetingKey !== undefined && typeof targetingKey !== "string") throw fail("context.targetingKey must be a string");
  return context as EvaluationContext;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag || t.trim() === "*");
}

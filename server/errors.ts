// Domain errors. Each has a stable `code` a client can branch on and a
// message a person can read; none knows about HTTP. The error handler maps
// them to status codes.
export type ErrorDetails = Record<string, unknown>;

export abstract class CutoverError extends Error {
  abstract readonly kind: "input" | "auth" | "forbidden" | "not_found" | "conflict" | "unprocessable" | "internal";
  constructor(
    readonly code: string,
    message: string,
    readonly details?: ErrorDetails,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class InputError extends CutoverError {
  readonly kind = "input";
}
export class AuthenticationError extends CutoverError {
  readonly kind = "auth";
}
export class ForbiddenError extends CutoverError {
  readonly kind = "forbidden";
}
export class NotFoundError extends CutoverError {
  readonly kind = "not_found";
}
export class ConflictError extends CutoverError {
  readonly kind = "conflict";
}
export class UnprocessableError extends CutoverError {
  readonly kind = "unprocessable";
}

/** Reduces any thrown value to a message safe for the journal and for callers. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof CutoverError) return { code: err.code, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: "operation_failed", message: cleanEngineMessage(message) };
}

/**
 * Automation API errors carry the whole CLI invocation and output. Keep the
 * lines that say what went wrong, drop the command line and the noise.
 */
export function cleanEngineMessage(message: string): string {
  const lines = message
    .split("\n")
    .filter((l) => !/^\s*(cmd|code):/.test(l) && !l.includes("PULUMI_CONFIG_PASSPHRASE"))
    .map((l) => l.replace(/^\s*(stdout|stderr):\s?/, ""));
  const diagnostics = lines.filter((l) => /error:|failed|did not become healthy|keeps exiting|output:|^\s{2,}\S/.test(l));
  const text = (diagnostics.length ? diagnostics : lines.slice(0, 5)).join("\n").trim();
  return text.length > 4000 ? `${text.slice(0, 4000)}…` : text;
}

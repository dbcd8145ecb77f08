// The canary's verdict during a pause: compares the new pool's 5xx share
// since the pause began with the strategy's limit.
import { UnprocessableError } from "../errors";
import type { PoolStats } from "./deployment-target";
import type { Analysis, Color } from "./model";

export class CanaryAnalysisError extends UnprocessableError {
  constructor(
    message: string,
    readonly requests: number,
    readonly errors: number,
  ) {
    super("canary_analysis_failed", message);
  }
}

/** Throws CanaryAnalysisError when the canary failed; otherwise returns what it judged on. */
export function judgeCanary(
  analysis: Analysis,
  canary: Color,
  baseline: Record<Color, PoolStats>,
  now: Record<Color, PoolStats>,
): { requests: number; errors: number } {
  const requests = now[canary].requests - baseline[canary].requests;
  const errors = now[canary].errors - baseline[canary].errors;
  if (requests >= analysis.minRequests && errors / requests > analysis.maxErrorRate) {
    throw new CanaryAnalysisError(
      `the canary answered ${errors} of ${requests} requests with 5xx (limit ${analysis.maxErrorRate * 100}%)`,
      requests,
      errors,
    );
  }
  return { requests, errors };
}

// Evaluates one flag for one evaluation context: pure, synchronous, no I/O,
// so the hot path is a lookup and a hash. Order: the kill switch, then the
// rules in order, then the rollout, then the default variant.
import semver from "semver";
import type { Condition, Flag, VariantValue } from "./flag-model";
import { murmur3 } from "./murmur3";

export type EvaluationContext = Record<string, unknown>;

/** OpenFeature's reasons, as OFREP carries them. */
export type Reason = "DISABLED" | "TARGETING_MATCH" | "SPLIT" | "DEFAULT" | "STATIC";

export interface EvaluationSuccess {
  key: string;
  value: VariantValue;
  variant: string;
  reason: Reason;
  metadata: Record<string, string | number | boolean>;
}

/** OFREP's error codes a flag's evaluation can end in. */
export type EvaluationErrorCode = "FLAG_NOT_FOUND" | "TARGETING_KEY_MISSING" | "INVALID_CONTEXT" | "PARSE_ERROR" | "GENERAL";

export interface EvaluationFailure {
  key: string;
  errorCode: EvaluationErrorCode;
  errorDetails: string;
}

export type Evaluation = EvaluationSuccess | EvaluationFailure;

export const isFailure = (e: Evaluation): e is EvaluationFailure => "errorCode" in e;

/** Buckets 0–9999: a user's place on the rollout line for one flag. */
export function bucketOf(flag: Pick<Flag, "key" | "salt">, stickinessValue: string): number {
  return murmur3(`${flag.key}:${flag.salt}:${stickinessValue}`) % 10_000;
}

export function evaluateFlag(flag: Flag, context: EvaluationContext): Evaluation {
  const metadata = { environment: flag.environment, flagVersion: flag.version };
  const answer = (variant: string, reason: Reason): EvaluationSuccess => ({ key: flag.key, value: flag.variants[variant], variant, reason, metadata });
  if (!flag.enabled) return answer(flag.defaultVariant, "DISABLED");
  for (const rule of flag.rules) {
    if (rule.conditions.every((c) => matches(c, context[c.attribute]))) return answer(rule.variant, "TARGETING_MATCH");
  }
  const rollout = flag.rollout;
  if (rollout) {
    const sticky = context[rollout.stickiness];
    if (sticky === undefined || sticky === null || sticky === "") {
      if (rollout.stickiness === "targetingKey") {
        return { key: flag.key, errorCode: "TARGETING_KEY_MISSING", errorDetails: `flag ${flag.key} rolls out by targetingKey; the context has none` };
      }
      return answer(flag.defaultVariant, "DEFAULT");
    }
    if (typeof sticky !== "string" && typeof sticky !== "number") {
      return { key: flag.key, errorCode: "INVALID_CONTEXT", errorDetails: `context attribute ${rollout.stickiness} must be a string or a number` };
    }
    const inside = bucketOf(flag, String(sticky)) < Math.round(rollout.percentage * 100);
    return answer(inside ? rollout.variant : flag.defaultVariant, "SPLIT");
  }
  return answer(flag.defaultVariant, flag.rules.length ? "DEFAULT" : "STATIC");
}

/** A missing attribute matches only `not_in`. */
function matches(c: Condition, actual: unknown): boolean {
  if (actual === undefined || actual === null) return c.operator === "not_in";
  switch (c.operator) {
    case "in":
      return c.values.some((v) => same(v, actual));
    case "not_in":
      return !c.values.some((v) => same(v, actual));
    case "starts_with":
      return typeof actual === "string" && c.values.some((v) => actual.startsWith(String(v)));
    case "ends_with":
      return typeof actual === "string" && c.values.some((v) => actual.endsWith(String(v)));
    case "lt":
    case "lte":
    case "gt":
    case "gte": {
      const n = typeof actual === "number" ? actual : typeof actual === "string" && actual.trim() !== "" ? Number(actual) : NaN;
      const bound = Number(c.values[0]);
      if (!Number.isFinite(n)) return false;
      return c.operator === "lt" ? n < bound : c.operator === "lte" ? n <= bound : c.operator === "gt" ? n > bound : n >= bound;
    }
    default: {
      const version = typeof actual === "string" ? semver.valid(actual.replace(/^v/, "")) : null;
      if (!version) return false;
      const bound = String(c.values[0]).replace(/^v/, "");
      const cmp = semver.compare(version, bound);
      return { semver_eq: cmp === 0, semver_lt: cmp < 0, semver_lte: cmp <= 0, semver_gt: cmp > 0, semver_gte: cmp >= 0 }[c.operator];
    }
  }
}

function same(expected: string | number, actual: unknown): boolean {
  if (typeof actual === "number") return typeof expected === "number" ? expected === actual : Number(expected) === actual;
  return typeof actual === "string" || typeof actual === "boolean" ? String(expected) === String(actual) : false;
}

// Feature flags: what a flag is, as the domain keeps it. A flag belongs to
// one environment; its variants share one type; rules pick a variant by
// context attributes, in order; a rollout gives a variant to a sticky
// share of users. Nothing here knows HTTP or storage.
import type { Actor } from "../deployments/model";

export type VariantValue = boolean | string | number | Record<string, unknown> | unknown[];

export const OPERATORS = [
  "in",
  "not_in",
  "starts_with",
  "ends_with",
  "lt",
  "lte",
  "gt",
  "gte",
  "semver_eq",
  "semver_lt",
  "semver_lte",
  "semver_gt",
  "semver_gte",
] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Condition {
  /** A context attribute: `targetingKey`, `email`, `plan`, … */
  attribute: string;
  operator: Operator;
  /** The list `in`, `not_in`, `starts_with` and `ends_with` match against; one value for the comparisons. */
  values: (string | number)[];
}

export interface FlagRule {
  name?: string;
  /** Every condition must match. */
  conditions: Condition[];
  variant: string;
}

export interface FlagRollout {
  variant: string;
  /** 0–100, to a hundredth: the share of buckets 0–9999 below `percentage × 100`. */
  percentage: number;
  /** The context attribute users are hashed by. */
  stickiness: string;
}

/** What a caller sets. */
export interface FlagInput {
  enabled: boolean;
  description?: string;
  variants: Record<string, VariantValue>;
  defaultVariant: string;
  rules: FlagRule[];
  rollout?: FlagRollout;
}

export interface Flag extends FlagInput {
  environment: string;
  key: string;
  /** Hashed with the key and the user: kept across changes, so a user's bucket never moves. */
  salt: string;
  /** 1 on creation, one more on every change. */
  version: number;
  createdAt: string;
  updatedAt: string;
  updatedBy: Actor;
}

export type FlagAction = "create" | "update" | "enable" | "disable" | "delete" | "ramp";

/** One change of a flag, as its history keeps it. */
export interface FlagChange {
  id: number;
  environment: string;
  key: string;
  version: number;
  action: FlagAction;
  actor: Actor;
  at: string;
  /** The top-level fields this change set differently from the version before. */
  changed: string[];
  /** The flag after the change (absent for a deletion). */
  flag?: Flag;
  /** Why, when the change was made by Cutover itself (a ramp's analysis). */
  reason?: string;
}

export type VariantKind = "boolean" | "string" | "number" | "object";

export function kindOf(value: VariantValue): VariantKind {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "string") return "string";
  if (typeof value === "number") return "number";
  return "object";
}

// The shapes a flag is set in, checked at the edge; the flag service then
// checks what a schema cannot (variants named exist, one type for all).
import semver from "semver";
import { z } from "zod";
import { OPERATORS } from "../flags/flag-model";
import { environmentName, metricAnalysisSchema } from "./schemas";
import { duration } from "./duration-schema";

export const flagKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a flag key: letters, digits, dots, dashes and underscores, at most 128");
const variantName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a variant name: letters, digits, dots, dashes and underscores, at most 64");
const attribute = z.string().min(1).max(128);

const variantValue = z.union([z.boolean(), z.string().max(10_000), z.number().finite(), z.record(z.string(), z.unknown()), z.array(z.unknown())]);

const LIST_OPERATORS = new Set(["in", "not_in", "starts_with", "ends_with"]);
const conditionSchema = z
  .strictObject({
    attribute,
    operator: z.enum(OPERATORS),
    values: z.array(z.union([z.string().max(1000), z.number().finite()])).min(1).max(1000),
  })
  .superRefine((c, ctx) => {
    if (LIST_OPERATORS.has(c.operator)) return;
    if (c.values.length !== 1) ctx.addIssue({ code: "custom", path: ["values"], message: `${c.operator} compares with exactly one value` });
    const v = c.values[0];
    if (c.operator.startsWith("semver_")) {
      if (semver.valid(String(v).replace(/^v/, "")) === null) ctx.addIssue({ code: "custom", path: ["values", 0], message: `${c.operator} needs a semantic version such as 2.1.0` });
    } else if (typeof v !== "number") {
      ctx.addIssue({ code: "custom", path: ["values", 0], message: `${c.operator} compares with a number` });
    }
  });

export const percentage = z
  .number()
  .min(0)
  .max(100)
  .refine((p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-6, "a percentage to at most two decimals");

export const flagInputSchema = z.strictObject({
  enabled: z.boolean(),
  description: z.string().max(1000).optional(),
  variants: z
    .record(variantName, variantValue)
    .refine((v) => Object.keys(v).length >= 1 && Object.keys(v).length <= 100, "between 1 and 100 variants"),
  defaultVariant: variantName,
  rules: z
    .array(z.strictObject({ name: z.string().min(1).max(128).optional(), conditions: z.array(conditionSchema).min(1).max(50), variant: variantName }))
    .max(100)
    .default([]),
  rollout: z
    .strictObject({
      variant: variantName,
      percentage,
      stickiness: attribute.default("targetingKey").describe("the context attribute users are hashed by"),
    })
    .optional(),
});

export const flagParams = z.strictObject({ name: environmentName, key: flagKey });
export const flagSwitchSchema = z.strictObject({ reason: z.string().min(1).max(500).optional() });
export const flagHistoryQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });

export const rampParams = z.strictObject({ id: z.string().regex(/^ramp_[0-9a-f]{16}$/, "a ramp id such as ramp_0123456789abcdef") });
export const flagRampSchema = z.strictObject({
  steps: z
    .array(
      z.strictObject({
        percentage,
        pause: duration.optional().describe("how long the step holds, and is analysed, before the next"),
      }),
    )
    .min(1)
    .max(20),
  analysis: metricAnalysisSchema.optional().describe("measured during every pause; more failures than failureLimit switch the flag off"),
});

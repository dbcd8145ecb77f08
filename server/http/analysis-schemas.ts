// The metric analysis a strategy or a flag ramp may carry: metrics from
// the balancer, Prometheus or a JSON endpoint, judged by conditions that
// are parsed here, at the edge.
import { z } from "zod";
import { ConditionError, parseCondition } from "../analysis/condition";
import { duration } from "./duration-schema";

const conditionSchema = z
  .string()
  .min(1)
  .max(256)
  .superRefine((text, ctx) => {
    try {
      parseCondition(text);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: err instanceof ConditionError ? err.message : "not a condition" });
    }
  });

const metricProviderName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a metric provider's name");

const metricSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lower-case letters, digits and dashes"),
    provider: z.union([
      z.strictObject({ builtin: z.strictObject({ metric: z.enum(["error-rate", "latency-p95", "latency-p99"]) }) }),
      z.strictObject({
        prometheus: z
          .strictObject({
            provider: metricProviderName.optional().describe("one of the operator's Prometheus providers (GET /v1/metric-providers): its address and credentials"),
            address: z.url({ protocol: /^https?$/ }).max(2048).optional().describe("a Prometheus of the caller's own, asked without credentials, through the outbound guard"),
            query: z.string().min(1).max(4096).describe("PromQL; {{version}}, {{color}} and {{environment}} are filled in"),
          })
          .refine((p) => !!p.provider !== !!p.address, "give either provider (the operator's) or address (your own), not both"),
      }),
      z.strictObject({
        web: z
          .strictObject({
            provider: metricProviderName.optional().describe("one of the operator's web providers: url is then a path on its base URL"),
            url: z.string().min(1).max(2048).describe("an absolute http(s) URL, or with provider a path such as /stats?v={{version}}"),
            jsonPath: z.string().regex(/^\$(\.[A-Za-z0-9_-]+|\[\d+\])*$/, "a path such as $.data.errorRate or $.values[0]"),
          })
          .refine((w) => (w.provider ? /^\/(?!\/)[^\s\\]*$/.test(w.url) : /^https?:\/\/[^\s]+$/.test(w.url)), {
            message: "with provider, url is a path such as /stats; without, an absolute http or https URL",
            path: ["url"],
          }),
      }),
    ]),
    successCondition: conditionSchema.optional(),
    failureCondition: conditionSchema.optional(),
    count: z.number().int().min(1).max(1000).optional(),
    noData: z.enum(["pass", "fail", "inconclusive"]).default("inconclusive"),
  })
  .refine((m) => m.successCondition || m.failureCondition, "a metric needs a successCondition or a failureCondition");

export const metricAnalysisSchema = z.strictObject({
  interval: duration.default("10s"),
  failureLimit: z.number().int().min(0).max(100).default(0),
  inconclusiveLimit: z.number().int().min(0).max(100).default(0),
  metrics: z.array(metricSchema).min(1).max(10),
});


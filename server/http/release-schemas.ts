// The shapes of release and pipeline requests.
import { z } from "zod";
import { duration } from "./duration-schema";
import { artifactSchema, environmentName, preDeploySchema, releaseId, strategySchema, version } from "./schemas";

const text = (max: number) => z.string().regex(/^[^\x00-\x1f\x7f]*$/, "without control characters").min(1).max(max);

export const createReleaseSchema = z.strictObject({
  version,
  artifact: artifactSchema,
  preDeploy: preDeploySchema.optional(),
  provenance: z
    .strictObject({
      commit: z.string().regex(/^[0-9a-f]{7,64}$/, "a commit hash (hex)").optional(),
      link: z.url({ protocol: /^https?$/ }).max(2048).optional(),
      source: text(200).optional(),
      note: text(1000).optional(),
    })
    .optional()
    .describe("where the release came from: shown and audited, never acted on"),
});

export const releaseParams = z.strictObject({ id: releaseId });

export const listReleasesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime().optional().describe("only releases recorded before this time (the next page)"),
});

export const pipelineParams = z.strictObject({ name: environmentName });
export const holdParams = z.strictObject({ name: environmentName, stage: environmentName });

export const putPipelineSchema = z.strictObject({
  stages: z
    .array(
      z.strictObject({
        environment: environmentName,
        promotion: z.enum(["auto", "manual"]).default("manual").describe("auto: Cutover promotes what is eligible as soon as it is; manual: a deployer of the stage does"),
        soak: duration.default("0s").describe("how long a release must have been live in the stage before this one before it may come here"),
        strategy: strategySchema.optional().describe("the strategy promotions into this stage deploy with (else the environment's)"),
        denyWindows: z
          .array(z.strictObject({ cron: z.string().min(1).max(200), duration, timeZone: z.string().min(1).max(100).default("UTC") }))
          .max(20)
          .optional()
          .describe("no promotion into the stage from each time the cron fires until `duration` later"),
        approval: z
          .strictObject({
            requireDistinctApprover: z.boolean().optional().describe("the approver may not be who asked for the promotion (four eyes)"),
            timeout: duration.optional().describe("rolled back if no one decides within it; none by default"),
          })
          .optional()
          .describe("a person with the approver role approves each promotion into the stage before it takes all traffic (an approval gate named promotion, with the preview of what it changes)"),
      }),
    )
    .min(2)
    .max(10)
    .refine((stages) => new Set(stages.map((s) => s.environment)).size === stages.length, "each environment is one stage"),
});

export const promoteSchema = z
  .strictObject({
    to: environmentName.describe("the stage's environment"),
    release: releaseId.optional().describe("else what is live and soaked in the stage before"),
    force: z.boolean().optional().describe("past the pipeline's rules (an admin of the stage); recorded"),
    reason: text(500).optional(),
  })
  .refine((p) => !p.force || p.reason, { path: ["reason"], message: "a forced promotion needs a reason (it is recorded)" });

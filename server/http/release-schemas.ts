// The shapes of release requests.
import { z } from "zod";
import { artifactSchema, preDeploySchema, releaseId, version } from "./schemas";

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

// A release: one build, recorded once and never changed (its version, what
// runs, its pre-deploy job, where it came from), so the same thing can be
// deployed into one environment after another. Its digest names its content.
import { createHash } from "node:crypto";
import type { Actor, Artifact, PreDeployJob } from "../deployments/model";

/** Where a release came from: the commit and build behind it, for people and the audit log. */
export interface Provenance {
  commit?: string;
  /** A link to the build, pull request or change. */
  link?: string;
  /** What made it (a pipeline's name). */
  source?: string;
  note?: string;
}

export interface Release {
  id: string;
  version: string;
  /** What runs, secret values sealed. */
  artifact: Artifact;
  preDeploy?: PreDeployJob;
  provenance: Provenance;
  /** `sha256:` over the version, artifact and pre-deploy job as recorded. */
  digest: string;
  createdBy: Actor;
  /**
   * The environments the release may be deployed into: its creator's scope
   * when it was made (absent: any). A release chooses what runs, so it
   * reaches no further than the admin who made it.
   */
  scope?: string[];
  createdAt: string;
}

/** The digest of what a release runs: canonical JSON (keys sorted) of its content, sealed values as recorded. */
export function releaseDigest(content: { version: string; artifact: Artifact; preDeploy?: PreDeployJob }): string {
  return `sha256:${createHash("sha256").update(canonical(content)).digest("hex")}`;
}

function canonical(value: unknown): string {
  if (value === undefined) return "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
    .join(",")}}`;
}


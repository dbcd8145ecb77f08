// Releases as callers see them: record one (once; the same request again
// answers with the release already recorded), look them up, and turn one
// into what a deployment runs.
import type { DomainEventBus } from "../deployments/deployment-events";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { ConflictError, NotFoundError } from "../errors";
import { sealArtifact, sealJob, type Actor, type Artifact, type ArtifactInput, type PreDeployJob, type PreDeployJobInput } from "../deployments/model";
import type { SecretSealer } from "../deployments/ports";
import { releaseDigest, type Provenance, type Release } from "./release";
import { scopesOverlap } from "../auth/scopes";
import type { ReleaseRepository } from "./ports";

export interface ReleaseInput {
  version: string;
  artifact: ArtifactInput;
  preDeploy?: PreDeployJobInput;
  provenance?: Provenance;
}

export class ReleaseService {
  constructor(
    private readonly releases: ReleaseRepository,
    private readonly secrets: SecretSealer,
    private readonly bus?: DomainEventBus,
  ) {}

  /** Records a release; `created` is false when the same release was recorded before. A different one under its version is a conflict. */
  async create(input: ReleaseInput, by: Actor, scope: string[] | undefined): Promise<{ release: Release; created: boolean }> {
    const existing = await this.releases.byVersion(input.version);
    if (existing) return { release: this.same(existing, input), created: false };
    const seal = (v: string) => this.secrets.seal(v);
    const artifact = sealArtifact(input.artifact, seal);
    const preDeploy = input.preDeploy ? sealJob(input.preDeploy, seal) : undefined;
    const release: Release = {
      id: `rel_${randomBytes(8).toString("hex")}`,
      version: input.version,
      artifact,
      ...(preDeploy ? { preDeploy } : {}),
      provenance: input.provenance ?? {},
      digest: releaseDigest({ version: input.version, artifact, preDeploy }),
      createdBy: by,
      ...(scope ? { scope } : {}),
      createdAt: new Date().toISOString(),
    };
    // Two requests for a new version at once: one is recorded, the other answers like a retry.
    if (!(await this.releases.insert(release))) return this.create(input, by, scope);
    const { id, version, digest, provenance, createdBy, createdAt } = release;
    this.bus?.emit("release:created", { id, version, digest, provenance: { ...provenance }, createdBy, ...(scope ? { scope } : {}), at: createdAt });
    return { release, created: true };
  }

  async get(id: string, visibleTo?: string[]): Promise<Release> {
    const release = await this.releases.get(id);
    if (!release || !scopesOverlap(visibleTo, release.scope)) throw new NotFoundError("release_not_found", `no release with id ${id}`, { release: id });
    return release;
  }

  /** The releases a caller with this scope may deploy somewhere, newest first. */
  async list(opts: { limit: number; before?: string }, visibleTo?: string[]): Promise<Release[]> {
    return (await this.releases.list(opts)).filter((r) => scopesOverlap(visibleTo, r.scope));
  }

  /** The recorded release when the request asks for the same content; otherwise a conflict: a release is never changed. */
  private same(existing: Release, input: ReleaseInput): Release {
    const open = (v: string) => this.secrets.open(v);
    const same =
      sameArtifact(existing.artifact, input.artifact, open) &&
      (existing.preDeploy && input.preDeploy
        ? sameArtifact(existing.preDeploy, input.preDeploy, open) && existing.preDeploy.timeout === (input.preDeploy.timeout ?? existing.preDeploy.timeout)
        : !existing.preDeploy && !input.preDeploy);
    if (!same) {
      throw new ConflictError("release_exists", `release ${existing.version} exists (${existing.id}) with other content; a release is never changed: record a new version`, {
        release: existing.id,
        version: existing.version,
      });
    }
    return existing;
  }
}

/** Whether a recorded (sealed) artifact runs what an input one asks for; secret values compared opened, in constant time. */
function sameArtifact(recorded: Artifact | PreDeployJob, input: ArtifactInput | PreDeployJobInput, open: (sealed: string) => string): boolean {
  if (JSON.stringify(recorded.command) !== JSON.stringify(input.command) || recorded.cwd !== input.cwd) return false;
  const a = recorded.env ?? {};
  const b = input.env ?? {};
  if (Object.keys(a).sort().join("\0") !== Object.keys(b).sort().join("\0")) return false;
  return Object.entries(b).every(([k, v]) => {
    const r = a[k];
    if (typeof v === "string" || typeof r === "string") return v === r;
    if ("sealed" in v) return v.sealed === r.sealed;
    const x = Buffer.from(open(r.sealed));
    const y = Buffer.from(v.secret);
    return x.length === y.length && timingSafeEqual(x, y);
  });
}

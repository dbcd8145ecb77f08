// Pipelines as callers see them: declare one, see where each release
// stands, promote (by hand, or automatically into `auto` stages). A
// promotion is a deployment of a release into the next stage's
// environment, in that environment's lane, so it is as durable as any
// deployment; an automatic one has an id decided by the pipeline, stage and
// release, so neither a crash nor a second replica makes it twice, and none
// is skipped: the next look makes what the last one did not.
import type { DomainEventBus } from "../deployments/deployment-events";
import { crashPoint } from "../fault-injection";
import { createHash } from "node:crypto";
import { ConflictError, NotFoundError } from "../errors";
import { checkCronInput } from "../schedules/cron";
import type { DeploymentRequest, DeploymentService, DeploymentView } from "../deployments/deployment-service";
import type { DeploymentPlan } from "../deployments/deployment-plan";
import type { Actor, Environment, Promotion } from "../deployments/model";
import type { DeploymentRepository, EnvironmentRepository } from "../deployments/ports";
import { nextFor, type Eligibility, type Hold, type LiveRelease, type Pipeline, type Stage } from "./pipeline";
import type { PipelineRepository, ReleaseRepository } from "./ports";
import type { Release } from "./release";

export interface PipelineDeps {
  pipelines: PipelineRepository;
  releases: ReleaseRepository;
  environments: EnvironmentRepository;
  deployments: DeploymentRepository;
  deploymentService: DeploymentService;
  bus?: DomainEventBus;
}

export interface StageView extends Stage {
  live?: { version: string; release?: { id: string; digest: string }; since?: string };
  /** What may come next, and why (or why not). */
  next: { eligible: boolean; reason: string; code?: Extract<Eligibility, { eligible: false }>["code"]; soakRemainingMs?: number; until?: string; release?: { id: string; version: string; digest: string } };
  hold?: Hold;
}

/** How far back a stage's history is searched for the deployment that made a release live there. */
const HISTORY = 200;

export class PipelineService {
  constructor(private readonly deps: PipelineDeps) {}

  async put(name: string, stages: Stage[], by: Actor): Promise<{ pipeline: Pipeline; created: boolean }> {
    for (const stage of stages) {
      if (!(await this.deps.environments.get(stage.environment))) {
        throw new NotFoundError("environment_not_found", `no environment named ${stage.environment}`, { environment: stage.environment });
      }
      for (const w of stage.denyWindows ?? []) checkCronInput(w.cron, w.timeZone, { stage: stage.environment, cron: w.cron, timeZone: w.timeZone });
    }
    // A stage's hold outlives a new declaration of the pipeline: only a person releases it.
    const before = await this.deps.pipelines.get(name);
    const holds = Object.fromEntries(Object.entries(before?.holds ?? {}).filter(([env]) => stages.some((s) => s.environment === env)));
    const pipeline: Pipeline = { name, stages, createdBy: by, ...(Object.keys(holds).length ? { holds } : {}), updatedAt: new Date().toISOString() };
    const created = await this.deps.pipelines.put(pipeline);
    return { pipeline, created };
  }

  async get(name: string): Promise<Pipeline> {
    const pipeline = await this.deps.pipelines.get(name);
    if (!pipeline) throw new NotFoundError("pipeline_not_found", `no pipeline named ${name}`, { pipeline: name });
    return pipeline;
  }

  list(): Promise<Pipeline[]> {
    return this.deps.pipelines.list();
  }

  /** Each stage: what is live there, and what may come next and why (or why not). */
  async view(pipeline: Pipeline, now = new Date()): Promise<StageView[]> {
    const { envs, live } = await this.observe(pipeline);
    return pipeline.stages.map((stage, i): StageView => {
      const liveVersion = envs[i]?.liveVersion;
      const { release, ...next } = nextFor(pipeline, i, live, now);
      const hold = pipeline.holds?.[stage.environment];
      return {
        ...stage,
        ...(liveVersion ? { live: { version: liveVersion, ...(live[i] ? { release: brief(live[i]!.release), since: live[i]!.since } : {}) } } : {}),
        next: { ...next, ...(release ? { release: { ...brief(release), version: release.version } } : {}) },
        ...(hold ? { hold } : {}),
      };
    });
  }

  /** One look at every stage: its environment and the release live there (each read once, whatever is decided from them). */
  async observe(pipeline: Pipeline): Promise<{ envs: (Environment | undefined)[]; live: (LiveRelease | undefined)[] }> {
    const envs = await Promise.all(pipeline.stages.map((s) => this.deps.environments.get(s.environment)));
    return { envs, live: await Promise.all(envs.map((env) => this.liveIn(env))) };
  }

  /**
   * Promotes into the stage of environment `to`: the release named, or what
   * is eligible from the stage before. A release never live in the stage
   * before, one still soaking there, or any promotion inside the stage's
   * deny window is refused unless `force` (which the caller's right to
   * force was checked for) is given: then it is recorded. Promoting a
   * release older than the one live in an `auto` stage holds automatic
   * promotion into it until someone releases the hold.
   */
  async promote(
    pipeline: Pipeline,
    to: string,
    asked: { release?: Release; force?: boolean; reason?: string },
    by: Actor,
    /** Throws unless the release may run in `to` (its maker's scope reaches it). */
    mayRun: (release: Release) => void,
  ): Promise<DeploymentView> {
    const { index, release, forced, envs } = await this.checked(pipeline, to, asked, mayRun);
    // What serves in the stage now (a deployment may still be retiring the fleet before it).
    const liveVersion = envs[index]?.liveVersion;
    const here = liveVersion ? await this.deps.releases.byVersion(liveVersion) : undefined;
    const holds = pipeline.stages[index].promotion === "auto" && here !== undefined && release.createdAt < here.createdAt;
    // The hold is written before the deployment: a crash between them leaves the stage held (a person releases it), never an
    // older release deployed with nothing to stop the next automatic promotion from undoing it.
    const hold = { by, at: new Date().toISOString(), release: { id: release.id, version: release.version } };
    if (holds) {
      await this.deps.pipelines.setHold(pipeline.name, to, hold);
      crashPoint("promotion:held");
    }
    let d: DeploymentView;
    try {
      d = await this.deploy(pipeline, index, release, by, forced);
    } catch (err) {
      if (holds) await this.deps.pipelines.setHold(pipeline.name, to, pipeline.holds?.[to]);
      throw err;
    }
    if (holds) this.deps.bus?.emit("promotion:held", { pipeline: pipeline.name, stage: to, release: hold.release, by, at: hold.at });
    return d;
  }

  /** What `promote` would do, in order, with the same checks; nothing is queued. */
  async previewPromotion(
    pipeline: Pipeline,
    to: string,
    asked: { release?: Release; force?: boolean; reason?: string },
    by: Actor,
    mayRun: (release: Release) => void,
    opts: { preview?: boolean } = {},
  ): Promise<DeploymentPlan & { promotion: Promotion }> {
    const { index, release, forced } = await this.checked(pipeline, to, asked, mayRun);
    const request = this.request(pipeline, index, release, forced);
    return { ...(await this.deps.deploymentService.plan(to, request, by, opts)), promotion: request.promotion! };
  }

  /** The stage and release a promotion into `to` takes, after the pipeline's rules (or a recorded force past them). */
  private async checked(pipeline: Pipeline, to: string, asked: { release?: Release; force?: boolean; reason?: string }, mayRun: (release: Release) => void) {
    const index = pipeline.stages.findIndex((s) => s.environment === to);
    if (index < 0) throw new NotFoundError("stage_not_found", `pipeline ${pipeline.name} has no stage ${to}`, { pipeline: pipeline.name, stage: to });
    const { envs, live } = await this.observe(pipeline);
    const due = nextFor(pipeline, index, live, new Date());
    const release = asked.release ?? due.release;
    if (!release) throw new ConflictError("promotion_not_eligible", `nothing may be promoted into ${to}: ${due.reason}`, { pipeline: pipeline.name, stage: to, ...("code" in due ? { why: due.code } : {}) });
    const from = index > 0 ? pipeline.stages[index - 1].environment : undefined;
    const refusal = await this.refusal(from, release, due, asked.release !== undefined);
    if (refusal && !asked.force) throw refusal;
    mayRun(release);
    return { index, release, envs, forced: refusal ? { forced: true as const, ...(asked.reason ? { reason: asked.reason } : {}) } : {} };
  }

  /** Lets automatic promotion into a stage go on again. */
  async releaseHold(pipeline: Pipeline, stage: string): Promise<void> {
    if (!pipeline.holds?.[stage]) throw new NotFoundError("hold_not_found", `automatic promotion into ${stage} is not held`, { pipeline: pipeline.name, stage });
    await this.deps.pipelines.setHold(pipeline.name, stage, undefined);
  }

  /**
   * One look at an `auto` stage: promotes what is eligible now (past the
   * soak, outside deny windows, not held), on the authority `by`; returns
   * the deployment, or undefined when there is nothing to do. `live` is
   * what `observe` saw (a look at several stages reads them once).
   */
  async autoPromote(
    pipeline: Pipeline,
    index: number,
    by: Actor,
    mayRun: (release: Release, environment: string) => Promise<void>,
    now = new Date(),
    live?: (LiveRelease | undefined)[],
  ): Promise<DeploymentView | undefined> {
    const stage = pipeline.stages[index];
    if (stage.promotion !== "auto" || pipeline.holds?.[stage.environment]) return undefined;
    const due = nextFor(pipeline, index, live ?? (await this.observe(pipeline)).live, now);
    if (!due.eligible) return undefined;
    await mayRun(due.release, stage.environment);
    return this.deploy(pipeline, index, due.release, by, {}, promotionId(pipeline.name, stage.environment, due.release.id));
  }

  /** The release live in an environment now, and since when: the release of its live version, made live by a deployment that succeeded. */
  private async liveIn(env: Environment | undefined): Promise<LiveRelease | undefined> {
    if (!env?.liveVersion) return undefined;
    const release = await this.deps.releases.byVersion(env.liveVersion);
    if (!release) return undefined;
    const made = (await this.deps.deployments.forEnvironment(env.name, HISTORY)).find((d) => d.state === "succeeded" && d.release?.id === release.id);
    return made ? { release, since: made.finishedAt ?? made.updatedAt } : undefined;
  }

  /** Why the rules refuse to promote `release` (undefined: they allow it). */
  private async refusal(from: string | undefined, release: Release, due: Eligibility, named: boolean): Promise<ConflictError | undefined> {
    // Without a release named, promoting what runs here already would only build it again.
    if (!named && !due.eligible && due.code === "already_live") return new ConflictError("promotion_not_eligible", `nothing new to promote: ${due.reason}`, { why: due.code });
    if (from && release.id !== due.release?.id && !(await this.wasLive(from, release.id))) {
      return new ConflictError("release_not_promoted_upstream", `${release.version} was never live in ${from}, the stage before`, { release: release.id, stage: from });
    }
    if (!due.eligible && due.code === "denied") return new ConflictError("promotion_denied", due.reason, { until: due.until });
    if (!due.eligible && release.id === due.release?.id && due.code === "soaking") {
      return new ConflictError("promotion_not_eligible", `${release.version} may not be promoted yet: ${due.reason}`, { why: due.code, soakRemainingMs: due.soakRemainingMs });
    }
    return undefined;
  }

  private deploy(pipeline: Pipeline, index: number, release: Release, by: Actor, extra: { forced?: true; reason?: string }, id?: string): Promise<DeploymentView> {
    const request = this.request(pipeline, index, release, extra);
    return this.deps.deploymentService.create(pipeline.stages[index].environment, { ...(id ? { id } : {}), ...request }, "deploy", by);
  }

  /** The deployment request a promotion of `release` into stage `index` makes. */
  private request(pipeline: Pipeline, index: number, release: Release, extra: { forced?: true; reason?: string }): DeploymentRequest {
    const stage = pipeline.stages[index];
    const from = index > 0 ? pipeline.stages[index - 1].environment : undefined;
    return {
      version: release.version,
      release,
      ...(stage.strategy ? { strategy: stage.strategy } : {}),
      ...(stage.approval ? { approval: stage.approval } : {}),
      promotion: { pipeline: pipeline.name, ...(from ? { from } : {}), ...extra },
    };
  }

  private async wasLive(environment: string, releaseId: string): Promise<boolean> {
    return (await this.deps.deployments.forEnvironment(environment, HISTORY)).some((d) => d.state === "succeeded" && d.release?.id === releaseId);
  }
}

const brief = (r: Release) => ({ id: r.id, digest: r.digest });

/** The id of the automatic promotion of a release into a stage: the same on every replica and after every restart. */
export const promotionId = (pipeline: string, stage: string, release: string): string =>
  `dep_${createHash("sha256").update(`${pipeline}\0${stage}\0${release}`).digest("hex").slice(0, 16)}`;

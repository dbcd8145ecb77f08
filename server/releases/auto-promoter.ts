// Automatic promotion: every interval, one look at each `auto` stage of
// every pipeline; what is eligible there (soaked upstream, outside deny
// windows, not held) is promoted on the authority of whoever declared the
// pipeline, looked up again each time: a revoked token or a narrowed scope
// promotes nothing. Each promotion's id is decided by the pipeline, stage
// and release, so replicas looking at once, or a look after a crash, make
// it once.
import { describeError } from "../errors";
import type { Logger } from "../logger";
import { Ticker } from "../ticker";
import type { Actor } from "../deployments/model";
import { nextFor, type LiveRelease, type Pipeline } from "./pipeline";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { AnnouncementRepository } from "./ports";
import type { PipelineService } from "./pipeline-service";
import type { Release } from "./release";

/** Who acts for a pipeline now, or why no one may. */
export type PipelineAuthority = { by: Actor; mayRun: (release: Release, environment: string) => Promise<void> } | { refused: string };

export interface AutoPromoterDeps {
  pipelines: PipelineService;
  authorityOf: (pipeline: Pipeline) => Promise<PipelineAuthority>;
  intervalMs: number;
  logger: Logger;
  /** With both: a release that becomes eligible for a `manual` stage is announced once (`promotion:eligible`), for people to promote it. */
  announcements?: AnnouncementRepository;
  bus?: DomainEventBus;
}

export class AutoPromoter {
  private readonly ticker: Ticker;
  /** The last refusal logged per pipeline, so a lasting one is logged once. */
  private readonly refused = new Map<string, string>();

  constructor(private readonly deps: AutoPromoterDeps) {
    this.ticker = new Ticker(() => this.pass(), { intervalMs: deps.intervalMs, onError: (err) => deps.logger.error({ err: describeError(err) }, "automatic promotion failed") });
  }

  start(): void {
    this.ticker.start();
  }

  stop(): Promise<void> {
    return this.ticker.stop();
  }

  /** A look now (after a deployment ended or a pipeline changed). */
  kick(): void {
    this.ticker.kick();
  }

  async pass(now = new Date()): Promise<void> {
    for (const pipeline of await this.deps.pipelines.list()) {
      const auto = pipeline.stages.map((s, i) => (s.promotion === "auto" && i > 0 ? i : -1)).filter((i) => i >= 0);
      const manual = this.deps.announcements ? pipeline.stages.map((s, i) => (s.promotion !== "auto" && i > 0 ? i : -1)).filter((i) => i >= 0) : [];
      if (auto.length === 0 && manual.length === 0) continue;
      // What is live in each stage, read once for every stage of this look (a promotion only queues: nothing it changes is read here).
      const { live } = await this.deps.pipelines.observe(pipeline);
      for (const index of manual) await this.announce(pipeline, index, live, now).catch((err) => this.deps.logger.warn({ pipeline: pipeline.name, err: describeError(err) }, "could not announce an eligible release"));
      if (auto.length === 0) continue;
      const authority = await this.deps.authorityOf(pipeline);
      if ("refused" in authority) {
        if (this.refused.get(pipeline.name) !== authority.refused) this.deps.logger.warn({ pipeline: pipeline.name, reason: authority.refused }, "automatic promotion stopped");
        this.refused.set(pipeline.name, authority.refused);
        continue;
      }
      this.refused.delete(pipeline.name);
      for (const index of auto) {
        const stage = pipeline.stages[index].environment;
        try {
          const d = await this.deps.pipelines.autoPromote(pipeline, index, authority.by, authority.mayRun, now, live);
          if (!d) continue;
          if (d.createdAt >= now.toISOString()) this.deps.logger.info({ pipeline: pipeline.name, stage, version: d.version, deploymentId: d.id }, "promoted automatically");
        } catch (err) {
          this.deps.logger.warn({ pipeline: pipeline.name, stage, err: describeError(err) }, "could not promote automatically");
        }
      }
    }
  }

  /** Says once, on whichever replica looks first, that a release may now be promoted into a manual stage. */
  private async announce(pipeline: Pipeline, index: number, live: (LiveRelease | undefined)[], now: Date): Promise<void> {
    const due = nextFor(pipeline, index, live, now);
    if (!due.eligible) return;
    const stage = pipeline.stages[index].environment;
    if (!(await this.deps.announcements!.once(`eligible/${pipeline.name}/${stage}/${due.release.id}`))) return;
    const { id, version, digest } = due.release;
    this.deps.bus?.emit("promotion:eligible", { pipeline: pipeline.name, stage, from: pipeline.stages[index - 1].environment, release: { id, version, digest }, reason: due.reason, at: now.toISOString() });
  }
}

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
import type { Pipeline } from "./pipeline";
import type { PipelineService } from "./pipeline-service";
import type { Release } from "./release";

/** Who acts for a pipeline now, or why no one may. */
export type PipelineAuthority = { by: Actor; mayRun: (release: Release, environment: string) => Promise<void> } | { refused: string };

export interface AutoPromoterDeps {
  pipelines: PipelineService;
  authorityOf: (pipeline: Pipeline) => Promise<PipelineAuthority>;
  intervalMs: number;
  logger: Logger;
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
          const d = await this.deps.pipelines.autoPromote(pipeline, index, authority.by, authority.mayRun, now);
          if (!d) continue;
          if (d.createdAt >= now.toISOString()) this.deps.logger.info({ pipeline: pipeline.name, stage, version: d.version, deploymentId: d.id }, "promoted automatically");
        } catch (err) {
          this.deps.logger.warn({ pipeline: pipeline.name, stage, err: describeError(err) }, "could not promote automatically");
        }
      }
    }
  }
}

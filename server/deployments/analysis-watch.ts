// Metric analysis while a deployment waits (a canary pause, the bake):
// each round's measurements go into the deployment's events; a failed
// analysis throws, which rolls the deployment back; an inconclusive one
// asks for a person, who promotes to go on or aborts.
import { AnalysisRun, type Measure } from "../analysis/analysis-run";
import type { DeploymentControl } from "./deployment-control";
import { UnprocessableError } from "../errors";
import { parseDuration } from "../../infra/duration";
import type { DeploymentJournal } from "./deployment-journal";
import { isMetricAnalysis, type Deployment, type Environment } from "./model";

export class AnalysisFailedError extends UnprocessableError {
  constructor(message: string) {
    super("analysis_failed", message);
  }
}

/**
 * Builds the measuring function of one analysis of a deployment (baselines
 * are taken when it is built). Builtin metrics count the requests the
 * weights routed to the new pool; before promotion (`pre-promotion`), when
 * it has no weight, they count the requests forced to it with the key.
 */
export type MeasureFor = (d: Deployment, env: Environment, stage?: "pre-promotion") => Promise<Measure>;

export interface AnalysisDeps {
  journal: DeploymentJournal;
  measureFor?: MeasureFor;
}

/**
 * The blue/green pre-promotion analysis: the new fleet is healthy and gets
 * no traffic but what is sent to it through the keyed force header. It takes as
 * many rounds as its metrics' largest `count` (one by default), an interval
 * apart. A failure throws (the deployment rolls back, never having had
 * traffic); an inconclusive round holds the deployment for a person, who
 * promotes to go on or aborts.
 */
export async function prePromotionAnalysis(deps: AnalysisDeps, d: Deployment, env: Environment, control: DeploymentControl): Promise<void> {
  const spec = d.strategy.type === "blue-green" ? d.strategy.prePromotion : undefined;
  if (!spec || d.prePromotionPassed || !deps.measureFor) return;
  const run = new AnalysisRun(spec, await deps.measureFor(d, env, "pre-promotion"), parseDuration(spec.interval));
  const rounds = Math.max(1, ...spec.metrics.map((m) => m.count ?? 1));
  await deps.journal.record(d, "deployment:analysis_started", { stage: "pre-promotion", rounds, interval: spec.interval });
  for (let round = 0; round < rounds; round++) {
    await control.wait(Date.now() + parseDuration(spec.interval));
    if ((await analyse(deps, d, run, true, "pre-promotion")) === "hold") {
      await deps.journal.hold(d, "analysis");
      control.beginPromotable();
      try {
        while ((await control.wait(undefined)) !== "promoted");
      } finally {
        control.endPromotable();
      }
      await deps.journal.release(d);
      await deps.journal.record(d, "deployment:promoted", { stage: "pre-promotion" });
      break;
    }
  }
  d.prePromotionPassed = true;
  await deps.journal.save(d);
}

/** Starts the deployment's metric analysis, if its strategy has one. */
export async function startAnalysis(deps: AnalysisDeps, d: Deployment, env: Environment): Promise<AnalysisRun | undefined> {
  const spec = d.strategy.analysis;
  if (!isMetricAnalysis(spec) || !deps.measureFor) return undefined;
  return new AnalysisRun(spec, await deps.measureFor(d, env), parseDuration(spec.interval));
}

/**
 * Takes a round of measurements when one is due (or `force`d), records
 * them, and says whether the deployment may go on or must wait for a
 * person. Throws AnalysisFailedError when the analysis failed.
 */
export async function analyse(deps: AnalysisDeps, d: Deployment, run: AnalysisRun, force = false, stage?: "pre-promotion"): Promise<"continue" | "hold"> {
  if (!force && !run.due()) return "continue";
  const where = { phase: d.phase, ...(d.step !== undefined ? { step: d.step } : {}), ...(stage ? { stage } : {}) };
  for (const m of await run.round()) await deps.journal.record(d, "deployment:measurement", { ...m, ...where });
  const verdict = run.verdict();
  if (verdict.kind === "failed") {
    await deps.journal.record(d, "deployment:analysis_failed", { metric: verdict.metric, message: verdict.message, ...where });
    throw new AnalysisFailedError(verdict.message);
  }
  if (verdict.kind === "inconclusive") {
    run.acknowledgeInconclusive();
    await deps.journal.record(d, "deployment:paused", { by: "analysis", metric: verdict.metric, message: verdict.message, ...where });
    return "hold";
  }
  return "continue";
}

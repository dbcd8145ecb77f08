// Metric analysis while a deployment waits (a canary pause, the bake):
// each round's measurements go into the deployment's events; a failed
// analysis throws, which rolls the deployment back; an inconclusive one
// asks for a person, who promotes to go on or aborts.
import { AnalysisRun, type Measure } from "../analysis/analysis-run";
import { UnprocessableError } from "../errors";
import { parseDuration } from "./duration";
import type { DeploymentJournal } from "./deployment-journal";
import { isMetricAnalysis, type Deployment, type Environment } from "./model";

export class AnalysisFailedError extends UnprocessableError {
  constructor(message: string) {
    super("analysis_failed", message);
  }
}

/** Builds the measuring function of one analysis of a deployment (baselines are taken when it is built). */
export type MeasureFor = (d: Deployment, env: Environment) => Promise<Measure>;

export interface AnalysisDeps {
  journal: DeploymentJournal;
  measureFor?: MeasureFor;
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
export async function analyse(deps: AnalysisDeps, d: Deployment, run: AnalysisRun, force = false): Promise<"continue" | "hold"> {
  if (!force && !run.due()) return "continue";
  const where = { phase: d.phase, ...(d.step !== undefined ? { step: d.step } : {}) };
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

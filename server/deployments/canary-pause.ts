// The wait at a canary step: until its duration passes (a resumed
// deployment waits only for what is left), or until promoted for a manual
// step, judging the canary's error rate meanwhile when the strategy asks.
import { isMetricAnalysis, type CanaryStep, type Deployment, type Environment } from "./model";
import { CanaryAnalysisError, judgeCanary } from "./canary-analysis";
import { analyse, startAnalysis, type MeasureFor } from "./analysis-watch";
import type { DeploymentControl } from "./deployment-control";
import type { DeploymentJournal } from "./deployment-journal";
import type { TargetRegistry } from "./target-registry";

export interface PauseDeps {
  journal: DeploymentJournal;
  targets: TargetRegistry;
  measureFor?: MeasureFor;
}

export async function pauseAtStep(deps: PauseDeps, d: Deployment, step: CanaryStep, control: DeploymentControl, env: Environment): Promise<void> {
  let manual = step.pause === "manual" || d.pausedBy === "analysis";
  let deadline = manual || !d.waitUntil ? Infinity : Date.parse(d.waitUntil);
  const target = deps.targets.get(env.spec.target);
  const legacy = d.strategy.type === "canary" ? d.strategy.analysis : undefined;
  const analysis = legacy && !isMetricAnalysis(legacy) ? legacy : undefined;
  const metrics = await startAnalysis(deps, d, env);
  const statsOf = async () => (analysis && target.poolStats && env.traffic ? target.poolStats(env.spec, env.traffic) : undefined);
  const baseline = await statsOf().catch(() => undefined);
  control.beginPromotable();
  try {
    for (;;) {
      if (Date.now() >= deadline) {
        // A timed pause never ends unjudged: one round at least.
        if (metrics && !metrics.measured && (await analyse(deps, d, metrics, true)) === "hold") {
          ({ manual, deadline } = await holdForPerson(deps, d));
          continue;
        }
        break;
      }
      if ((await control.wait(Math.min(deadline, Date.now() + 1000))) === "promoted") break;
      if (metrics && d.pausedBy !== "analysis" && (await analyse(deps, d, metrics)) === "hold") {
        ({ manual, deadline } = await holdForPerson(deps, d));
        continue;
      }
      const now = analysis && baseline ? await statsOf().catch(() => undefined) : undefined;
      if (analysis && baseline && now) {
        try {
          judgeCanary(analysis, d.toColor!, baseline, now);
        } catch (err) {
          if (err instanceof CanaryAnalysisError) {
            await deps.journal.record(d, "deployment:analysis_failed", { requests: err.requests, errors: err.errors, maxErrorRate: analysis.maxErrorRate });
          }
          throw err;
        }
      }
    }
  } finally {
    control.endPromotable();
  }
  d.waitUntil = undefined;
  if (manual) {
    await deps.journal.release(d);
    await deps.journal.record(d, "deployment:promoted", { step: d.step });
  } else {
    await deps.journal.save(d);
  }
}

/** An inconclusive analysis turns the pause into a wait for a person: promote goes on, abort rolls back. */
async function holdForPerson(deps: PauseDeps, d: Deployment): Promise<{ manual: true; deadline: number }> {
  d.waitUntil = undefined;
  await deps.journal.hold(d, "analysis");
  return { manual: true, deadline: Infinity };
}

// The wait at a canary step: until its duration passes (a resumed
// deployment waits only for what is left), or until promoted for a manual
// step, judging the canary's error rate meanwhile when the strategy asks.
import type { CanaryStep, Deployment, Environment } from "./model";
import { CanaryAnalysisError, judgeCanary } from "./canary-analysis";
import type { DeploymentControl } from "./deployment-control";
import type { DeploymentJournal } from "./deployment-journal";
import type { TargetRegistry } from "../targets/target-registry";

export interface PauseDeps {
  journal: DeploymentJournal;
  targets: TargetRegistry;
}

export async function pauseAtStep(deps: PauseDeps, d: Deployment, step: CanaryStep, control: DeploymentControl, env: Environment): Promise<void> {
  const manual = step.pause === "manual";
  const deadline = manual || !d.waitUntil ? Infinity : Date.parse(d.waitUntil);
  const target = deps.targets.get(env.spec.target);
  const analysis = d.strategy.type === "canary" ? d.strategy.analysis : undefined;
  const statsOf = async () => (analysis && target.poolStats && env.traffic ? target.poolStats(env.spec, env.traffic) : undefined);
  const baseline = await statsOf().catch(() => undefined);
  control.beginPromotable();
  try {
    for (;;) {
      if (Date.now() >= deadline) break;
      if ((await control.wait(Math.min(deadline, Date.now() + 1000))) === "promoted") break;
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
    d.pausedBy = undefined;
    await deps.journal.move(d, { state: "running" });
    await deps.journal.record(d, "deployment:promoted", { step: d.step });
  } else {
    await deps.journal.save(d);
  }
}

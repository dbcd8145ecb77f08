// What a deployment would do, in order, read from the environment as it is
// now and the deployment as it would be queued: the colors, the job before
// any fleet, the fleet to build and its health check, each traffic step with
// its weights and wait, the bake, the gates, and the fleet to retire. A
// deployment queued behind others starts from what they leave, so the plan
// says what it would do if it started now.
import { otherColor, type Color, type Deployment, type Environment, type Strategy } from "./model";

export type PlanStep =
  | { phase: "pre-deploy"; command: string[]; timeout: string }
  | { phase: "provisioning"; color: Color; version: string; replicas: number; artifact: { command: string[]; env: string[] } }
  | { phase: "verifying"; healthCheck: Environment["spec"]["fleet"]["healthCheck"] }
  | { phase: "analysis"; before: "traffic"; metrics: string[] }
  | { phase: "shifting"; step: number; weights: Record<Color, number>; pause?: string; analysed: boolean }
  | { phase: "baking"; duration: string; analysed: boolean }
  | { phase: "retiring"; color: Color; version?: string };

export interface DeploymentPlan {
  environment: string;
  version: string;
  release?: Deployment["release"];
  strategy: Strategy["type"];
  from?: { color: Color; version?: string };
  to: { color: Color };
  /** Deployments queued or running before this one: it would start from what they leave. */
  behind: number;
  steps: PlanStep[];
  gates: { name: string; kind: string; manual: boolean; requireDistinctApprover: boolean; timeout?: string }[];
}

export function planOf(env: Environment, d: Deployment, behind = 0): DeploymentPlan {
  const from = env.activeColor && env.fleets[env.activeColor] ? env.activeColor : undefined;
  const to: Color = from ? otherColor(from) : "blue";
  const s = d.strategy;
  const analysed = "analysis" in s && s.analysis !== undefined;
  const steps: PlanStep[] = [];
  if (d.preDeploy) steps.push({ phase: "pre-deploy", command: d.preDeploy.command, timeout: d.preDeploy.timeout });
  steps.push({
    phase: "provisioning",
    color: to,
    version: d.version,
    replicas: env.spec.fleet.replicas,
    artifact: { command: d.artifact.command, env: Object.keys(d.artifact.env ?? {}) },
  });
  steps.push({ phase: "verifying", healthCheck: env.spec.fleet.healthCheck });
  if (s.type === "blue-green" && s.prePromotion) steps.push({ phase: "analysis", before: "traffic", metrics: metricNames(s.prePromotion) });
  d.steps.forEach((step, i) => {
    const weights = { [to]: step.weight, [otherColor(to)]: from ? 100 - step.weight : 0 } as Record<Color, number>;
    steps.push({ phase: "shifting", step: i, weights, ...(step.pause ? { pause: step.pause } : {}), analysed: analysed && step.pause !== undefined && s.type !== "blue-green" });
  });
  if (s.bake) steps.push({ phase: "baking", duration: s.bake, analysed });
  if (from) steps.push({ phase: "retiring", color: from, version: env.liveVersion });
  return {
    environment: env.name,
    version: d.version,
    ...(d.release ? { release: d.release } : {}),
    strategy: s.type,
    ...(from ? { from: { color: from, version: env.liveVersion } } : {}),
    to: { color: to },
    behind,
    steps,
    gates: (d.gates ?? []).map((g) => ({
      name: g.name,
      kind: g.kind,
      manual: g.manual === true || g.kind === "approval",
      requireDistinctApprover: g.requireDistinctApprover === true,
      ...(g.timeout ? { timeout: g.timeout } : {}),
    })),
  };
}

function metricNames(analysis: unknown): string[] {
  const metrics = (analysis as { metrics?: { name?: string }[] }).metrics;
  return Array.isArray(metrics) ? metrics.map((m, i) => m.name ?? `metric ${i + 1}`) : ["error rate"];
}

// What a deployment would do, in order, from the environment as it is now.
import { planOf } from "../../server/deployments/deployment-plan";
import { stepsOf, type Deployment, type Environment, type Strategy } from "../../server/deployments/model";

const healthCheck = { path: "/healthz", interval: "1s", timeout: "1s", healthyThreshold: 2, startTimeout: "30s" };
const env = (live?: { color: "blue" | "green"; version: string }): Environment =>
  ({
    name: "shop",
    spec: { name: "shop", target: "local", fleet: { replicas: 3, artifact: { command: ["app"] }, healthCheck, drainTimeout: "1s" }, strategy: { type: "blue-green" } },
    status: "ready",
    weights: { blue: live?.color === "blue" ? 100 : 0, green: live?.color === "green" ? 100 : 0 },
    fleets: live ? { [live.color]: { version: live.version, replicas: 3 } } : {},
    ...(live ? { activeColor: live.color, liveVersion: live.version } : {}),
    createdAt: "",
    updatedAt: "",
  }) as Environment;
const deployment = (strategy: Strategy, extra: Partial<Deployment> = {}): Deployment =>
  ({
    id: "dep_0",
    environment: "shop",
    version: "v2",
    artifact: { command: ["app", "--v2"], env: { A: "1", B: { sealed: "x" } } },
    strategy,
    kind: "deploy",
    state: "queued",
    phase: "queued",
    steps: stepsOf(strategy, 3),
    createdAt: "",
    updatedAt: "",
    ...extra,
  }) as Deployment;

describe("a deployment's plan", () => {
  it("a canary over a live version: build the other color, step the weights with their waits, retire the old", () => {
    const plan = planOf(env({ color: "blue", version: "v1" }), deployment({ type: "canary", steps: [{ weight: 20, pause: "5m" }, { weight: 100 }], analysis: { maxErrorRate: 0.05, minRequests: 10 } }), 1);
    expect(plan).toMatchObject({ version: "v2", strategy: "canary", from: { color: "blue", version: "v1" }, to: { color: "green" }, behind: 1, gates: [] });
    expect(plan.steps).toEqual([
      { phase: "provisioning", color: "green", version: "v2", replicas: 3, artifact: { command: ["app", "--v2"], env: ["A", "B"] } },
      { phase: "verifying", healthCheck },
      { phase: "shifting", step: 0, weights: { green: 20, blue: 80 }, pause: "5m", analysed: true },
      { phase: "shifting", step: 1, weights: { green: 100, blue: 0 }, analysed: false },
      { phase: "retiring", color: "blue", version: "v1" },
    ]);
  });

  it("a first blue/green deployment with a job, a bake and gates: no color to retire, no secret value shown", () => {
    const d = deployment(
      { type: "blue-green", bake: "10m" },
      { preDeploy: { command: ["migrate"], timeout: "5m" }, gates: [{ name: "release", kind: "approval", requireDistinctApprover: true }] },
    );
    const plan = planOf(env(), d);
    expect(plan.from).toBeUndefined();
    expect(plan.steps.map((s) => s.phase)).toEqual(["pre-deploy", "provisioning", "verifying", "shifting", "baking"]);
    expect(plan.steps[3]).toEqual({ phase: "shifting", step: 0, weights: { blue: 100, green: 0 }, analysed: false });
    expect(plan.gates).toEqual([{ name: "release", kind: "approval", manual: true, requireDistinctApprover: true }]);
    expect(JSON.stringify(plan)).not.toContain("sealed");
  });
});

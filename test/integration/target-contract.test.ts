// The same orchestrator scenario over each cloud target, with its programs
// under Pulumi's mocks: deploy, shift in canary steps, promote, roll back a
// failed version, roll back on request. The orchestrator, journal (SQLite),
// lanes and services are the real ones; only the engine runs programs under
// mocks instead of against a cloud.
import pino from "pino";
import { createServices, type Services } from "../../server/composition-root";
import { loadConfig } from "../../server/config";
import type { Color } from "../../server/deployments/model";
import { MockedProgramEngine, secretValue, type RecordedResource } from "../helpers/mocked-programs";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

interface TargetCase {
  target: "aws" | "kubernetes";
  settings: Record<string, unknown>;
  /** The weights the traffic stack's resource graph sends to each color. */
  weights(engine: MockedProgramEngine, env: string): Record<Color, number>;
  /** A resource of this type fails to create when it belongs to version "bad". */
  failingType: string;
  /** The capacity a fleet stack declares (the ASG's desired capacity, the Deployment's replicas). */
  capacity(engine: MockedProgramEngine, stack: string): number;
  /** The force header values the traffic stack routes by (`<color>:<key>`), read out of their secrets. */
  forced(engine: MockedProgramEngine, env: string): string[];
}

const colorOfArn = (arn: string) => (arn.includes(".blue/") ? "blue" : "green");

const cases: TargetCase[] = [
  {
    target: "aws",
    settings: { region: "eu-west-1", ami: "ami-0123456789abcdef0", instanceType: "t3.micro", instancePort: 8080, listenerPort: 80, forceHeader: "X-Cutover-Pool" },
    failingType: "aws:autoscaling/group:Group",
    capacity: (engine, stack) => engine.resourcesOf(stack, "aws:autoscaling/group:Group")[0].inputs.desiredCapacity,
    weights(engine, env) {
      const [listener] = engine.resourcesOf(`${env}.traffic`, "aws:lb/listener:Listener");
      const w = { blue: 0, green: 0 };
      const action = listener.inputs.defaultActions[0];
      if (action.type === "forward") for (const g of action.forward.targetGroups) w[colorOfArn(g.arn) as Color] = g.weight;
      return w;
    },
    forced: (engine, env) =>
      engine.resourcesOf(`${env}.traffic`, "aws:lb/listenerRule:ListenerRule").flatMap((r) => secretValue(r.inputs.conditions)[0].httpHeader.values),
  },
  {
    target: "kubernetes",
    settings: { namespace: "shop", image: "registry.example.com/shop:{version}", containerPort: 8080, gateway: { name: "public" }, forceHeader: "X-Cutover-Pool" },
    failingType: "kubernetes:apps/v1:Deployment",
    capacity: (engine, stack) => engine.resourcesOf(stack, "kubernetes:apps/v1:Deployment")[0].inputs.spec.replicas,
    weights(engine, env) {
      const w = { blue: 0, green: 0 };
      const route = engine.resourcesOf(`${env}.traffic`, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").find((r) => r.inputs.metadata.name === env);
      if (!route) return w;
      const weighted = route.inputs.spec.rules[route.inputs.spec.rules.length - 1].backendRefs;
      for (const ref of weighted) w[ref.name.endsWith("-blue") ? "blue" : "green"] = ref.weight;
      return w;
    },
    forced(engine, env) {
      const route = engine.resourcesOf(`${env}.traffic`, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").find((r) => r.inputs.metadata.name === `${env}.force`);
      return route ? secretValue(route.inputs.spec).rules.map((r: { matches: { headers: { value: string }[] }[] }) => r.matches[0].headers[0].value) : [];
    },
  },
];

describe.each(cases)("the $target target under the orchestrator", (tc) => {
  let services: Services;
  let engine: MockedProgramEngine;
  const env = `contract-${tc.target}`.slice(0, 40);

  beforeAll(async () => {
    engine = new MockedProgramEngine();
    engine.fail = (r: RecordedResource, stack: string) => {
      if (r.type !== tc.failingType && r.type !== "kubernetes:batch/v1:Job") return undefined;
      const version = r.inputs.metadata?.labels?.version ?? r.inputs.tags?.find?.((t: { key: string }) => t.key === "Version")?.value;
      if (r.type === "kubernetes:batch/v1:Job") return r.inputs.metadata?.labels?.version === "badjob" ? "Job shop-predeploy failed: BackoffLimitExceeded" : undefined;
      return version === "bad" ? `${r.name} in ${stack} never became healthy` : undefined;
    };
    const config = loadConfig({ CUTOVER_DATA_DIR: tempDir(`contract-${tc.target}`), CUTOVER_ADMIN_TOKEN: "contract-admin-token-123" });
    services = await createServices({ config, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }), engine, assumePluginsInstalled: true });
  });

  afterAll(() => services.close());

  const run = async (body: { version: string; strategy?: never | Record<string, unknown> }) => {
    const d = await services.deploymentService.create(env, body as never);
    return d.id;
  };
  const until = (id: string, state: string) =>
    waitFor(`deployment ${id} to be ${state}`, async () => {
      const d = await services.deploymentService.get(id);
      return d.state === state ? d : undefined;
    }, 20_000, 20);

  let forceKey: string | undefined;

  it("creates the traffic stack with no traffic, and makes a force key for its force header", async () => {
    ({ forceKey } = await services.environmentService.create({
      name: env,
      target: tc.target,
      fleet: {
        replicas: 2,
        // An instance runs a command; a pod may keep its image's entrypoint.
        artifact: { command: tc.target === "aws" ? ["/opt/shop/bin/server"] : [], env: { GREETING: "hi" } },
        healthCheck: { path: "/healthz", interval: "5s", timeout: "2s", healthyThreshold: 2, startTimeout: "2m" },
        drainTimeout: "10s",
      },
      strategy: { type: "blue-green" },
      [tc.target]: tc.settings,
    } as never));
    expect(forceKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await waitFor("the environment to be ready", async () => (await services.environmentService.get(env)).status === "ready", 20_000, 20);
    expect(await engine.exists(`${env}.traffic`)).toBe(true);
    expect(tc.weights(engine, env)).toEqual({ blue: 0, green: 0 });
    expect(tc.forced(engine, env)).toEqual([]);
    // The key is shown once: the environment's answers never hold it, nor its sealed form.
    const view = await services.environmentService.get(env);
    expect(JSON.stringify(view)).not.toContain(forceKey);
    expect(view.spec.forceKey).toBeUndefined();
    expect((await services.environmentService.list()).find((e) => e.name === env)!.spec.forceKey).toBeUndefined();
  });

  it("deploys v1 to blue at 100", async () => {
    const id = await run({ version: "v1" });
    await until(id, "succeeded");
    expect(tc.weights(engine, env)).toEqual({ blue: 100, green: 0 });
    // The force rule carries the key the environment was created with, opened from the journal.
    expect(tc.forced(engine, env)).toEqual([`blue:${forceKey}`]);
    expect(await services.environmentService.get(env)).toMatchObject({ liveVersion: "v1", activeColor: "blue" });
  });

  it("shifts v2 to green in canary steps, waits for promote, then retires blue", async () => {
    const id = await run({ version: "v2", strategy: { type: "canary", steps: [{ weight: 10 }, { weight: 30, pause: "manual" }] } as never });
    await until(id, "paused");
    expect(tc.weights(engine, env)).toEqual({ blue: 70, green: 30 });
    const trafficUps = engine.history.filter((h) => h.stack === `${env}.traffic` && h.op === "up");
    expect(trafficUps.length).toBeGreaterThanOrEqual(4);
    services.deploymentService.promote(id);
    await until(id, "succeeded");
    expect(tc.weights(engine, env)).toEqual({ blue: 0, green: 100 });
    expect(await engine.exists(`${env}.blue`)).toBe(false);
    expect(await services.environmentService.get(env)).toMatchObject({ liveVersion: "v2", activeColor: "green", previousVersion: "v1" });
  });

  it("rolls a version that never gets healthy back, without ever sending it traffic", async () => {
    const before = engine.history.length;
    const id = await run({ version: "bad" });
    const d = await until(id, "rolled_back");
    expect(d.error!.message).toMatch(/never became healthy/);
    const trafficAfter = engine.history.slice(before).filter((h) => h.stack === `${env}.traffic`);
    expect(trafficAfter).toEqual([]);
    expect(tc.weights(engine, env)).toEqual({ blue: 0, green: 100 });
    expect(await engine.exists(`${env}.blue`)).toBe(false);
    expect(await services.environmentService.get(env)).toMatchObject({ liveVersion: "v2", activeColor: "green" });
  });

  it("rolls back to v1 on request, rebuilt on blue", async () => {
    const d = await services.deploymentService.rollback(env);
    expect(d).toMatchObject({ kind: "rollback", version: "v1" });
    await until(d.id, "succeeded");
    expect(tc.weights(engine, env)).toEqual({ blue: 100, green: 0 });
    expect(await services.environmentService.get(env)).toMatchObject({ liveVersion: "v1", activeColor: "blue" });
  });

  it("runs a pre-deploy job once before building the fleet, where the target can (a Kubernetes Job)", async () => {
    const preDeploy = { command: ["./migrate", "up"], timeout: "5m" };
    if (tc.target === "aws") {
      await expect(services.deploymentService.create(env, { version: "v3", preDeploy } as never)).rejects.toMatchObject({ code: "predeploy_unsupported" });
      return;
    }
    const before = engine.history.length;
    const id = (await services.deploymentService.create(env, { version: "v3", preDeploy } as never)).id;
    await until(id, "succeeded");
    const ops = engine.history.slice(before).map((h) => `${h.op} ${h.stack}`);
    expect(ops.slice(0, 3)).toEqual([`up ${env}.job`, `destroy ${env}.job`, `up ${env}.green`]);
    expect(await engine.exists(`${env}.job`)).toBe(false);

    const failing = (await services.deploymentService.create(env, { version: "badjob", preDeploy } as never)).id;
    const d = await until(failing, "rolled_back");
    expect(d.error).toMatchObject({ code: "predeploy_failed" });
    expect(d.error!.message).toContain("BackoffLimitExceeded");
    expect(await services.environmentService.get(env)).toMatchObject({ liveVersion: "v3" });
  });

  it("rolls v4 in waves: the new fleet's capacity grows as the old one's shrinks, weights following them", async () => {
    const from = (await services.environmentService.get(env)).activeColor as Color;
    const to: Color = from === "blue" ? "green" : "blue";
    const id = await run({ version: "v4", strategy: { type: "rolling", maxSurge: 1, maxUnavailable: 0, pause: "manual" } as never });
    await until(id, "paused");
    expect(tc.weights(engine, env)).toEqual({ [from]: 50, [to]: 50 });
    expect(tc.capacity(engine, `${env}.${to}`)).toBe(1);
    expect(tc.capacity(engine, `${env}.${from}`)).toBe(1);
    services.deploymentService.promote(id);
    await until(id, "succeeded");
    expect(tc.weights(engine, env)).toEqual({ [from]: 0, [to]: 100 });
    expect(tc.capacity(engine, `${env}.${to}`)).toBe(2);
    expect(await engine.exists(`${env}.${from}`)).toBe(false);
    expect(await services.environmentService.get(env)).toMatchObject({ liveVersion: "v4", activeColor: to });
  });

  it("deletes every stack of the environment", async () => {
    await services.environmentService.delete(env);
    await waitFor("the environment to be gone", async () => !(await services.environmentService.list()).some((e) => e.name === env), 20_000, 20);
    expect([...engine.stacks.keys()].filter((s) => s.startsWith(`${env}.`))).toEqual([]);
  });
});

// Traffic changes go to the running balancer directly, and the traffic
// stack's state records them afterwards by a refresh. Through deployments
// under load: no request fails, the stack's exported state shows the weights
// the balancer serves, a refresh finds no drift, and a server killed before
// the record, or inside it, leaves it for the next start. With CUTOVER_TRAFFIC_MODE=stack
// every change is an update of the traffic stack again.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { PulumiEngine } from "../../server/engine/pulumi-engine";
import { resolveToolchain } from "../../server/engine/toolchain";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

const ENV = "direct";

interface Pools {
  pools: Record<string, { weight: number; endpoints: string[] }>;
}

describe("traffic changes applied to the balancer directly", () => {
  const dataDir = tempDir("direct-traffic");
  const mark = uniqueMark();
  let server: RunningServer;
  let url = "";
  let version = 0;
  let load: ReturnType<typeof startLoad>;

  const engine = () => new PulumiEngine({ dataDir, passphrase: readFileSync(path.join(dataDir, "pulumi-passphrase"), "utf8").trim(), toolchain: resolveToolchain() });
  const environment = async () => (await server.api("GET", `/v1/environments/${ENV}`)).json;
  const balancerRouting = async () => JSON.parse((await request((await environment()).traffic.metricsUrl.replace(/\/metrics$/, "/config"))).body) as Pools;
  const weightsOf = (p: Pools) => Object.fromEntries(["blue", "green"].map((c) => [c, p.pools[c]?.endpoints?.length ? p.pools[c].weight : 0]));

  /** The balancer's pools as `pulumi stack export` shows them in the traffic stack's state. */
  async function exportedPools(): Promise<Pools> {
    const state = await (await engine().stack(`${ENV}.traffic`, async () => undefined)).exportStack();
    const balancer = (state.deployment.resources as { type: string; outputs: Pools }[]).find((r) => r.type === "cutover:local:LoadBalancer");
    return balancer!.outputs;
  }

  async function deploy(strategy?: Record<string, unknown>) {
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}`, ...(strategy ? { strategy } : {}) })).json;
    return waitForDeployment(server, d.id, "terminal");
  }

  /** The stacks holding an update lock in the file backend. */
  const locks = () => {
    const dir = path.join(dataDir, "state", ".pulumi", "locks", "organization", "cutover");
    return existsSync(dir) ? readdirSync(dir).filter((stack) => readdirSync(path.join(dir, stack)).some((f) => f.endsWith(".json"))) : [];
  };

  const recorded = () => waitFor("the traffic stack to record the direct changes", async () => (await environment()).trafficUnrecorded === undefined, 60_000, 100);

  beforeAll(async () => {
    server = await startServer({ dataDir });
    expect((await server.api("POST", "/v1/environments", await environmentSpec(ENV, mark))).status).toBe(201);
    url = (await waitForEnvironment(server, ENV, "ready")).traffic.url;
    expect((await deploy()).state).toBe("succeeded");
    load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, maxRequests: 5_000_000, maxMs: 20 * 60_000 });
    await waitFor("load to flow", () => load.result.ok > 50);
  });

  afterAll(async () => {
    await load?.stop();
    await server?.stop();
  });

  it("a canary's steps change the balancer without an update of the traffic stack, and the state records them afterwards", async () => {
    const d = await deploy({ type: "canary", steps: [{ weight: 25 }, { weight: 50 }] });
    expect(d.state).toBe("succeeded");
    const events = (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events as {
      type: string;
      data: { type?: string };
    }[];
    // The fleets' stacks ran; the balancer's resource was never updated by the engine.
    expect(events.some((e) => e.type === "engine:step_done" && e.data.type === "cutover:local:Fleet")).toBe(true);
    expect(events.filter((e) => e.type.startsWith("engine:") && e.data.type === "cutover:local:LoadBalancer")).toEqual([]);
    expect(events.filter((e) => e.type === "deployment:step").length).toBe(3);

    await recorded();
    const routing = await balancerRouting();
    const exported = await exportedPools();
    expect(weightsOf(exported)).toEqual(weightsOf(routing));
    expect(exported.pools[d.toColor].endpoints).toEqual(routing.pools[d.toColor].endpoints);
    expect(weightsOf(routing)).toEqual({ [d.toColor]: 100, [d.fromColor]: 0 });
    // The state is reality: a refresh changes nothing, and Cutover's own refresh finds no drift.
    expect(await engine().refresh(`${ENV}.traffic`)).toEqual({});
    const op = (await server.api("POST", `/v1/environments/${ENV}/refresh`, {})).json;
    const done = await waitFor("the refresh", async () => {
      const o = (await server.api("GET", `/v1/operations/${op.id}`)).json;
      return o.state === "succeeded" ? o : undefined;
    }, 30_000, 200);
    expect(done.drift).toEqual([]);
    expect(load.result.failed).toBe(0);
  });

  it("a server killed before the record leaves it to the next start", async () => {
    await server.terminate();
    server = await startServer({ dataDir, env: { CUTOVER_FAULT_KILL_AT: "recording-traffic" } });
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}` })).json;
    await server.exited;
    server = await startServer({ dataDir });
    const ended = await waitForDeployment(server, d.id, "terminal");
    expect(ended.state).toBe("succeeded");
    await recorded();
    expect(weightsOf(await exportedPools())).toEqual(weightsOf(await balancerRouting()));
    expect(weightsOf(await balancerRouting())).toEqual({ [ended.toColor]: 100, [ended.fromColor]: 0 });
    expect(load.result.failed).toBe(0);
  });

  it("a server killed at work on the record's refresh leaves no lock behind: the next start clears any it left and records", async () => {
    await server.terminate();
    server = await startServer({ dataDir, env: { CUTOVER_FAULT_KILL_AT: "recording-traffic:engine" } });
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}` })).json;
    await server.exited;
    // The engine's processes die with it, as in a machine's crash. The kill follows the refresh's first step: a refresh still
    // at work holds the traffic stack's lock, one that ended just before the kill (a refresh takes milliseconds once the
    // worker's provider runs) holds none. A lock a killed CLI left is made deterministically in engine-mending.test.ts.
    engine().killOrphanedProcesses();
    await waitFor("the engine's processes to be gone", () => engine().killOrphanedProcesses().length === 0, 10_000);
    expect([[], [`${ENV}.traffic`]]).toContainEqual(locks());
    server = await startServer({ dataDir });
    const ended = await waitForDeployment(server, d.id, "terminal");
    expect(ended.state).toBe("succeeded");
    await recorded();
    expect(locks()).toEqual([]);
    expect(weightsOf(await exportedPools())).toEqual({ [ended.toColor]: 100, [ended.fromColor]: 0 });
    expect((await environment()).observed.drift).toEqual([]);
    expect(load.result.failed).toBe(0);
  });

  it("with CUTOVER_TRAFFIC_MODE=stack each change is an update of the traffic stack", async () => {
    await server.terminate();
    server = await startServer({ dataDir, env: { CUTOVER_TRAFFIC_MODE: "stack" } });
    const d = await deploy();
    expect(d.state).toBe("succeeded");
    const events = (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events as {
      type: string;
      data: { type?: string; op?: string };
    }[];
    expect(events.some((e) => e.type === "engine:step_done" && e.data.type === "cutover:local:LoadBalancer" && e.data.op === "update")).toBe(true);
    expect((await environment()).trafficUnrecorded).toBeUndefined();
    expect(weightsOf(await exportedPools())).toEqual({ [d.toColor]: 100, [d.fromColor]: 0 });
    expect(load.result.failed).toBe(0);
    expect(load.result.errors).toEqual([]);
  });
});

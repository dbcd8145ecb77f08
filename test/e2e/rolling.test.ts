// Rolling deployments through the HTTP API on the local target: the new
// version's fleet stack is built small and grown wave by wave while the old
// one shrinks, weights following their capacity, under load the whole time.
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startLoad } from "../helpers/load";
import { processesWith } from "../helpers/processes";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { fixtureApp } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server?.stop();
});

const versionOf = (body: string) => JSON.parse(body).version as string;
const instancesOf = (mark: string, version: string) => processesWith(mark, `APP_VERSION=${version}`, fixtureApp).length;

async function createEnvironment(name: string, mark: string, replicas: number) {
  const spec = await environmentSpec(name, mark);
  spec.fleet.replicas = replicas;
  expect((await server.api("POST", "/v1/environments", spec)).status).toBe(201);
  return waitForEnvironment(server, name, "ready");
}

async function deploy(env: string, body: Record<string, unknown>) {
  const r = await server.api("POST", `/v1/environments/${env}/deployments`, body);
  expect(r.status).toBe(202);
  return r.json as { id: string };
}

async function eventsOf(id: string) {
  return (await server.api("GET", `/v1/deployments/${id}/events`, undefined, { accept: "application/json" })).json.events as { type: string; data: Record<string, unknown> }[];
}

async function deleteEnvironment(name: string) {
  expect((await server.api("DELETE", `/v1/environments/${name}`)).status).toBe(202);
  await waitFor(`environment ${name} to be gone`, async () => (await server.api("GET", `/v1/environments/${name}`)).status === 404, 60_000, 100);
}

/** Samples the instances of each version while a deployment runs, to check capacity bounds. */
function watchCapacity(mark: string, versions: [string, string]) {
  const seen: { old: number; new: number }[] = [];
  const timer = setInterval(() => seen.push({ old: instancesOf(mark, versions[0]), new: instancesOf(mark, versions[1]) }), 50);
  return { seen, stop: () => clearInterval(timer) };
}

describe("rolling", () => {
  it("rolls v1 to v2 in waves of one under load without a failed request, within maxSurge, then retires v1", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("roll", mark, 3);
    const url = env.traffic.url as string;
    const strategy = { type: "rolling", maxSurge: 1, maxUnavailable: 0 };
    // With nothing to roll from, the first version is built whole.
    await waitForDeployment(server, (await deploy("roll", { version: "v1", strategy })).id, "succeeded");
    expect(instancesOf(mark, "v1")).toBe(3);

    const load = startLoad(`${url}/`, { concurrency: 4, maxRequests: 200_000, maxMs: 120_000, bodyKey: versionOf });
    await waitFor("load to flow", () => load.result.ok > 100);
    const capacity = watchCapacity(mark, ["v1", "v2"]);
    const v2 = await deploy("roll", { version: "v2", strategy });
    const created = (await server.api("GET", `/v1/deployments/${v2.id}`)).json;
    expect(created.steps).toEqual([{ weight: 33 }, { weight: 67 }, { weight: 100 }]);
    expect(created.waves).toEqual([
      { shrinkTo: 3, grow: 1, old: 2 },
      { shrinkTo: 2, grow: 2, old: 1 },
      { shrinkTo: 1, grow: 3, old: 0 },
    ]);
    await waitForDeployment(server, v2.id, "succeeded");
    capacity.stop();
    const seen = load.result.ok;
    await waitFor("more requests after the last wave", () => load.result.ok > seen + 100);
    const result = await load.stop();

    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.byBody.get("v1")).toBeGreaterThan(0);
    expect(result.byBody.get("v2")).toBeGreaterThan(0);
    // Never more than 3 + maxSurge instances, never fewer than 3 - maxUnavailable ready to serve.
    expect(Math.max(...capacity.seen.map((s) => s.old + s.new))).toBeLessThanOrEqual(4);
    expect(instancesOf(mark, "v1")).toBe(0);
    expect(instancesOf(mark, "v2")).toBe(3);

    const events = await eventsOf(v2.id);
    const steps = events.filter((e) => e.type === "deployment:step").map((e) => e.data);
    expect(steps.map((s) => s.weights)).toEqual([
      { blue: 67, green: 33 },
      { blue: 33, green: 67 },
      { blue: 0, green: 100 },
    ]);
    expect(steps.map((s) => s.replicas)).toEqual([
      { green: 1, blue: 2 },
      { green: 2, blue: 1 },
      { green: 3, blue: 0 },
    ]);
    const resized = events.filter((e) => e.type === "deployment:resized").map((e) => `${e.data.color}=${e.data.replicas}`);
    expect(resized).toEqual(["blue=2", "green=2", "blue=1", "green=3"]);
    const status = (await server.api("GET", "/v1/environments/roll")).json;
    expect(status).toMatchObject({ liveVersion: "v2", activeColor: "green", weights: { blue: 0, green: 100 } });
    expect(Object.keys(status.fleets)).toEqual(["green"]);
    await deleteEnvironment("roll");
  });

  it("makes way before it surges when maxSurge is 0, never running more instances than the fleet's size", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("roll-nosurge", mark, 2);
    const url = env.traffic.url as string;
    await waitForDeployment(server, (await deploy("roll-nosurge", { version: "v1" })).id, "succeeded");
    const load = startLoad(`${url}/`, { concurrency: 2, maxRequests: 100_000, maxMs: 90_000 });
    await waitFor("load to flow", () => load.result.ok > 50);
    const capacity = watchCapacity(mark, ["v1", "v2"]);
    const v2 = await deploy("roll-nosurge", { version: "v2", strategy: { type: "rolling", maxSurge: 0, maxUnavailable: 1 } });
    await waitForDeployment(server, v2.id, "succeeded");
    capacity.stop();
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(Math.max(...capacity.seen.map((s) => s.old + s.new))).toBeLessThanOrEqual(2);
    const resized = (await eventsOf(v2.id)).filter((e) => e.type === "deployment:resized").map((e) => `${e.data.color}=${e.data.replicas}`);
    expect(resized).toEqual(["blue=1", "blue=0", "green=2"]);
    expect(instancesOf(mark, "v2")).toBe(2);
    await deleteEnvironment("roll-nosurge");
  });

  it("rolls back when a wave's analysis fails: the old fleet grows back to its size and the new one is removed", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("roll-bad", mark, 3);
    const url = env.traffic.url as string;
    await waitForDeployment(server, (await deploy("roll-bad", { version: "v1" })).id, "succeeded");
    const load = startLoad(`${url}/fail`, { concurrency: 2, maxRequests: 100_000, maxMs: 90_000 });
    const v2 = await deploy("roll-bad", {
      version: "v2",
      artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, FAIL_REQUESTS: "1" } },
      strategy: {
        type: "rolling",
        maxSurge: 1,
        maxUnavailable: 0,
        pause: "20s",
        analysis: { interval: "1s", metrics: [{ name: "errors", provider: { builtin: { metric: "error-rate" } }, successCondition: "result < 0.05" }] },
      },
    });
    const d = await waitForDeployment(server, v2.id, "rolled_back");
    await load.stop();
    expect(d.error.code).toBe("analysis_failed");
    expect(d.step).toBe(0);
    expect(instancesOf(mark, "v2")).toBe(0);
    expect(instancesOf(mark, "v1")).toBe(3);
    const status = (await server.api("GET", "/v1/environments/roll-bad")).json;
    expect(status).toMatchObject({ liveVersion: "v1", activeColor: "blue", weights: { blue: 100, green: 0 } });
    expect(Object.keys(status.fleets)).toEqual(["blue"]);
    expect(status.fleets.blue.replicas).toBe(3);
    await deleteEnvironment("roll-bad");
  });

  it("refuses a rolling strategy that could never move, saying why", async () => {
    const mark = uniqueMark();
    await createEnvironment("roll-input", mark, 2);
    const r = await server.api("POST", "/v1/environments/roll-input/deployments", { version: "v1", strategy: { type: "rolling", maxSurge: 0, maxUnavailable: "0%" } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("validation_failed");
    expect(r.json.error.message).toMatch(/cannot both be 0/);
    const bad = await server.api("POST", "/v1/environments/roll-input/deployments", { version: "v1", strategy: { type: "rolling", maxSurge: "lots" } });
    expect(bad.status).toBe(400);
    await deleteEnvironment("roll-input");
  });
});

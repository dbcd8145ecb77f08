// Deployments through the HTTP API with the real engine, real processes
// and a real SQLite journal.
import { request } from "../helpers/http";
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

async function createEnvironment(name: string, mark: string, extra: Record<string, unknown> = {}) {
  const created = await server.api("POST", "/v1/environments", await environmentSpec(name, mark, extra));
  expect(created.status).toBe(201);
  // The force key, when the environment opted in to forcing, is in the creation answer only.
  return { ...(await waitForEnvironment(server, name, "ready")), forceKey: created.json.forceKey as string | undefined };
}

async function deploy(env: string, body: Record<string, unknown>) {
  const r = await server.api("POST", `/v1/environments/${env}/deployments`, body);
  expect(r.status).toBe(202);
  expect(r.headers.location).toBe(`/v1/deployments/${r.json.id}`);
  return r.json as { id: string };
}

async function deleteEnvironment(name: string) {
  expect((await server.api("DELETE", `/v1/environments/${name}`)).status).toBe(202);
  await waitFor(`environment ${name} to be gone`, async () => (await server.api("GET", `/v1/environments/${name}`)).status === 404, 60_000, 100);
}

const versionOf = (body: string) => JSON.parse(body).version as string;

describe("blue/green", () => {
  it("moves v1 to v2 under continuous load without a failed request, then retires v1", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("bg-load", mark);
    const url = env.traffic.url as string;
    const v1 = await deploy("bg-load", { version: "v1" });
    await waitForDeployment(server, v1.id, "succeeded");
    expect(versionOf((await request(`${url}/`)).body)).toBe("v1");

    const load = startLoad(`${url}/`, { concurrency: 4, maxRequests: 100_000, maxMs: 90_000, bodyKey: versionOf });
    await waitFor("load to flow", () => load.result.ok > 100);
    const v2 = await deploy("bg-load", { version: "v2" });
    const done = await waitForDeployment(server, v2.id, "succeeded");
    const seen = load.result.ok;
    await waitFor("more requests after the cutover", () => load.result.ok > seen + 100);
    const result = await load.stop();

    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.byBody.get("v1")).toBeGreaterThan(0);
    expect(result.byBody.get("v2")).toBeGreaterThan(0);
    expect(done.fromColor).toBe("blue");
    expect(done.toColor).toBe("green");
    expect(processesWith(mark, "APP_VERSION=v1")).toEqual([]);
    expect(processesWith(mark, "APP_VERSION=v2").length).toBeGreaterThanOrEqual(2);

    const status = (await server.api("GET", "/v1/environments/bg-load")).json;
    expect(status).toMatchObject({ liveVersion: "v2", activeColor: "green", previousVersion: "v1", weights: { blue: 0, green: 100 } });
    expect(Object.keys(status.fleets)).toEqual(["green"]);
    expect(status.recentDeployments.map((d: { id: string }) => d.id)).toEqual([v2.id, v1.id]);

    const events = (await server.api("GET", `/v1/deployments/${v2.id}/events`, undefined, { accept: "application/json" })).json.events;
    const phases = events.filter((e: { type: string }) => e.type === "deployment:phase").map((e: { data: { phase: string } }) => e.data.phase);
    expect(phases).toEqual(["provisioning", "verifying", "shifting", "retiring", "done"]);
    expect(events.some((e: { type: string }) => e.type === "engine:step_done")).toBe(true);

    const metrics = (await server.api("GET", "/metrics")).body;
    expect(metrics).toContain('cutover_deployments_total{environment="bg-load",strategy="blue-green",result="succeeded"} 2');
    expect(metrics).toContain('cutover_deployment_duration_seconds_count{environment="bg-load",strategy="blue-green",result="succeeded"} 2');
    // What the balancer saw of the live version under the load: its 5xx share and p95.
    expect(Number(/cutover_live_version_error_ratio\{environment="bg-load",version="v2"\} (\S+)/.exec(metrics)?.[1])).toBeLessThan(0.01);
    expect(Number(/cutover_live_version_latency_p95_seconds\{environment="bg-load",version="v2"\} (\S+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toContain('cutover_environment_traffic_weight{environment="bg-load",color="green"} 100');
    expect(metrics).toMatch(/cutover_deployment_phase_duration_seconds_count\{phase="provisioning"\} [1-9]/);
    // Each request's time in the server, by route pattern: the polls above are counted under the environment's route.
    expect(metrics).toMatch(/cutover_http_request_duration_seconds_count\{method="GET",route="\/v1\/environments\/:name"\} [1-9]/);
    expect(metrics).toMatch(/cutover_http_request_duration_seconds_bucket\{le="0\.05",method="GET",route="\/healthz"\} [1-9]|cutover_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="0\.05"\} [1-9]/);

    await deleteEnvironment("bg-load");
    expect(processesWith(mark)).toEqual([]);
  });

  it("rolls back a version whose health check fails: v1 keeps serving and nothing of the bad fleet is left", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("bg-bad", mark);
    const url = env.traffic.url as string;
    await waitForDeployment(server, (await deploy("bg-bad", { version: "v1" })).id, "succeeded");

    const bad = await deploy("bg-bad", {
      version: "v2",
      artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, FAIL_HEALTH: "1" } },
    });
    const d = await waitForDeployment(server, bad.id, "rolled_back");
    expect(d.error.code).toBe("operation_failed");
    expect(d.error.message).toMatch(/did not become healthy/);
    expect(d.error.message).not.toMatch(/PULUMI_CONFIG_PASSPHRASE|test-passphrase/);
    expect(versionOf((await request(`${url}/`)).body)).toBe("v1");
    expect(processesWith(mark, "APP_VERSION=v2")).toEqual([]);
    const status = (await server.api("GET", "/v1/environments/bg-bad")).json;
    expect(status).toMatchObject({ liveVersion: "v1", activeColor: "blue", weights: { blue: 100, green: 0 } });
    await deleteEnvironment("bg-bad");
  });

  it("ends a deployment at its deadline within seconds, even while the new fleet waits out its health check's start timeout", async () => {
    const mark = uniqueMark();
    const spec = await environmentSpec("bg-deadline", mark);
    const env = await createEnvironment("bg-deadline", mark, {
      operationTimeout: "3s",
      fleet: { ...spec.fleet, healthCheck: { ...spec.fleet.healthCheck, startTimeout: "60s" } },
    });
    await waitForDeployment(server, (await deploy("bg-deadline", { version: "v1" })).id, "succeeded");

    const started = Date.now();
    const stuck = await deploy("bg-deadline", {
      version: "v2",
      artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, FAIL_HEALTH: "1" } },
    });
    const d = await waitForDeployment(server, stuck.id, "rolled_back", 60_000);
    const events = (await server.api("GET", `/v1/deployments/${stuck.id}/events`, undefined, { accept: "application/json" })).json.events as { type: string; at: string; data: Record<string, unknown> }[];
    const rollingBack = events.find((e) => e.type === "deployment:phase" && e.data.phase === "rolling_back")!;
    const startedAt = Date.parse(events.find((e) => e.type === "deployment:started")!.at);
    expect(d.error.code).toBe("timed_out");
    // The deadline (3 s of work) ends the wait for the health check, which would otherwise last 60 s.
    expect(Date.parse(rollingBack.at) - startedAt).toBeLessThan(15_000);
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(versionOf((await request(`${env.traffic.url}/`)).body)).toBe("v1");
    await waitFor("the stopped fleet's instances to be gone", () => processesWith(mark, "APP_VERSION=v2").length === 0, 15_000);
    expect((await server.api("GET", "/v1/environments/bg-deadline")).json).toMatchObject({ status: "ready", liveVersion: "v1", weights: { blue: 100, green: 0 } });
    await deleteEnvironment("bg-deadline");
    expect(processesWith(mark)).toEqual([]);
  });

  it("rolls back to the previous version on request, rebuilding it", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("bg-rb", mark);
    await waitForDeployment(server, (await deploy("bg-rb", { version: "v1" })).id, "succeeded");
    await waitForDeployment(server, (await deploy("bg-rb", { version: "v2" })).id, "succeeded");
    const rollback = await server.api("POST", "/v1/environments/bg-rb/rollback", {});
    expect(rollback.status).toBe(202);
    expect(rollback.json).toMatchObject({ kind: "rollback", version: "v1" });
    await waitForDeployment(server, rollback.json.id, "succeeded");
    expect(versionOf((await request(`${env.traffic.url}/`)).body)).toBe("v1");
    await deleteEnvironment("bg-rb");
  });
});

describe("canary", () => {
  it("waits at a manual step until promoted, with weights applied at each step", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("canary-ok", mark, { local: { listenPort: 0, stickyHeader: "x-user", forceHeader: "X-Cutover-Pool" } });
    const url = env.traffic.url as string;
    await waitForDeployment(server, (await deploy("canary-ok", { version: "v1" })).id, "succeeded");
    const c = await deploy("canary-ok", {
      version: "v2",
      strategy: { type: "canary", steps: [{ weight: 20, pause: "200ms" }, { weight: 50, pause: "manual" }] },
    });
    const paused = await waitForDeployment(server, c.id, "paused");
    expect(paused).toMatchObject({ phase: "shifting", step: 1, pausedBy: "manual-step" });
    const status = (await server.api("GET", "/v1/environments/canary-ok")).json;
    expect(status.weights).toEqual({ blue: 50, green: 50 });
    // A sticky user stays on one version while paused; a tester holding the force key can force the canary.
    const sticky = new Set(await Promise.all([1, 2, 3, 4, 5].map(async () => versionOf((await request(`${url}/`, { headers: { "x-user": "alice" } })).body))));
    expect(sticky.size).toBe(1);
    expect(versionOf((await request(`${url}/`, { headers: { "x-cutover-pool": `green:${env.forceKey}` } })).body)).toBe("v2");

    expect((await server.api("POST", `/v1/deployments/${c.id}/resume`, {})).json.error.code).toBe("invalid_state");
    const promoted = await server.api("POST", `/v1/deployments/${c.id}/promote`, {});
    expect(promoted.status).toBe(202);
    await waitForDeployment(server, c.id, "succeeded");
    expect((await server.api("GET", "/v1/environments/canary-ok")).json.weights).toEqual({ blue: 0, green: 100 });
    const events = (await server.api("GET", `/v1/deployments/${c.id}/events`, undefined, { accept: "application/json" })).json.events;
    const weights = events.filter((e: { type: string }) => e.type === "deployment:step").map((e: { data: { weight: number } }) => e.data.weight);
    expect(weights).toEqual([20, 50, 100]);
    await deleteEnvironment("canary-ok");
  });

  it("rolls back when aborted in the middle of a canary", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("canary-abort", mark);
    const url = env.traffic.url as string;
    await waitForDeployment(server, (await deploy("canary-abort", { version: "v1" })).id, "succeeded");
    const c = await deploy("canary-abort", { version: "v2", strategy: { type: "canary", steps: [{ weight: 40, pause: "manual" }] } });
    await waitForDeployment(server, c.id, "paused");
    const load = startLoad(`${url}/`, { concurrency: 2, maxRequests: 50_000, maxMs: 60_000, bodyKey: versionOf });
    await waitFor("load to reach both versions", () => (load.result.byBody.get("v2") ?? 0) > 10 && (load.result.byBody.get("v1") ?? 0) > 10);
    const aborted = await server.api("POST", `/v1/deployments/${c.id}/abort`, { reason: "error budget burning" });
    expect(aborted.status).toBe(202);
    const d = await waitForDeployment(server, c.id, "rolled_back");
    expect(d.error).toEqual({ code: "aborted", message: "error budget burning" });
    const result = await load.stop();
    expect(result.failed).toBe(0);
    expect(versionOf((await request(`${url}/`)).body)).toBe("v1");
    expect(processesWith(mark, "APP_VERSION=v2")).toEqual([]);
    expect((await server.api("GET", "/v1/environments/canary-abort")).json).toMatchObject({ liveVersion: "v1", weights: { blue: 100, green: 0 } });
    await deleteEnvironment("canary-abort");
  });

  it("rolls back automatically when the canary's error rate passes the analysis limit", async () => {
    const mark = uniqueMark();
    const env = await createEnvironment("canary-err", mark);
    const url = env.traffic.url as string;
    await waitForDeployment(server, (await deploy("canary-err", { version: "v1" })).id, "succeeded");
    const load = startLoad(`${url}/fail`, { concurrency: 2, maxRequests: 50_000, maxMs: 60_000 });
    const c = await deploy("canary-err", {
      version: "v2",
      artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, FAIL_REQUESTS: "1" } },
      strategy: { type: "canary", steps: [{ weight: 50, pause: "30s" }], analysis: { maxErrorRate: 0.1, minRequests: 10 } },
    });
    const d = await waitForDeployment(server, c.id, "rolled_back");
    await load.stop();
    expect(d.error.code).toBe("canary_analysis_failed");
    expect(processesWith(mark, "APP_VERSION=v2")).toEqual([]);
    await deleteEnvironment("canary-err");
  });
});

describe("ordering", () => {
  it("runs two deployments to one environment one after the other, the second visibly queued", async () => {
    const mark = uniqueMark();
    await createEnvironment("serial", mark);
    const first = await deploy("serial", { version: "v1" });
    const second = await server.api("POST", "/v1/environments/serial/deployments", { version: "v2" });
    expect(second.json).toMatchObject({ state: "queued", queuePosition: 1 });
    const [a, b] = await Promise.all([waitForDeployment(server, first.id, "succeeded"), waitForDeployment(server, second.json.id, "succeeded")]);
    expect(Date.parse(b.startedAt)).toBeGreaterThanOrEqual(Date.parse(a.finishedAt));
    await deleteEnvironment("serial");
  });

  it("runs deployments to two environments at the same time", async () => {
    const [m1, m2] = [uniqueMark(), uniqueMark()];
    await Promise.all([createEnvironment("par-a", m1), createEnvironment("par-b", m2)]);
    const [a, b] = await Promise.all([deploy("par-a", { version: "v1" }), deploy("par-b", { version: "v1" })]);
    const [da, db] = await Promise.all([waitForDeployment(server, a.id, "succeeded"), waitForDeployment(server, b.id, "succeeded")]);
    expect(Date.parse(da.startedAt)).toBeLessThan(Date.parse(db.finishedAt));
    expect(Date.parse(db.startedAt)).toBeLessThan(Date.parse(da.finishedAt));
    await Promise.all([deleteEnvironment("par-a"), deleteEnvironment("par-b")]);
  });
});

describe("idempotency", () => {
  it("returns the original deployment for a retried POST and starts nothing new", async () => {
    const mark = uniqueMark();
    await createEnvironment("idem", mark);
    const headers = { "idempotency-key": "deploy-idem-v1" };
    const first = await server.api("POST", "/v1/environments/idem/deployments", { version: "v1" }, headers);
    const again = await server.api("POST", "/v1/environments/idem/deployments", { version: "v1" }, headers);
    expect(again.status).toBe(202);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json.id).toBe(first.json.id);
    const other = await server.api("POST", "/v1/environments/idem/deployments", { version: "v9" }, headers);
    expect(other.status).toBe(422);
    expect(other.json.error.code).toBe("idempotency_key_reused");
    await waitForDeployment(server, first.json.id, "succeeded");
    expect((await server.api("GET", "/v1/environments/idem/deployments")).json.deployments).toHaveLength(1);
    await deleteEnvironment("idem");
  });
});

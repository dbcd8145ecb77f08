// Metric analysis end to end against a real Prometheus scraping the
// environment's balancer, under load: a version answering 10% 5xx is rolled
// back by a PromQL error-rate query, a healthy one is promoted (judged by
// Prometheus and by the balancer's own latency), and a query with no series
// follows its `noData` policy: inconclusive pauses for a person.
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startLoad } from "../helpers/load";
import { startPrometheus, type PrometheusServer } from "../helpers/prometheus";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { fixtureApp } from "../helpers/temp-dir";
import { request } from "../helpers/http";
import { waitFor } from "../helpers/wait-for";


let server: RunningServer;
let prometheus: PrometheusServer;
let load: ReturnType<typeof startLoad>;
/** The environment's force key: pre-promotion smoke traffic carries it. */
let forceKey: string;
const mark = uniqueMark();

beforeAll(async () => {
  // Prometheus runs on loopback: a caller's own address there passes only because the operator allows it.
  server = await startServer({ env: { CUTOVER_OUTBOUND_ALLOW: "127.0.0.1" } });
  const created = await server.api("POST", "/v1/environments", await environmentSpec("analysed", mark, { local: { listenPort: 0, stickyHeader: "x-user", forceHeader: "X-Cutover-Pool" } }));
  expect(created.status).toBe(201);
  forceKey = created.json.forceKey;
  const env = await waitForEnvironment(server, "analysed", "ready");
  const v1 = (await server.api("POST", "/v1/environments/analysed/deployments", { version: "v1" })).json.id;
  await waitForDeployment(server, v1, "succeeded");
  prometheus = await startPrometheus([{ job: "cutover-proxy", address: new URL(env.traffic.metricsUrl).host }]);
  load = startLoad(`${env.traffic.url}/work`, { concurrency: 2, maxMs: 600_000, maxRequests: 10_000_000 });
});

afterAll(async () => {
  await load?.stop();
  await prometheus?.stop();
  await server?.stop();
});

const errorRate = (over: Record<string, unknown> = {}) => ({
  name: "error-rate",
  provider: {
    prometheus: {
      address: prometheus.url,
      query: 'sum(rate(cutover_proxy_responses_5xx_total{version="{{version}}"}[5s])) / sum(rate(cutover_proxy_requests_total{version="{{version}}"}[5s]))',
    },
  },
  successCondition: "result < 0.02",
  ...over,
});

async function deploy(version: string, analysis: Record<string, unknown>, env: Record<string, string> = {}) {
  const r = await server.api("POST", "/v1/environments/analysed/deployments", {
    version,
    artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, ...env } },
    strategy: { type: "canary", steps: [{ weight: 50, pause: "12s" }, { weight: 100 }], analysis },
  });
  expect(r.status).toBe(202);
  return r.json.id as string;
}

const measurements = async (id: string) =>
  ((await server.api("GET", `/v1/deployments/${id}/events`, undefined, { accept: "application/json" })).json.events as any[]).filter((e) => e.type === "deployment:measurement");

describe("metric analysis", () => {
  it("rolls back a version whose error rate Prometheus reports above the limit", async () => {
    const id = await deploy("v2", { interval: "2s", failureLimit: 1, inconclusiveLimit: 20, metrics: [errorRate()] }, { FAIL_RATE: "0.1" });
    const d = await waitForDeployment(server, id, "terminal", 120_000);
    expect(d.state).toBe("rolled_back");
    expect(d.error.code).toBe("analysis_failed");
    const failed = (await measurements(id)).filter((m) => m.data.outcome === "failed");
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed[0].data.value[0]).toBeGreaterThan(0.05);
    expect(failed[0].data.value[0]).toBeLessThan(0.2);
    expect((await server.api("GET", "/v1/environments/analysed")).json.liveVersion).toBe("v1");
    const metrics = (await server.api("GET", "/metrics")).body;
    expect(metrics).toContain('cutover_analysis_failures_total{environment="analysed",metric="error-rate"} 1');
    expect(metrics).toMatch(/cutover_analysis_measurements_total\{environment="analysed",metric="error-rate",outcome="failed"\} [2-9]/);
  });

  it("promotes a healthy version, judged by Prometheus and by the balancer's latency", async () => {
    const id = await deploy("v3", {
      interval: "2s",
      failureLimit: 0,
      inconclusiveLimit: 20,
      metrics: [errorRate(), { name: "latency", provider: { builtin: { metric: "latency-p95" } }, successCondition: "result < 1", noData: "inconclusive" }],
    });
    const d = await waitForDeployment(server, id, "terminal", 120_000);
    expect(d.state).toBe("succeeded");
    const all = await measurements(id);
    expect(all.some((m) => m.data.metric === "error-rate" && m.data.outcome === "successful" && m.data.value[0] === 0)).toBe(true);
    expect(all.some((m) => m.data.metric === "latency" && m.data.outcome === "successful" && m.data.value[0] < 1)).toBe(true);
    expect(all.every((m) => m.data.outcome !== "failed")).toBe(true);
  });

  it("follows noData: a query with no series is inconclusive and pauses for a person, who promotes", async () => {
    const id = await deploy("v4", {
      interval: "2s",
      inconclusiveLimit: 0,
      metrics: [errorRate({ name: "absent", provider: { prometheus: { address: prometheus.url, query: 'sum(rate(cutover_proxy_requests_total{version="no-such-version"}[5s]))' } }, noData: "inconclusive" })],
    });
    const paused = await waitForDeployment(server, id, "paused", 120_000);
    expect(paused.pausedBy).toBe("analysis");
    const [m] = await measurements(id);
    expect(m.data).toMatchObject({ metric: "absent", outcome: "inconclusive", message: "no data" });
    expect((await server.api("POST", `/v1/deployments/${id}/promote`, {})).status).toBe(202);
    expect((await waitForDeployment(server, id, "terminal", 120_000)).state).toBe("succeeded");
  });

  it("judges a blue/green deployment during its bake, and flips back when it fails", async () => {
    const r = await server.api("POST", "/v1/environments/analysed/deployments", {
      version: "v6",
      artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, FAIL_RATE: "0.5" } },
      strategy: {
        type: "blue-green",
        bake: "15s",
        analysis: { interval: "1s", metrics: [{ name: "errors", provider: { builtin: { metric: "error-rate" } }, successCondition: "result < 0.05" }] },
      },
    });
    expect(r.status).toBe(202);
    const d = await waitForDeployment(server, r.json.id, "terminal", 120_000);
    expect(d).toMatchObject({ state: "rolled_back", error: { code: "analysis_failed" } });
    const [failed] = (await measurements(d.id)).filter((m) => m.data.outcome === "failed");
    expect(failed.data).toMatchObject({ metric: "errors", phase: "baking" });
    expect(failed.data.value[0]).toBeGreaterThan(0.3);
    const env = (await server.api("GET", "/v1/environments/analysed")).json;
    expect(env.liveVersion).toBe("v4");
    expect(env.weights[env.activeColor]).toBe(100);
  });

  it("judges a blue/green version before it gets any traffic, through the keyed force header (prePromotion)", async () => {
    const smoke = { interval: "1s", metrics: [{ name: "smoke", provider: { builtin: { metric: "error-rate" } }, successCondition: "result < 0.05", count: 3, noData: "fail" }] };
    const env = (await server.api("GET", "/v1/environments/analysed")).json;
    const run = async (version: string, failRate: string) => {
      const r = await server.api("POST", "/v1/environments/analysed/deployments", {
        version,
        artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, FAIL_RATE: failRate } },
        strategy: { type: "blue-green", prePromotion: smoke },
      });
      expect(r.status).toBe(202);
      // A smoke test sends requests to the new color only, through the balancer's force header and the environment's key.
      const color = (await waitFor("the new color", async () => (await server.api("GET", `/v1/deployments/${r.json.id}`)).json.toColor)) as string;
      let sending = true;
      const smokeTest = (async () => {
        while (sending) await request(`${env.traffic.url}/smoke`, { headers: { "x-cutover-pool": `${color}:${forceKey}` } }).catch(() => undefined);
      })();
      const d = await waitForDeployment(server, r.json.id, "terminal", 120_000);
      sending = false;
      await smokeTest;
      return d;
    };

    const failing = await run("v7", "0.5");
    expect(failing).toMatchObject({ state: "rolled_back", error: { code: "analysis_failed" } });
    const failed = (await measurements(failing.id)).filter((m) => m.data.outcome === "failed");
    expect(failed[0].data).toMatchObject({ metric: "smoke", stage: "pre-promotion" });
    const types = ((await server.api("GET", `/v1/deployments/${failing.id}/events`, undefined, { accept: "application/json" })).json.events as any[]).map((e) => e.type);
    expect(types).not.toContain("deployment:traffic_intent");

    const passing = await run("v8", "0");
    expect(passing.state).toBe("succeeded");
    const events = (await server.api("GET", `/v1/deployments/${passing.id}/events`, undefined, { accept: "application/json" })).json.events as any[];
    const smokeRounds = events.filter((e) => e.type === "deployment:measurement" && e.data.stage === "pre-promotion");
    expect(smokeRounds.map((e) => e.data.outcome)).toEqual(["successful", "successful", "successful"]);
    expect(events.findIndex((e) => e.type === "deployment:measurement")).toBeLessThan(events.findIndex((e) => e.type === "deployment:traffic_intent"));
  });

  it("refuses conditions outside the language", async () => {
    const r = await server.api("POST", "/v1/environments/analysed/deployments", {
      version: "v5",
      strategy: { type: "canary", steps: [{ weight: 50, pause: "5s" }], analysis: { metrics: [errorRate({ successCondition: "process.exit(1)" })] } },
    });
    expect(r.status).toBe(400);
    expect(r.json.error.message).toMatch(/successCondition/);
  });
});

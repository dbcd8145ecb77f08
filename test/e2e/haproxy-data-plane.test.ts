// An environment whose balancer's data plane is HAProxy (Debian's), through
// the public API against a real server, fleets and haproxy: deployments
// blue/green and canary under load without a failed request, the weights
// the server observes read back from HAProxy, the per-version metrics the
// analysis reads, the force key, HAProxy killed under load and back within
// a second with its routing, and what it does not serve yet refused with
// its reason (TLS and maintenance on HAProxy: local-tls, maintenance).
import path from "node:path";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { firstAnswerAfter, request } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { haproxyIn } from "../helpers/processes";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

const ENV = "hx";
const HEADER = "x-cutover-pool";

describe("a local environment whose data plane is HAProxy", () => {
  const dataDir = tempDir("haproxy-plane");
  let server: RunningServer;
  let url = "";
  let forceKey = "";
  const balancerDir = path.join(dataDir, "runtime", "balancers", ENV);
  const versionOf = (body: string) => (JSON.parse(body) as { version: string }).version;

  beforeAll(async () => {
    server = await startServer({ dataDir });
    const created = await server.api("POST", "/v1/environments", await environmentSpec(ENV, uniqueMark(), { local: { listenPort: 0, dataPlane: "haproxy", forceHeader: HEADER } }));
    expect(created.status).toBe(201);
    forceKey = created.json.forceKey;
    url = (await waitForEnvironment(server, ENV, "ready")).traffic.url;
    const d = await waitForDeployment(server, (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v1" })).json.id, "terminal");
    expect(d.state).toBe("succeeded");
  });

  afterAll(() => server?.stop());

  it("deploys blue/green and canary under load without a failed request, the weights read back from HAProxy", async () => {
    expect(haproxyIn(balancerDir)).toHaveLength(1);
    const load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, maxMs: 300_000, bodyKey: versionOf });
    try {
      expect((await waitForDeployment(server, (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v2" })).json.id, "terminal")).state).toBe("succeeded");
      const canary = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v3", strategy: { type: "canary", steps: [{ weight: 50, pause: "manual" }] } })).json;
      await waitForDeployment(server, canary.id, "paused");
      // What the server observes is what HAProxy routes by (its runtime map, read back through the admin API).
      const env = (await server.api("GET", `/v1/environments/${ENV}`)).json;
      const config = JSON.parse((await request(env.traffic.metricsUrl.replace(/\/metrics$/, "/config"))).body);
      const live = env.activeColor as string;
      const next = live === "blue" ? "green" : "blue";
      expect({ [live]: config.pools[live].weight, [next]: config.pools[next].weight }).toEqual({ [live]: 50, [next]: 50 });
      const seenBefore = load.result.byBody.get("v3") ?? 0;
      await waitFor("both versions to answer at 50%", () => (load.result.byBody.get("v3") ?? 0) > seenBefore + 100 && (load.result.byBody.get("v2") ?? 0) > 100);
      // The per-version series the analysis reads, from HAProxy's counters of the pool's backend.
      await waitFor("the canary's requests to be counted", async () => {
        const metrics = (await request(env.traffic.metricsUrl)).body;
        return Number(new RegExp(`^cutover_proxy_requests_total\\{pool="${next}",version="v3"\\} (\\d+)`, "m").exec(metrics)?.[1] ?? 0) > 100;
      });
      // The force key reaches the canary's pool; a wrong key is routed by the weights.
      for (let i = 0; i < 10; i++) expect(versionOf((await request(`${url}/`, { headers: { [HEADER]: `${next}:${forceKey}` } })).body)).toBe("v3");
      // The instance never sees the header that carries the key; it is told how the request came in.
      const seen = JSON.parse((await request(`${url}/headers`, { headers: { [HEADER]: `${next}:${forceKey}` } })).body) as { version: string; headers: Record<string, string> };
      expect(seen.version).toBe("v3");
      expect(seen.headers[HEADER]).toBeUndefined();
      expect(seen.headers["x-forwarded-proto"]).toBe("http");
      expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
      expect((await server.api("POST", `/v1/deployments/${canary.id}/promote`)).status).toBe(202);
      expect((await waitForDeployment(server, canary.id, "terminal")).state).toBe("succeeded");
      await waitFor("v3 to serve everything", async () => versionOf((await request(`${url}/`)).body) === "v3");
    } finally {
      const result = await load.stop();
      expect(result.errors).toEqual([]);
      expect(result.failed).toBe(0);
      expect(result.ok).toBeGreaterThan(1000);
    }
  });

  it("serves again within a second when HAProxy is killed under load, with its routing", async () => {
    const [pid] = haproxyIn(balancerDir);
    const load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, maxMs: 120_000, bodyKey: versionOf });
    try {
      await waitFor("load to flow", () => load.result.ok > 200);
      const killed = Date.now();
      process.kill(pid, "SIGKILL");
      const served = await firstAnswerAfter(`${url}/`, killed);
      expect(served.ms).toBeLessThan(1000);
      expect(versionOf(served.body)).toBe("v3");
      const [again] = haproxyIn(balancerDir);
      expect(again).toBeDefined();
      expect(again).not.toBe(pid);
      const okAfter = load.result.ok;
      await waitFor("load to flow again", () => load.result.ok > okAfter + 500);
    } finally {
      const result = await load.stop();
      // Only requests in flight on the dead process's connections can fail; new ones wait in the accept queue.
      expect(result.failed).toBeLessThanOrEqual(4);
      expect([...result.byBody.keys()]).toEqual(["v3"]);
    }
  });

  it("refuses a data plane it does not know, and says what a host without HAProxy lacks", async () => {
    for (const local of [{ listenPort: 0, dataPlane: "nginx" }]) {
      const r = await server.api("POST", "/v1/environments", await environmentSpec("hx-refused", uniqueMark(), { local }));
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe("validation_failed");
    }
    expect((await server.api("GET", "/v1/environments/hx-refused")).status).toBe(404);
    // A host without HAProxy says so at creation, not when the balancer fails to start.
    const without = await startServer({ env: { CUTOVER_HAPROXY_BIN: path.join(dataDir, "no-haproxy-here") } });
    try {
      const r = await without.api("POST", "/v1/environments", await environmentSpec("hx-none", uniqueMark(), { local: { listenPort: 0, dataPlane: "haproxy" } }));
      expect({ status: r.status, code: r.json.error?.code }).toEqual({ status: 400, code: "data_plane_unavailable" });
      expect(r.json.error.message).toContain("apt-get install haproxy");
    } finally {
      await without.stop();
    }
  });
});

// Forcing a pool, tried as a caller on the balancer's port would: through
// the real balancer of a real server. Without `forceHeader` nothing forces
// a pool; with it only `<color>:<key>` does, the key shown once at
// creation and kept through restarts and traffic changes; the instance
// never sees the header; forced requests never count in the routed
// analysis, and pre-promotion analysis judges exactly them.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { fixtureApp } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

let server: RunningServer;
/** The log lines of servers this file stopped. */
const earlierLogs: string[] = [];

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server?.stop();
});

const HEADER = "X-Cutover-Pool";

async function deploy(env: string, body: Record<string, unknown>): Promise<string> {
  const r = await server.api("POST", `/v1/environments/${env}/deployments`, body);
  expect(r.status).toBe(202);
  return r.json.id as string;
}

async function waitForPhase(id: string, phase: string) {
  return waitFor(`deployment ${id} to reach ${phase}`, async () => {
    const d = (await server.api("GET", `/v1/deployments/${id}`)).json;
    if (["succeeded", "rolled_back", "failed", "cancelled"].includes(d.state)) throw new Error(`deployment ${id} ended ${d.state}: ${JSON.stringify(d.error)}`);
    return d.phase === phase ? d : undefined;
  });
}

/** The versions that answer `n` requests sent with these headers. */
async function versionsFor(url: string, headers: Record<string, string>, n = 20): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(JSON.parse((await request(`${url}/`, { headers })).body).version);
  return [...seen].sort();
}

/** Every file under a directory. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** A counter of the balancer's exposition for a pool (its current version's series). */
async function counter(metricsUrl: string, name: string, pool: string): Promise<number> {
  const text = (await request(metricsUrl)).body;
  return Number(new RegExp(`^${name}\\{pool="${pool}",version="[^"]*"\\} (\\S+)`, "m").exec(text)?.[1] ?? NaN);
}

describe("an environment without forceHeader", () => {
  it("lets no header reach the pool kept warm for its bake", async () => {
    const created = await server.api("POST", "/v1/environments", await environmentSpec("unforced", uniqueMark()));
    expect(created.status).toBe(201);
    expect(created.json.forceKey).toBeUndefined();
    expect(created.json.spec.local.forceHeader).toBeUndefined();
    const url = (await waitForEnvironment(server, "unforced", "ready")).traffic.url as string;
    await waitForDeployment(server, await deploy("unforced", { version: "v1" }), "succeeded");
    const id = await deploy("unforced", { version: "v2", strategy: { type: "blue-green", bake: "5m" } });
    const baking = await waitForPhase(id, "baking");
    // v1 is warm on its color at weight 0: what used to be the default header reaches it no longer, however sent.
    for (const value of [baking.fromColor, `${baking.fromColor}:`, `${baking.fromColor}:anything`, baking.toColor]) {
      expect({ value, versions: await versionsFor(url, { [HEADER]: value }) }).toEqual({ value, versions: ["v2"] });
    }
    expect((await server.api("POST", `/v1/deployments/${id}/promote`, {})).status).toBe(202);
    await waitForDeployment(server, id, "succeeded");
  });
});

describe("an environment with forceHeader", () => {
  const mark = uniqueMark();
  let forceKey: string;
  let url: string;
  let metricsUrl: string;

  it("shows its force key once: in the creation answer, never in a later one or a replay", async () => {
    const spec = await environmentSpec("keyed", mark, { local: { listenPort: 0, stickyHeader: "x-user", forceHeader: HEADER, accessLog: true, upstreamTimeout: "45s" } });
    const idempotent = { "idempotency-key": "create-keyed" };
    const created = await server.api("POST", "/v1/environments", spec, idempotent);
    expect(created.status).toBe(201);
    forceKey = created.json.forceKey;
    expect(forceKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.json.spec.forceKey).toBeUndefined();

    const replay = await server.api("POST", "/v1/environments", spec, idempotent);
    expect(replay.status).toBe(201);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json.forceKey).toBeUndefined();
    expect(replay.json.replay).toMatchObject({ redacted: true });
    expect(replay.body).not.toContain(forceKey);

    const env = await waitForEnvironment(server, "keyed", "ready");
    url = env.traffic.url;
    metricsUrl = env.traffic.metricsUrl;
    const viewed = await server.api("GET", "/v1/environments/keyed");
    expect(viewed.json.spec.local.forceHeader).toBe(HEADER);
    expect(viewed.json.spec.forceKey).toBeUndefined();
    const listed = await server.api("GET", "/v1/environments");
    expect(listed.json.environments.find((e: { name: string }) => e.name === "keyed").spec.forceKey).toBeUndefined();
    for (const text of [viewed.body, listed.body]) expect(text).not.toContain(forceKey);
  });

  it("forces a pool only for `<color>:<key>`; anything else is routed by weight, and the instance never sees the header", async () => {
    await waitForDeployment(server, await deploy("keyed", { version: "v1" }), "succeeded");
    const id = await deploy("keyed", { version: "v2", strategy: { type: "blue-green", bake: "5m" } });
    const { fromColor: warm, toColor: live } = await waitForPhase(id, "baking");

    for (const value of [warm, `${warm}:`, `${warm}:not-the-key`, `${warm}:${forceKey.slice(0, -1)}`, `${warm}:${forceKey}x`, `${warm}:${forceKey.toLowerCase()}`, forceKey]) {
      expect({ value, versions: await versionsFor(url, { [HEADER]: value }) }).toEqual({ value, versions: ["v2"] });
    }
    expect(await versionsFor(url, { [HEADER.toLowerCase()]: `${warm}:${forceKey}` })).toEqual(["v1"]);
    expect(await versionsFor(url, { [HEADER]: `${live}:${forceKey}` })).toEqual(["v2"]);

    for (const value of [`${warm}:${forceKey}`, warm, `${warm}:not-the-key`]) {
      const seen = JSON.parse((await request(`${url}/headers`, { headers: { [HEADER]: value } })).body).headers as Record<string, string>;
      expect({ value, header: seen[HEADER.toLowerCase()] }).toEqual({ value, header: undefined });
      expect(JSON.stringify(seen)).not.toContain(forceKey);
    }

    expect((await server.api("POST", `/v1/deployments/${id}/promote`, {})).status).toBe(202);
    await waitForDeployment(server, id, "succeeded");
  });

  it("keeps forced requests out of the routed counters: forced 5xx do not fail the bake's analysis", async () => {
    // Users' requests to / (which every version answers) flow throughout; forced ones go to a path the new version fails.
    const load = startLoad(`${url}/`, { concurrency: 1, maxMs: 120_000, maxRequests: 1_000_000 });
    const id = await deploy("keyed", {
      version: "v3",
      // Every path but / answers 500.
      artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, FAIL_REQUESTS: "1" } },
      strategy: {
        type: "blue-green",
        bake: "6s",
        analysis: { interval: "1s", metrics: [{ name: "errors", provider: { builtin: { metric: "error-rate" } }, successCondition: "result < 0.05", noData: "fail" }] },
      },
    });
    const toColor = (await waitFor("the new color", async () => (await server.api("GET", `/v1/deployments/${id}`)).json.toColor)) as string;
    let attacking = true;
    const attack = (async () => {
      while (attacking) await request(`${url}/boom`, { headers: { [HEADER]: `${toColor}:${forceKey}` } }).catch(() => undefined);
    })();
    const d = await waitForDeployment(server, id, "terminal");
    attacking = false;
    await attack;
    await load.stop();

    expect(d.state).toBe("succeeded");
    const events = (await server.api("GET", `/v1/deployments/${id}/events`, undefined, { accept: "application/json" })).json.events as any[];
    const values = events.filter((e) => e.type === "deployment:measurement").map((e) => e.data.value[0]);
    expect(values.length).toBeGreaterThan(0);
    expect(values.every((v) => v === 0)).toBe(true);
    expect(await counter(metricsUrl, "cutover_proxy_forced_responses_5xx_total", toColor)).toBeGreaterThan(20);
    expect(await counter(metricsUrl, "cutover_proxy_responses_5xx_total", toColor)).toBe(0);
    expect(await counter(metricsUrl, "cutover_proxy_requests_total", toColor)).toBeGreaterThan(0);
  });

  it("judges a version before promotion by the keyed smoke traffic alone", async () => {
    const smoke = { interval: "1s", metrics: [{ name: "smoke", provider: { builtin: { metric: "error-rate" } }, successCondition: "result < 0.05", count: 3, noData: "fail" }] };
    const run = async (version: string, env: Record<string, string>) => {
      const id = await deploy("keyed", {
        version,
        artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, ...env } },
        strategy: { type: "blue-green", prePromotion: smoke },
      });
      const color = (await waitFor("the new color", async () => (await server.api("GET", `/v1/deployments/${id}`)).json.toColor)) as string;
      let sending = true;
      const smokeTest = (async () => {
        while (sending) await request(`${url}/smoke`, { headers: { [HEADER]: `${color}:${forceKey}` } }).catch(() => undefined);
      })();
      const d = await waitForDeployment(server, id, "terminal");
      sending = false;
      await smokeTest;
      return d;
    };
    // The smoke traffic is all the new pool gets: without the forced counters there would be no data, and noData fails.
    expect((await run("v4", {})).state).toBe("succeeded");
    const failing = await run("v5", { FAIL_REQUESTS: "1" });
    // Compared whole, so that a failure shows the error's message too.
    expect({ state: failing.state, error: failing.error }).toEqual({ state: "rolled_back", error: expect.objectContaining({ code: "analysis_failed" }) });
  });

  it("keeps the key in the balancer across a restart and the traffic changes after it", async () => {
    const dataDir = server.dataDir;
    await server.terminate();
    earlierLogs.push(...server.log);
    server = await startServer({ dataDir });
    const id = await deploy("keyed", { version: "v6", strategy: { type: "canary", steps: [{ weight: 50, pause: "manual" }] } });
    const paused = await waitForDeployment(server, id, "paused");
    // The step rewrote the balancer's config: forcing still takes the key, and only the key.
    expect(await versionsFor(url, { [HEADER]: `${paused.toColor}:${forceKey}` })).toEqual(["v6"]);
    expect(await versionsFor(url, { [HEADER]: `${paused.fromColor}:${forceKey}` })).toEqual(["v4"]);
    expect(await versionsFor(url, { [HEADER]: paused.fromColor }, 40)).toEqual(["v4", "v6"]);
    expect((await server.api("POST", `/v1/deployments/${id}/promote`, {})).status).toBe(202);
    await waitForDeployment(server, id, "succeeded");
  });

  it("keeps the key out of the journal, Pulumi's state, events and logs", async () => {
    const deployments = (await server.api("GET", "/v1/deployments?environment=keyed")).json.deployments as { id: string }[];
    for (const d of deployments) {
      expect((await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).body).not.toContain(forceKey);
    }
    expect([...earlierLogs, ...server.log].join("\n")).not.toContain(forceKey);
    // The balancer's own config under runtime/ carries it to the proxy, private to Cutover's user.
    for (const file of filesUnder(server.dataDir).filter((f) => !f.includes(`${path.sep}runtime${path.sep}`))) {
      expect({ file, holds: readFileSync(file).includes(forceKey) }).toEqual({ file, holds: false });
    }
    for (const file of filesUnder(path.join(server.dataDir, "runtime", "balancers")).filter((f) => f.includes("config.json"))) {
      expect({ file, mode: statSync(file).mode & 0o077 }).toEqual({ file, mode: 0 });
    }
  });

  it("writes the balancer's access log (`local.accessLog`): a line per request, forced ones marked, never the key or a query string", async () => {
    const marker = `/access-${Date.now()}`;
    const live = (await server.api("GET", "/v1/environments/keyed")).json.activeColor as string;
    const answered = await request(`${url}${marker}?secret=query-never-logged`, { headers: { [HEADER]: `${live}:${forceKey}` } });
    const file = path.join(server.dataDir, "runtime", "balancers", "keyed", "access.log");
    const line = await waitFor("the request's access log line", () => {
      const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      return lines.find((l) => l.path === marker);
    });
    expect(line).toMatchObject({ method: "GET", path: marker, status: answered.status, pool: live, forced: true, client: "127.0.0.1" });
    expect(typeof line.version).toBe("string");
    expect(line.instance).toMatch(/^127\.0\.0\.1:\d+$/);
    // A request without an X-Request-Id was given one, and its line says which.
    expect(line.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(forceKey);
    expect(text).not.toContain("query-never-logged");
    expect(statSync(file).mode & 0o077).toBe(0);
    // The environment's other balancer settings reached it too.
    const config = JSON.parse(readFileSync(path.join(server.dataDir, "runtime", "balancers", "keyed", "config.json"), "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({ accessLog: true, upstreamTimeoutMs: 45_000 });
  });
});

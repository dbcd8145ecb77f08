// Maintenance through the public API against a real server, its real
// balancer (on each data plane: cutover-proxy, HAProxy) and fleets: the page (503, Retry-After, the message as text),
// the force key still reaching a pool, maintenance kept through a
// deployment, held requests routed once it ends, a server killed between
// recording the change and making it (and, under load, while the balancer
// takes it or just after), the balancer's process killed while it holds
// requests, and what each caller may do.
import { readFileSync } from "node:fs";
import path from "node:path";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { ask, request, type Answer } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

const HEADER = "x-cutover-pool";

const versionOf = (a: Answer) => (a.status === 200 ? (JSON.parse(a.body) as { version: string }).version : undefined);

// Both data planes serve maintenance alike; what does not touch the balancer (schedules, roles) runs once.
describe.each([
  { dataPlane: "cutover-proxy", ENV: "maint", full: true },
  { dataPlane: "haproxy", ENV: "maint-hx", full: false },
])("maintenance of a local environment ($dataPlane data plane)", ({ dataPlane, ENV, full }) => {
  const dataDir = tempDir(`maintenance-${dataPlane}`);
  let server: RunningServer;
  let url = "";
  let forceKey = "";
  let version = 0;

  const environment = async () => (await server.api("GET", `/v1/environments/${ENV}`)).json;
  const operation = async (reply: { status: number; json: { id: string } }) => {
    expect(reply.status).toBe(202);
    let op: { state: string; error?: unknown } = { state: "queued" };
    await waitFor("the operation to end", async () => {
      op = (await server.api("GET", `/v1/operations/${reply.json.id}`)).json;
      return op.state === "succeeded" || op.state === "failed";
    });
    return op;
  };
  const deploy = async () => waitForDeployment(server, (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}` })).json.id, "terminal");

  beforeAll(async () => {
    server = await startServer({ dataDir });
    const created = await server.api("POST", "/v1/environments", await environmentSpec(ENV, uniqueMark(), { local: { listenPort: 0, forceHeader: HEADER, dataPlane } }));
    expect(created.status).toBe(201);
    forceKey = created.json.forceKey;
    url = (await waitForEnvironment(server, ENV, "ready")).traffic.url;
    expect((await deploy()).state).toBe("succeeded");
  });

  afterAll(() => server?.stop());

  it("answers every request with the page while on, lets the force key through, and keeps it through a deployment", async () => {
    const on = await operation(await server.api("POST", `/v1/environments/${ENV}/maintenance`, { retryAfter: "2m", message: "<b>Back</b> at noon & soon" }));
    expect(on).toMatchObject({ state: "succeeded" });
    const page = await ask(`${url}/`);
    expect(page).toMatchObject({ status: 503, retryAfter: "120" });
    // The message is text on Cutover's page, never markup of the caller's.
    expect(page.body).toContain("&#60;b&#62;Back&#60;/b&#62; at noon &#38; soon");
    expect(page.body).not.toContain("<b>");
    expect((await environment()).maintenance).toMatchObject({ mode: "page", retryAfterSeconds: 120, by: { kind: "token" } });
    const forced = await ask(`${url}/`, { [HEADER]: `blue:${forceKey}` });
    expect(versionOf(forced) ?? versionOf(await ask(`${url}/`, { [HEADER]: `green:${forceKey}` }))).toBe("v1");

    // A deployment's traffic changes carry it: the new version is live, and still behind the page.
    expect((await deploy()).state).toBe("succeeded");
    expect((await ask(`${url}/`)).status).toBe(503);
    const live = (await environment()).activeColor as string;
    expect(versionOf(await ask(`${url}/`, { [HEADER]: `${live}:${forceKey}` }))).toBe("v2");

    const off = await operation(await server.api("DELETE", `/v1/environments/${ENV}/maintenance`));
    expect(off).toMatchObject({ state: "succeeded" });
    expect(versionOf(await ask(`${url}/`))).toBe("v2");
    expect((await environment()).maintenance).toBeUndefined();
  });

  it("holds requests while on in hold mode and routes every one of them once it ends", async () => {
    expect(await operation(await server.api("POST", `/v1/environments/${ENV}/maintenance`, { mode: "hold", holdTimeout: "2m" }))).toMatchObject({ state: "succeeded" });
    const metricsUrl = (await environment()).traffic.metricsUrl as string;
    const held = Array.from({ length: 20 }, () => ask(`${url}/`));
    await waitFor("the balancer to hold 20 requests", async () => /^cutover_proxy_requests_holding 20$/m.test((await request(metricsUrl)).body));
    const off = await operation(await server.api("DELETE", `/v1/environments/${ENV}/maintenance`));
    expect(off.state).toBe("succeeded");
    const answers = await Promise.all(held);
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(new Set(answers.map(versionOf))).toEqual(new Set(["v2"]));
    // HAProxy's counts come from its log lines, read a moment after the answers: the count reaches 20, and stays
    // there; a line HAProxy could not write (two of its threads at once) is counted as dropped instead.
    const counts = async () => {
      const body = (await request(metricsUrl)).body;
      const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(body)?.[1]);
      return { released: read("cutover_proxy_released_requests_total"), dropped: read("cutover_proxy_log_lines_dropped_total") };
    };
    await waitFor(
      "20 released requests to be counted",
      async () => {
        // Said when it times out: short of 20, or past it.
        const c = await counts();
        if (c.released !== 20 && !(c.released < 20 && c.released + c.dropped >= 20)) throw new Error(`counted ${JSON.stringify(c)}`);
        return true;
      },
      5000,
      20,
    );
    await new Promise((r) => setTimeout(r, 200));
    const c = await counts();
    expect({ ...c, accounted: c.released <= 20 && c.released + c.dropped >= 20 }).toMatchObject({ accounted: true });
  });

  it("gives a held request the page once its hold timeout passes", async () => {
    expect(await operation(await server.api("POST", `/v1/environments/${ENV}/maintenance`, { mode: "hold", holdTimeout: "500ms", retryAfter: "30s" }))).toMatchObject({ state: "succeeded" });
    const a = await ask(`${url}/`);
    expect(a).toMatchObject({ status: 503, retryAfter: "30" });
    expect(a.ms).toBeGreaterThanOrEqual(450);
    expect((await operation(await server.api("DELETE", `/v1/environments/${ENV}/maintenance`))).state).toBe("succeeded");
  });

  it("holds again once the balancer's process, killed while holding, is back; the requests it held are lost with it", async () => {
    expect(await operation(await server.api("POST", `/v1/environments/${ENV}/maintenance`, { mode: "hold", holdTimeout: "2m" }))).toMatchObject({ state: "succeeded" });
    const metricsUrl = (await environment()).traffic.metricsUrl as string;
    const statusFile = path.join(dataDir, "runtime", "balancers", ENV, "status.json");
    const { workerPid } = JSON.parse(readFileSync(statusFile, "utf8")) as { workerPid: number };
    const lost = Array.from({ length: 10 }, () => ask(`${url}/`));
    await waitFor("the balancer to hold 10 requests", async () => /^cutover_proxy_requests_holding 10$/m.test((await request(metricsUrl)).body));
    process.kill(workerPid, "SIGKILL");
    // In flight on the dead process's connections: each ends with an error, none with an answer from a fleet.
    expect((await Promise.all(lost)).map((a) => a.status)).toEqual(Array(10).fill(-1));

    // The process that takes over holds from the start: maintenance was in its config, not in the dead one's memory.
    const held = Array.from({ length: 5 }, () => ask(`${url}/`));
    await waitFor("the new balancer process to hold 5 requests", async () => /^cutover_proxy_requests_holding 5$/m.test((await request(metricsUrl).catch(() => ({ body: "" }))).body), 5000);
    expect(JSON.parse(readFileSync(statusFile, "utf8")).workerPid).not.toBe(workerPid);
    expect((await operation(await server.api("DELETE", `/v1/environments/${ENV}/maintenance`))).state).toBe("succeeded");
    expect((await Promise.all(held)).map(versionOf)).toEqual(Array(5).fill("v2"));
  });

  // The server's own recovery, the same whatever carries the requests.
  if (full) {
    it("finishes a change the server was killed in the middle of, once it starts again", async () => {
      // Killed after the record, before the balancer heard of it: the restart makes the change.
      await server.terminate();
      server = await startServer({ dataDir, env: { CUTOVER_FAULT_KILL_AT: "maintenance:before-traffic" } });
      const reply = await server.api("POST", `/v1/environments/${ENV}/maintenance`, { message: "after a crash" });
      expect(reply.status).toBe(202);
      await server.exited;
      server = await startServer({ dataDir });
      expect(await operation(reply)).toMatchObject({ state: "succeeded" });
      const page = await ask(`${url}/`);
      expect(page.status).toBe(503);
      expect(page.body).toContain("after a crash");
      expect((await operation(await server.api("DELETE", `/v1/environments/${ENV}/maintenance`))).state).toBe("succeeded");
      expect(versionOf(await ask(`${url}/`))).toBe("v2");
    });
  }

  it("loses no request under load when the server is killed while the balancer takes the change, or just after", async () => {
    // Every request through the balancer is answered: the version, or the page while maintenance is on; never a reset or a refusal.
    const load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, okStatuses: [200, 503], maxMs: 300_000 });
    try {
      for (const point of ["maintenance:during-traffic", "maintenance:after-traffic"]) {
        for (const on of [true, false]) {
          await server.terminate();
          server = await startServer({ dataDir, env: { CUTOVER_FAULT_KILL_AT: point } });
          const reply = on
            ? await server.api("POST", `/v1/environments/${ENV}/maintenance`, { message: `killed at ${point}`, retryAfter: "1m" })
            : await server.api("DELETE", `/v1/environments/${ENV}/maintenance`);
          expect(reply.status).toBe(202);
          await server.exited;
          server = await startServer({ dataDir });
          // Compared whole, so that a failure shows the operation's error too.
          const done = await operation(reply);
          expect({ point, on, state: done.state, error: done.error }).toEqual({ point, on, state: "succeeded", error: undefined });
          const answer = await ask(`${url}/`);
          if (on) expect(answer).toMatchObject({ status: 503, retryAfter: "60" });
          else expect(versionOf(answer)).toBe("v2");
          expect(Boolean((await environment()).maintenance)).toBe(on);
        }
      }
    } finally {
      const result = await load.stop();
      expect(result.errors).toEqual([]);
      expect(result.failed).toBe(0);
      // Both answers were served along the way: the load saw maintenance come and go.
      expect(result.byStatus.get(503)).toBeGreaterThan(0);
      expect(result.byStatus.get(200)).toBeGreaterThan(0);
    }
  });

  if (full) {
    it("keeps a maintenance window on schedule: on at its start, off at its end", async () => {
      const at = (t: Date) => `${t.getUTCSeconds()} ${t.getUTCMinutes()} ${t.getUTCHours()} ${t.getUTCDate()} ${t.getUTCMonth() + 1} *`;
      const start = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000);
      const end = new Date(start.getTime() + 4000);
      const on = await server.api("POST", `/v1/environments/${ENV}/schedules`, { kind: "maintenance", cron: at(start), timezone: "UTC", maintenance: { on: true, message: "nightly window" } });
      expect(on.status).toBe(201);
      const off = await server.api("POST", `/v1/environments/${ENV}/schedules`, { kind: "maintenance", cron: at(end), timezone: "UTC", maintenance: { on: false } });
      expect(off.status).toBe(201);
      await waitFor("the window to open", async () => (await ask(`${url}/`)).status === 503, 30_000, 100);
      expect((await environment()).maintenance).toMatchObject({ mode: "page", message: "nightly window", by: { kind: "schedule", id: on.json.id } });
      await waitFor("the window to close", async () => (await ask(`${url}/`)).status === 200, 30_000, 100);
      for (const s of [on, off]) {
        const runs = (await server.api("GET", `/v1/schedules/${s.json.id}/runs`)).json.runs as { state: string }[];
        expect(runs.map((r) => r.state)).toEqual(["succeeded"]);
        expect((await server.api("DELETE", `/v1/schedules/${s.json.id}`)).status).toBe(204);
      }
      const bad = await server.api("POST", `/v1/environments/${ENV}/schedules`, { kind: "maintenance", cron: at(end), timezone: "UTC", maintenance: { on: true, holdTimeout: "1h" } });
      expect({ status: bad.status, code: bad.json.error?.code }).toEqual({ status: 400, code: "validation_failed" });
    });

    it("lets only a deployer of the environment change it, and answers bad input with a stable code", async () => {
      const token = async (role: string, environments?: string[]) =>
        `Bearer ${(await server.api("POST", "/v1/tokens", { name: `t-${role}-${environments?.join("") ?? "all"}`, role, ...(environments ? { environments } : {}) })).json.token}`;
      const viewer = await token("viewer");
      const elsewhere = await token("deployer", ["other-*"]);
      const deployer = await token("deployer", [ENV]);
      const tries = [
        [viewer, 403, "insufficient_role"],
        [elsewhere, 403, "environment_out_of_scope"],
      ] as const;
      for (const [authorization, status, code] of tries) {
        for (const method of ["POST", "DELETE"]) {
          const r = await server.api(method, `/v1/environments/${ENV}/maintenance`, method === "POST" ? {} : undefined, { authorization });
          expect({ method, status: r.status, code: r.json.error?.code }).toEqual({ method, status, code });
        }
        // Nor by a schedule: a window is refused to whoever could not turn maintenance on themselves.
        for (const on of [true, false]) {
          const r = await server.api("POST", `/v1/environments/${ENV}/schedules`, { kind: "maintenance", cron: "0 3 * * *", timezone: "UTC", maintenance: { on } }, { authorization });
          expect({ on, status: r.status, code: r.json.error?.code }).toEqual({ on, status, code });
        }
      }
      expect((await server.api("GET", `/v1/environments/${ENV}/schedules`)).json.schedules ?? []).toEqual([]);
      const bad = [{ mode: "pause" }, { holdTimeout: "10m" }, { retryAfter: "2d" }, { message: "a\u0007bell" }, { message: "x".repeat(1001) }, { page: "<script>" }];
      for (const body of bad) {
        const r = await server.api("POST", `/v1/environments/${ENV}/maintenance`, body, { authorization: deployer });
        expect({ body, status: r.status, code: r.json.error?.code }).toEqual({ body, status: 400, code: "validation_failed" });
      }
      expect((await server.api("POST", "/v1/environments/nowhere/maintenance", {})).status).toBe(404);
      // None of it changed anything: the fleets still answer.
      expect((await environment()).maintenance).toBeUndefined();
      expect((await ask(`${url}/`)).status).toBe(200);
      const mine = await operation(await server.api("POST", `/v1/environments/${ENV}/maintenance`, {}, { authorization: deployer }));
      expect(mine.state).toBe("succeeded");
      expect((await operation(await server.api("DELETE", `/v1/environments/${ENV}/maintenance`, undefined, { authorization: deployer }))).state).toBe("succeeded");
    });
  }
});

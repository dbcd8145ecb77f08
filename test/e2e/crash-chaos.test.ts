// The server is killed with SIGKILL at every named point of a deployment's
// life (and of its rollback, and of recovery itself), and at random times,
// while load runs through the environment's balancer the whole time. After
// each kill a new server recovers. Every request must be answered 2xx,
// every deployment must end, the weights Cutover reports must be the
// balancer's, nothing may be left behind, and the next deployment works.
// Then the fleets and the balancer themselves are killed. The points where
// traffic moves, and the balancer's kill, run again with HAProxy as the
// balancer's data plane.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { request } from "../helpers/http";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startLoad } from "../helpers/load";
import { killAndAwaitGone, processesWith, strayEngineProcesses } from "../helpers/processes";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

const ENV = "chaos";
const versionOf = (body: string) => (JSON.parse(body) as { version: string }).version;

interface KillCase {
  point: string;
  strategy?: Record<string, unknown>;
  /** Steers the deployment to the point (for example, aborts it so it rolls back). */
  steer?: (server: RunningServer, id: string) => Promise<void>;
}

const canaryPause = { type: "canary", steps: [{ weight: 50, pause: "manual" }] };
const abortWhenPaused = async (server: RunningServer, id: string) => {
  await waitForDeployment(server, id, "paused");
  await server.api("POST", `/v1/deployments/${id}/abort`, { reason: "steered into a rollback" });
};

// With two instances: waves of one, or (no surge) the old fleet making way first.
const rolling = { type: "rolling", maxSurge: 1, maxUnavailable: 0 };
const rollingNoSurge = { type: "rolling", maxSurge: 0, maxUnavailable: 1 };

const CASES: KillCase[] = [
  { point: "provisioning:engine" },
  { point: "verifying" },
  { point: "shifting:before-traffic" },
  { point: "shifting:during-traffic" },
  { point: "shifting:after-traffic" },
  { point: "shifting:after-traffic#2", strategy: { type: "canary", steps: [{ weight: 30 }] } },
  { point: "baking", strategy: { type: "blue-green", bake: "30s" } },
  { point: "retiring" },
  { point: "retiring:engine" },
  { point: "rolling_back:before-traffic", strategy: canaryPause, steer: abortWhenPaused },
  { point: "rolling_back:after-traffic", strategy: canaryPause, steer: abortWhenPaused },
  { point: "resizing:engine", strategy: rolling },
  { point: "resizing#2", strategy: rolling },
  { point: "resizing:before-traffic", strategy: rollingNoSurge },
  { point: "resizing:after-traffic", strategy: rollingNoSurge },
];

// Every kill point with the balancer's own data plane; with HAProxy on the data path (an
// environment's `local.dataPlane: haproxy`), the points where traffic moves, and the balancer killed.
const DATA_PLANES = [
  { plane: "cutover-proxy", cases: CASES, full: true },
  { plane: "haproxy", cases: CASES.filter((c) => /traffic|^shifting/.test(c.point)), full: false },
];

describe.each(DATA_PLANES)("crash-proof cutover ($plane data plane)", ({ plane, cases, full }) => {
  const dataDir = tempDir(`chaos-${plane}`);
  const mark = uniqueMark();
  let server: RunningServer;
  let url = "";
  let version = 0;
  let load: ReturnType<typeof startLoad>;

  beforeAll(async () => {
    server = await startServer({ dataDir });
    const local = plane === "haproxy" ? { local: { listenPort: 0, dataPlane: "haproxy" } } : {};
    expect((await server.api("POST", "/v1/environments", await environmentSpec(ENV, mark, local))).status).toBe(201);
    url = (await waitForEnvironment(server, ENV, "ready")).traffic.url;
    const first = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}` })).json;
    await waitForDeployment(server, first.id, "succeeded");
    load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, maxRequests: 5_000_000, maxMs: 30 * 60_000 });
    await waitFor("load to flow", () => load.result.ok > 50);
  });

  afterAll(async () => {
    await load?.stop();
    await server?.stop();
  });

  /** Deploys, lets the server die at `point`, restarts it (dying once more at `alsoAt`), and returns the deployment once it ended. */
  async function deployThroughCrash(c: KillCase, alsoAt?: string) {
    await server.terminate();
    server = await startServer({ dataDir, env: { CUTOVER_FAULT_KILL_AT: c.point } });
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}`, ...(c.strategy ? { strategy: c.strategy } : {}) })).json;
    if (c.steer) await c.steer(server, d.id).catch(() => undefined);
    await server.exited;
    if (alsoAt) {
      const dying = await startServer({ dataDir, env: { CUTOVER_FAULT_KILL_AT: alsoAt }, waitReady: false });
      await dying.exited;
    }
    const restartedAt = Date.now();
    server = await startServer({ dataDir });
    const ended = await waitForDeployment(server, d.id, "terminal");
    // Recovery takes up the interrupted deployment within 5 s of the start.
    const events = (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events as { type: string; at: string }[];
    const recovering = events.filter((e) => e.type === "deployment:recovering" && Date.parse(e.at) >= restartedAt);
    expect(Date.parse(recovering[0]?.at ?? "") - restartedAt).toBeLessThan(5000);
    return ended;
  }

  async function expectConsistent(version: string) {
    const env = (await server.api("GET", `/v1/environments/${ENV}`)).json;
    const config = JSON.parse((await request(env.traffic.metricsUrl.replace(/\/metrics$/, "/config"))).body);
    const actual = { blue: config.pools.blue?.endpoints?.length ? config.pools.blue.weight : 0, green: config.pools.green?.endpoints?.length ? config.pools.green.weight : 0 };
    expect(env.weights).toEqual(actual);
    expect(env.recordedWeights).toEqual(actual);
    expect(env.observed.drift).toEqual([]);
    expect(env.status).toBe("ready");
    expect(env.liveVersion).toBe(version);
    expect(actual[env.activeColor as "blue" | "green"]).toBe(100);
    const answers = await Promise.all(Array.from({ length: 8 }, async () => versionOf((await request(`${url}/`)).body)));
    expect(new Set(answers)).toEqual(new Set([version]));
    // Only the live version's fleet runs; no stack is locked; no pulumi process of a dead server lingers.
    await waitFor("only the live fleet to run", () => {
      const others = processesWith(mark, "APP_VERSION=").filter((pid) => !processesWith(mark, `APP_VERSION=${version}`).includes(pid));
      return others.length === 0;
    }, 30_000);
    expect(processesWith(mark, `APP_VERSION=${version}`).length).toBe(2);
    // The record of direct traffic changes runs once the environment is idle, and holds the traffic stack's lock meanwhile.
    await waitFor("the traffic changes to be recorded", async () => (await server.api("GET", `/v1/environments/${ENV}`)).json.trafficUnrecorded === undefined, 30_000);
    expect(locks()).toEqual([]);
    // Killed with the server, an engine's CLI and provider plugins are gone with it (each plugin leads a group of its own).
    await waitFor("no engine process of a dead server", () => strayEngineProcesses(path.join(dataDir, "pulumi-home"), server.process.pid!).length === 0, 15_000);
    return env;
  }

  function locks(): string[] {
    const dir = path.join(dataDir, "state", ".pulumi", "locks", "organization", "cutover");
    try {
      return readdirSync(dir).flatMap((stack) => readdirSync(path.join(dir, stack)).map((f) => `${stack}/${f}`));
    } catch {
      return [];
    }
  }

  it.each(cases)("SIGKILL at $point", async (c) => {
    const before = (await server.api("GET", `/v1/environments/${ENV}`)).json.liveVersion as string;
    const d = await deployThroughCrash(c);
    expect(["succeeded", "rolled_back"]).toContain(d.state);
    const live = d.state === "succeeded" ? d.version : before;
    await expectConsistent(live);
    expect(load.result.errors).toEqual([]);
    expect(load.result.failed).toBe(0);
  });

  // Independent of the data plane: with the balancer's own alone.
  if (full) {
    // The engine worker running an operation dies (with the CLI and plugins it started) while the server lives on:
    // the stack is repaired, what the operation half-made removed, and the operation runs again.
    it.each([
      { point: "provisioning:engine" },
      { point: "retiring:engine" },
      { point: "resizing:engine", strategy: rolling },
      { point: "recording-traffic:engine" },
    ])("SIGKILL of the engine worker at $point", async (c: KillCase) => {
      await server.terminate();
      server = await startServer({ dataDir, env: { CUTOVER_FAULT_KILL_AT: `worker:${c.point}` } });
      const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}`, ...(c.strategy ? { strategy: c.strategy } : {}) })).json;
      const ended = await waitForDeployment(server, d.id, "terminal");
      expect(ended.state).toBe("succeeded");
      await waitFor("the engine worker to be killed", () => server.log.some((l) => l.includes("fault injection: killing an engine worker")), 60_000);
      await waitFor("the stack to be repaired", () => server.log.some((l) => l.includes("an engine worker died mid-operation")), 60_000);
      expect(server.process.exitCode).toBeNull();
      await expectConsistent(ended.version);
      expect(load.result.errors).toEqual([]);
      expect(load.result.failed).toBe(0);
    });
  }

  it("SIGKILL during shifting and again during the recovery", async () => {
    const before = (await server.api("GET", `/v1/environments/${ENV}`)).json;
    const d = await deployThroughCrash({ point: "shifting:after-traffic" }, "recovery");
    expect(d).toMatchObject({ state: "rolled_back", error: { code: "interrupted" } });
    const env = await expectConsistent(before.liveVersion);
    // The environment's history is what it was before the deployment.
    expect(env.previousVersion).toBe(before.previousVersion);
    expect(load.result.failed).toBe(0);
  });

  // Independent of the data plane: with the balancer's own alone.
  if (full) {
    it("SIGKILL at random moments", async () => {
      for (let i = 0; i < 3; i++) {
        const before = (await server.api("GET", `/v1/environments/${ENV}`)).json.liveVersion as string;
        const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}` })).json;
        await new Promise((r) => setTimeout(r, 500 + Math.random() * 6000));
        await server.kill();
        server = await startServer({ dataDir });
        const ended = await waitForDeployment(server, d.id, "terminal");
        expect(["succeeded", "rolled_back"]).toContain(ended.state);
        await expectConsistent(ended.state === "succeeded" ? ended.version : before);
      }
      expect(load.result.failed).toBe(0);
    });

    it("a graceful shutdown leaves a paused canary resumable, and it finishes after the restart", async () => {
      const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}`, strategy: canaryPause })).json;
      await waitForDeployment(server, d.id, "paused");
      const stopping = Date.now();
      await server.terminate();
      expect(Date.now() - stopping).toBeLessThan(30_000);
      server = await startServer({ dataDir });
      await waitFor("the deployment to be resumed at its pause", async () => {
        const events = (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events as { type: string }[];
        const resumedAt = events.findIndex((e) => e.type === "deployment:resumed_after_restart");
        return resumedAt >= 0 && events.slice(resumedAt).some((e) => e.type === "deployment:step");
      }, 60_000);
      expect((await server.api("GET", `/v1/deployments/${d.id}`)).json).toMatchObject({ state: "paused", phase: "shifting", step: 0 });
      expect((await server.api("POST", `/v1/deployments/${d.id}/promote`)).status).toBe(202);
      await waitForDeployment(server, d.id, "succeeded");
      await expectConsistent(`v${version}`);
      expect(load.result.failed).toBe(0);
    });

    it("a person's pause between steps holds across a graceful restart until they resume", async () => {
      const steps = { type: "canary", steps: [{ weight: 30, pause: "2s" }, { weight: 100 }] };
      const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}`, strategy: steps })).json;
      await waitFor("the first step's pause", async () => (await server.api("GET", `/v1/deployments/${d.id}`)).json.step === 0, 120_000);
      expect((await server.api("POST", `/v1/deployments/${d.id}/pause`)).status).toBe(202);
      await waitFor("the hold after the step's pause", async () => (await server.api("GET", `/v1/deployments/${d.id}`)).json.pausedBy === "user", 30_000);
      await server.terminate();
      server = await startServer({ dataDir });
      await waitFor("the deployment to be taken up again", async () => {
        const events = (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events as { type: string }[];
        return events.some((e) => e.type === "deployment:resumed_after_restart");
      }, 60_000);
      // Still held, at its step's weights, for as long as no one resumes it.
      await new Promise((r) => setTimeout(r, 3000));
      const held = (await server.api("GET", `/v1/deployments/${d.id}`)).json;
      expect(held).toMatchObject({ state: "paused", pausedBy: "user", phase: "shifting", step: 0 });
      expect((await server.api("GET", `/v1/environments/${ENV}`)).json.weights[held.toColor]).toBe(30);
      expect((await server.api("POST", `/v1/deployments/${d.id}/resume`)).status).toBe(202);
      await waitForDeployment(server, d.id, "succeeded");
      await expectConsistent(`v${version}`);
      expect(load.result.failed).toBe(0);
    });

    it("instances of the canary killed mid-canary cost no request", async () => {
      const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}`, strategy: canaryPause })).json;
      await waitForDeployment(server, d.id, "paused");
      const canary = processesWith(mark, `APP_VERSION=v${version}`);
      expect(canary.length).toBe(2);
      const okBefore = load.result.ok;
      for (const pid of canary) process.kill(pid, "SIGKILL");
      // The fleet's supervisor brings them back; meanwhile the balancer sends their share to the stable color.
      await waitFor("the canary's instances to be replaced", () => {
        const now = processesWith(mark, `APP_VERSION=v${version}`);
        return now.length === 2 && now.every((pid) => !canary.includes(pid));
      }, 30_000);
      await waitFor("load to keep flowing", () => load.result.ok > okBefore + 500);
      expect((await server.api("POST", `/v1/deployments/${d.id}/promote`)).status).toBe(202);
      await waitForDeployment(server, d.id, "succeeded");
      await expectConsistent(`v${version}`);
      expect(load.result.errors).toEqual([]);
      expect(load.result.failed).toBe(0);
    });
  }

  it("a follow-up deployment succeeds and every request through the balancer was answered", async () => {
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}` })).json;
    await waitForDeployment(server, d.id, "succeeded");
    await expectConsistent(`v${version}`);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(1000);
  });

  it("the balancer's process killed under load serves again within a second, with its routing", async () => {
    const statusFile = path.join(dataDir, "runtime", "balancers", ENV, "status.json");
    const status = JSON.parse(readFileSync(statusFile, "utf8")) as { workerPid: number };
    const own = startLoad(`${url}/`, { concurrency: 4, maxMs: 120_000 });
    await waitFor("load to flow", () => own.result.ok > 200);
    const killed = Date.now();
    // The worker and what it runs (haproxy goes with it): a request answered before they are gone proves nothing.
    await killAndAwaitGone(status.workerPid);
    let servedAfter = Infinity;
    while (Date.now() - killed < 5000) {
      if ((await request(`${url}/`).catch(() => undefined))?.status === 200) {
        servedAfter = Date.now() - killed;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(servedAfter).toBeLessThan(1000);
    // Only requests in flight on the dead process's connections can fail; new ones wait in the accept queue.
    const failedAtKill = own.result.failed;
    expect(failedAtKill).toBeLessThanOrEqual(4);
    const okAfter = own.result.ok;
    await waitFor("load to flow again", () => own.result.ok > okAfter + 500);
    expect(own.result.failed).toBe(failedAtKill);
    await expectConsistent(`v${version}`);

    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}` })).json;
    await waitForDeployment(server, d.id, "succeeded");
    await expectConsistent(`v${version}`);
    const result = await own.stop();
    expect(result.failed).toBe(failedAtKill);
  });
});

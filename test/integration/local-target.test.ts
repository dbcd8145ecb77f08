// The local target's resources under the real Pulumi engine: fleets of real
// processes, a real load balancer, a file backend.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { localFleetProgram } from "../../infra/local/fleet-program";
import { localTrafficProgram } from "../../infra/local/traffic-program";
import type { FleetArgs } from "../../infra/local/resources";
import { testEngine } from "../helpers/engine";
import { request } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { killAndAwaitGone, processesWith } from "../helpers/processes";
import { sharedTempDir } from "../helpers/runnable";
import { fixtureApp } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

const { engine, runtimeDir, dataDir } = testEngine("local-target");

// Fleets outlive the operations that made them: whatever a failing test left is destroyed here.
const upped = new Map<string, Parameters<typeof engine.destroy>[1]>();
const up = engine.up.bind(engine);
engine.up = (stack, program, opts) => {
  upped.set(stack, program);
  return up(stack, program, opts);
};
afterAll(async () => {
  for (const [stack, program] of upped) await engine.destroy(stack, program).catch(() => undefined);
});

function fleetArgs(version: string, mark: string, env: Record<string, string> = {}): FleetArgs {
  return {
    name: `t-${mark}`,
    version,
    replicas: 2,
    artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, ...env } },
    healthCheck: { path: "/healthz", intervalMs: 100, timeoutMs: 1000, healthyThreshold: 2, startTimeoutMs: 5000 },
    drainTimeoutMs: 2000,
    runtimeDir,
  };
}

const mark = () => `m${randomBytes(5).toString("hex")}`;
const forceKey = randomBytes(32).toString("base64url");

describe("local fleet", () => {
  it("goes up with every instance healthy and leaves no process after destroy", async () => {
    const m = mark();
    const program = localFleetProgram(fleetArgs("v1", m));
    const outputs = await engine.up(`fleet-${m}`, program);
    const endpoints = outputs.endpoints as string[];
    expect(endpoints).toHaveLength(2);
    for (const ep of endpoints) {
      const health = await request(`http://${ep}/healthz`);
      expect(health.status).toBe(200);
      const reply = JSON.parse((await request(`http://${ep}/`)).body);
      expect(reply.version).toBe("v1");
    }
    expect(processesWith(m).length).toBeGreaterThanOrEqual(2);

    // The artifact (its environment may hold credentials) is encrypted in the state file.
    const state = readFileSync(path.join(dataDir, "state", ".pulumi", "stacks", "cutover", `fleet-${m}.json`), "utf8");
    expect(state).toContain("ciphertext");
    expect(state).not.toContain("CUTOVER_TEST_MARK");

    await engine.destroy(`fleet-${m}`, program);
    expect(processesWith(m)).toEqual([]);
    expect(await engine.exists(`fleet-${m}`)).toBe(false);
  });

  it("fails `up` when the health check never passes, with the instance output, and leaves nothing running", async () => {
    const m = mark();
    const program = localFleetProgram(fleetArgs("bad", m, { FAIL_HEALTH: "1" }));
    const failure = engine.up(`fleet-${m}`, program);
    await expect(failure).rejects.toThrow(/did not become healthy[\s\S]*version bad listening/);
    expect(processesWith(m)).toEqual([]);
    await engine.destroy(`fleet-${m}`, program);
  });

  it("fails fast on an instance that keeps crashing, quoting its output", async () => {
    const m = mark();
    const program = localFleetProgram(fleetArgs("crash", m, { CRASH_ON_START: "1" }));
    await expect(engine.up(`fleet-${m}`, program)).rejects.toThrow(/keeps exiting[\s\S]*CRASH_ON_START is set/);
    expect(processesWith(m)).toEqual([]);
    await engine.destroy(`fleet-${m}`, program);
  });

  it("fails fast, saying why, on a command that cannot be started", async () => {
    const m = mark();
    const args = { ...fleetArgs("v1", m), artifact: { command: ["/nonexistent/bin/app"], env: { CUTOVER_TEST_MARK: m } } };
    const program = localFleetProgram(args);
    await expect(engine.up(`fleet-${m}`, program)).rejects.toThrow(/keeps exiting \(could not start: spawn \/nonexistent\/bin\/app ENOENT\)/);
    expect(processesWith(`t-${m}`)).toEqual([]);
    await engine.destroy(`fleet-${m}`, program);
  });

  it("restarts an instance that dies, like an auto scaling group", async () => {
    const m = mark();
    const program = localFleetProgram(fleetArgs("v1", m));
    const outputs = await engine.up(`fleet-${m}`, program);
    const ep = (outputs.endpoints as string[])[0];
    const victim = JSON.parse((await request(`http://${ep}/`)).body).pid as number;
    process.kill(victim, "SIGKILL");
    const replacement = await waitFor("a replacement instance", async () => {
      const r = await request(`http://${ep}/`).catch(() => undefined);
      const pid = r && r.status === 200 ? (JSON.parse(r.body).pid as number) : undefined;
      return pid && pid !== victim ? pid : undefined;
    });
    expect(replacement).not.toBe(victim);
    await engine.destroy(`fleet-${m}`, program);
    expect(processesWith(m)).toEqual([]);
  });

  it("changes its capacity in place: added instances are health-gated, removed ones drained, the others untouched", async () => {
    const m = mark();
    const args = fleetArgs("v1", m);
    const first = await engine.up(`fleet-${m}`, localFleetProgram(args));
    const kept = first.endpoints as string[];
    const pidOf = async (ep: string) => JSON.parse((await request(`http://${ep}/`)).body).pid as number;
    const keptPids = await Promise.all(kept.map(pidOf));

    const grown = await engine.up(`fleet-${m}`, localFleetProgram({ ...args, replicas: 4 }));
    const endpoints = grown.endpoints as string[];
    expect(endpoints).toHaveLength(4);
    expect(endpoints.slice(0, 2)).toEqual(kept);
    expect(grown.replicas).toBe(4);
    for (const ep of endpoints) expect((await request(`http://${ep}/healthz`)).status).toBe(200);
    expect(await Promise.all(kept.map(pidOf))).toEqual(keptPids);

    const shrunk = await engine.up(`fleet-${m}`, localFleetProgram({ ...args, replicas: 1 }));
    expect(shrunk.endpoints).toEqual([kept[0]]);
    expect(await pidOf(kept[0])).toBe(keptPids[0]);
    await waitFor("the removed instances to be drained", () => processesWith(m, fixtureApp).length === 1);
    for (const ep of endpoints.slice(1)) await expect(request(`http://${ep}/`)).rejects.toThrow();

    // A refresh reads the capacity from the supervisor: nothing drifted.
    expect(await engine.refresh(`fleet-${m}`)).toEqual({});
    await engine.destroy(`fleet-${m}`, localFleetProgram(args));
    expect(processesWith(m)).toEqual([]);
  });

  it("scales back when instances added to it never become healthy", async () => {
    const m = mark();
    // The instances run as the run-as user: the marker sits where it can look.
    const marker = path.join(sharedTempDir("marker"), `fail-${m}`);
    const args = fleetArgs("v1", m, { FAIL_HEALTH_IF_FILE: marker });
    await engine.up(`fleet-${m}`, localFleetProgram(args));
    writeFileSync(marker, "");
    await expect(engine.up(`fleet-${m}`, localFleetProgram({ ...args, replicas: 3 }))).rejects.toThrow(/did not become healthy/);
    await waitFor("the fleet to be back at two instances", () => processesWith(m, fixtureApp).length === 2);
    await engine.destroy(`fleet-${m}`, localFleetProgram(args));
    expect(processesWith(m)).toEqual([]);
  });

  it("is noticed by refresh when its processes are gone", async () => {
    const m = mark();
    const program = localFleetProgram(fleetArgs("v1", m));
    await engine.up(`fleet-${m}`, program);
    for (const pid of processesWith(m)) process.kill(pid, "SIGKILL");
    // The supervisor holds the marker in its spec, not its environment: kill it by its fleet directory.
    for (const pid of processesWith(`t-${m}`)) process.kill(pid, "SIGKILL");
    await waitFor("every process of the fleet to be gone", () => processesWith(m).length === 0 && processesWith(`t-${m}`).length === 0);

    const changes = await engine.refresh(`fleet-${m}`);
    expect(changes.delete).toBe(1);
    const stack = await engine.stack(`fleet-${m}`, program);
    const state = await stack.exportStack();
    const types = (state.deployment.resources ?? []).map((r: { type: string }) => r.type);
    expect(types).not.toContain("cutover:local:Fleet");
    await engine.destroy(`fleet-${m}`, program);
  });
});

describe("local load balancer", () => {
  /** A blue and a green fleet, and the traffic program that balances them with given weights. */
  async function blueAndGreen(m: string) {
    const blue = localFleetProgram(fleetArgs("blue", m));
    const green = localFleetProgram(fleetArgs("green", m));
    const [blueOut, greenOut] = await Promise.all([engine.up(`blue-${m}`, blue), engine.up(`green-${m}`, green)]);
    // Port 0: the balancer binds free ports itself and reports them in its outputs.
    const traffic = (blueWeight: number, greenWeight: number) =>
      localTrafficProgram({
        name: `lb-${m}`,
        listenHost: "127.0.0.1",
        listenPort: 0,
        adminPort: 0,
        pools: {
          blue: { weight: blueWeight, endpoints: blueOut.endpoints as string[] },
          green: { weight: greenWeight, endpoints: greenOut.endpoints as string[] },
        },
        stickyHeader: "x-user",
        forceHeader: "x-cutover-pool",
        forceKey,
        healthCheck: { path: "/healthz", intervalMs: 100, timeoutMs: 500 },
        runtimeDir,
      });
    const destroyFleets = () => Promise.all([engine.destroy(`blue-${m}`, blue), engine.destroy(`green-${m}`, green)]);
    return { traffic, blueOut, destroyFleets };
  }

  const adminUrl = (outputs: Record<string, unknown>, p: string) => (outputs.metricsUrl as string).replace(/\/metrics$/, p);

  it("changes weights in place under continuous load without failing a request", async () => {
    const m = mark();
    const { traffic, destroyFleets } = await blueAndGreen(m);
    const lbOut = await engine.up(`traffic-${m}`, traffic(100, 0));
    const url = lbOut.url as string;
    expect(url).not.toMatch(/:0$/);
    expect((await request(adminUrl(lbOut, "/healthz"))).status).toBe(200);

    const load = startLoad(`${url}/`, { concurrency: 4, maxRequests: 50_000, maxMs: 60_000, bodyKey: (b) => JSON.parse(b).version });
    await waitFor("load to flow", () => load.result.ok > 200);
    for (const [b, g] of [[90, 10], [50, 50], [0, 100]]) {
      await engine.up(`traffic-${m}`, traffic(b, g));
    }
    const seenBeforeStop = load.result.byBody.get("green") ?? 0;
    await waitFor("requests to reach green", () => (load.result.byBody.get("green") ?? 0) > seenBeforeStop + 100);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(500);

    // At 0/100 everything goes to green, except when a tester forces blue.
    const now = JSON.parse((await request(`${url}/`)).body);
    expect(now.version).toBe("green");
    const forced = JSON.parse((await request(`${url}/`, { headers: { "x-cutover-pool": `blue:${forceKey}` } })).body);
    expect(forced.version).toBe("blue");
    // A color without the key is an ordinary request.
    for (const value of ["blue", "blue:not-the-key"]) {
      expect(JSON.parse((await request(`${url}/`, { headers: { "x-cutover-pool": value } })).body).version).toBe("green");
    }
    // The key is a secret in the stack's state, and the admin port does not show it.
    const state = readFileSync(path.join(dataDir, "state", ".pulumi", "stacks", "cutover", `traffic-${m}.json`), "utf8");
    expect(state).toContain("ciphertext");
    expect(state).not.toContain(forceKey);
    expect((await request(adminUrl(lbOut, "/config"))).body).not.toContain(forceKey);

    const metrics = (await request(adminUrl(lbOut, "/metrics"))).body;
    expect(metrics).toMatch(/cutover_proxy_requests_total\{pool="green"(,version="[^"]*")?\} [1-9]/);
    expect(metrics).toMatch(/cutover_proxy_pool_weight\{pool="green"(,version="[^"]*")?\} 100/);
    expect(metrics).toMatch(/cutover_proxy_forced_requests_total\{pool="blue"(,version="[^"]*")?\} 1\n/);

    await engine.destroy(`traffic-${m}`, traffic(0, 100));
    await destroyFleets();
    expect(processesWith(m)).toEqual([]);
    await expect(request(`${url}/`)).rejects.toThrow();
  });

  it("keeps a sticky user on the canary while its weight only grows", async () => {
    const m = mark();
    const { traffic: split, destroyFleets } = await blueAndGreen(m);
    const traffic = (greenWeight: number) => split(100 - greenWeight, greenWeight);
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const versionsFor = async (url: string) =>
      new Map(
        await Promise.all(
          users.map(async (u) => [u, JSON.parse((await request(`${url}/`, { headers: { "x-user": u } })).body).version as string] as const),
        ),
      );
    let onGreen = new Set<string>();
    let url = "";
    for (const weight of [10, 30, 60]) {
      url = (await engine.up(`traffic-${m}`, traffic(weight))).url as string;
      const seen = await versionsFor(url);
      const nowGreen = new Set(users.filter((u) => seen.get(u) === "green"));
      for (const u of onGreen) expect(nowGreen.has(u)).toBe(true);
      // Roughly the configured share, and stable for a user between requests.
      expect(nowGreen.size).toBeGreaterThan(weight - 12);
      expect(nowGreen.size).toBeLessThan(weight * 2 + 25);
      expect(await versionsFor(url)).toEqual(seen);
      onGreen = nowGreen;
    }
    await engine.destroy(`traffic-${m}`, traffic(60));
    await destroyFleets();
    expect(processesWith(m)).toEqual([]);
  });

  it("serves every request from the live color when all instances of the other die", async () => {
    const m = mark();
    const { traffic, blueOut, destroyFleets } = await blueAndGreen(m);
    const lbOut = await engine.up(`traffic-${m}`, traffic(50, 50));
    const load = startLoad(`${lbOut.url as string}/`, { concurrency: 4, maxMs: 60_000, bodyKey: (b) => JSON.parse(b).version });
    await waitFor("load to reach both colors", () => (load.result.byBody.get("blue") ?? 0) > 50 && (load.result.byBody.get("green") ?? 0) > 50);

    // Blue's supervisor first, so nothing restarts its instances.
    const fleetStatus = path.join(runtimeDir, "fleets", blueOut.fleetId as string, "status.json");
    const { supervisor } = JSON.parse(readFileSync(fleetStatus, "utf8")) as { supervisor: { pid: number } };
    process.kill(supervisor.pid, "SIGKILL");
    for (const pid of processesWith(m, "APP_VERSION=blue")) process.kill(pid, "SIGKILL");
    const greenBefore = load.result.byBody.get("green") ?? 0;
    await waitFor("green to take blue's share", () => (load.result.byBody.get("green") ?? 0) > greenBefore + 1000, 30_000);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);

    const metrics = (await request(adminUrl(lbOut, "/metrics"))).body;
    expect(metrics).toMatch(/cutover_proxy_retries_total\{pool="blue"(,version="[^"]*")?\} [1-9]/);
    expect(metrics).toMatch(/cutover_proxy_ejections_total\{pool="blue"(,version="[^"]*")?\} [1-9]/);
    expect(metrics).toMatch(/cutover_proxy_endpoint_up\{endpoint="[^"]+",pool="blue"(,version="[^"]*")?\} 0/);
    const endpoints = JSON.parse((await request(adminUrl(lbOut, "/endpoints"))).body) as { pool: string; up: boolean }[];
    expect(endpoints.filter((e) => e.pool === "blue").map((e) => e.up)).toEqual([false, false]);
    expect(endpoints.filter((e) => e.pool === "green").map((e) => e.up)).toEqual([true, true]);

    await engine.destroy(`traffic-${m}`, traffic(0, 100));
    await destroyFleets();
    expect(processesWith(m)).toEqual([]);
  });

  it("replaces a killed balancer worker within a second, on the same ports and routing", async () => {
    const m = mark();
    const { traffic, destroyFleets } = await blueAndGreen(m);
    const lbOut = await engine.up(`traffic-${m}`, traffic(30, 70));
    const url = lbOut.url as string;
    const balancerDir = path.join(runtimeDir, "balancers", `lb-${m}`);
    const statusFile = path.join(balancerDir, "status.json");
    const before = JSON.parse(readFileSync(statusFile, "utf8")) as { workerPid: number; supervisorPid: number };
    const configBefore = JSON.parse((await request(adminUrl(lbOut, "/config"))).body);

    const killed = Date.now();
    await killAndAwaitGone(before.workerPid);
    let answeredAfter = Infinity;
    while (Date.now() - killed < 5000) {
      const reply = await request(`${url}/`).catch(() => undefined);
      if (reply?.status === 200) {
        answeredAfter = Date.now() - killed;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(answeredAfter).toBeLessThan(1000);
    const after = JSON.parse(readFileSync(statusFile, "utf8")) as { workerPid: number; supervisorPid: number; workerRestarts: number };
    expect(after).toMatchObject({ supervisorPid: before.supervisorPid, workerRestarts: 1 });
    expect(after.workerPid).not.toBe(before.workerPid);
    expect(JSON.parse((await request(adminUrl(lbOut, "/config"))).body)).toEqual(configBefore);

    // The supervisor itself killed: a refresh reads the routing from the
    // surviving worker, and the next update restarts the balancer on its ports.
    process.kill(before.supervisorPid, "SIGKILL");
    const again = await engine.up(`traffic-${m}`, traffic(0, 100), { refresh: true });
    expect(again.url).toBe(url);
    expect(JSON.parse((await request(`${url}/`)).body).version).toBe("green");

    await engine.destroy(`traffic-${m}`, traffic(0, 100));
    await destroyFleets();
    expect(processesWith(m)).toEqual([]);
    expect(processesWith(balancerDir)).toEqual([]);
  });
});

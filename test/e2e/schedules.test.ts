// Schedules end to end on a real server: seconds-level firing that happens
// exactly once per time across a restart, times due during downtime run
// once or are recorded missed by their deadline (several such times fold
// into one record), overlapping runs are skipped, a refresh finds a fleet
// process killed from outside (and repaves it when asked) and a balancer
// altered from outside, and an environment with a ttl is deleted.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ env: { CUTOVER_SCHEDULER_INTERVAL: "200ms" } });
  expect((await server.api("POST", "/v1/environments", await environmentSpec("sched-a", uniqueMark()))).status).toBe(201);
  await waitForEnvironment(server, "sched-a", "ready");
  const v1 = (await server.api("POST", "/v1/environments/sched-a/deployments", { version: "v1" })).json.id;
  await waitForDeployment(server, v1, "succeeded");
});

afterAll(async () => {
  await server?.stop();
});

const restart = async (how: "terminate" | "kill") => {
  await server[how]();
  server = await startServer({ dataDir: server.dataDir, env: { CUTOVER_SCHEDULER_INTERVAL: "200ms" } });
};
const runsOf = async (id: string) => (await server.api("GET", `/v1/schedules/${id}/runs?limit=500`)).json.runs as any[];
const schedule = async (body: Record<string, unknown>, env = "sched-a") => {
  const r = await server.api("POST", `/v1/environments/${env}/schedules`, body);
  expect(r.status).toBe(201);
  return r.json as { id: string; nextRunAt: string };
};
/** A six-field expression that fires once, at this UTC second. */
const at = (t: Date) => `${t.getUTCSeconds()} ${t.getUTCMinutes()} ${t.getUTCHours()} ${t.getUTCDate()} ${t.getUTCMonth() + 1} *`;

describe("schedules", () => {
  it("validate their expression and zone", async () => {
    const bad = await server.api("POST", "/v1/environments/sched-a/schedules", { kind: "refresh", cron: "every night", timezone: "UTC" });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("invalid_cron");
    const zone = await server.api("POST", "/v1/environments/sched-a/schedules", { kind: "refresh", cron: "0 3 * * *", timezone: "Mars/Olympus" });
    expect(zone.json.error.code).toBe("invalid_timezone");
    const ok = await schedule({ kind: "refresh", cron: "0 3 * * *", timezone: "Europe/Berlin" });
    expect(new Date(ok.nextRunAt).getUTCHours()).toBeLessThan(3);
    expect((await server.api("POST", `/v1/schedules/${ok.id}/pause`)).json.paused).toBe(true);
    expect((await server.api("POST", `/v1/schedules/${ok.id}/resume`)).json.paused).toBe(false);
    expect((await server.api("DELETE", `/v1/schedules/${ok.id}`)).status).toBe(204);
    expect((await server.api("GET", `/v1/schedules/${ok.id}`)).status).toBe(404);
  });

  it("fire a seconds-level schedule exactly once per time, across a restart", async () => {
    const s = await schedule({ kind: "refresh", cron: "*/2 * * * * *" });
    await waitFor("two runs", async () => (await runsOf(s.id)).filter((r) => r.state === "succeeded").length >= 2, 30_000, 200);
    await restart("terminate");
    const before = (await runsOf(s.id)).length;
    await waitFor("two more runs after the restart", async () => (await runsOf(s.id)).filter((r) => r.state === "succeeded").length >= before + 2, 30_000, 200);
    await server.api("POST", `/v1/schedules/${s.id}/pause`);
    await waitFor("no run left going", async () => (await runsOf(s.id)).every((r) => r.state !== "running"), 30_000, 200);
    const runs = await runsOf(s.id);
    const times = runs.map((r) => r.scheduledAt);
    expect(new Set(times).size).toBe(times.length);
    for (const t of times) expect(new Date(t).getUTCSeconds() % 2).toBe(0);
    expect(runs.filter((r) => r.state === "succeeded").length).toBeGreaterThanOrEqual(4);
    // Each run refreshed the environment through an operation of its own.
    const op = (await server.api("GET", `/v1/operations/${runs.find((r) => r.operationId).operationId}`)).json;
    expect(op).toMatchObject({ kind: "refresh", state: "succeeded", environment: "sched-a", requestedBy: { kind: "schedule", id: s.id } });
    await server.api("DELETE", `/v1/schedules/${s.id}`);
  });

  it("run a time due during downtime once within its deadline, and record it missed past its deadline", async () => {
    const due = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000);
    const lenient = await schedule({ kind: "refresh", cron: at(due), startingDeadline: "10m" });
    const strict = await schedule({ kind: "refresh", cron: at(due), startingDeadline: "1s" });
    const everySecond = await schedule({ kind: "refresh", cron: "* * * * * *" });
    await server.kill();
    await waitFor("the time to pass, and then some", () => Date.now() > due.getTime() + 3000, 20_000, 100);
    server = await startServer({ dataDir: server.dataDir, env: { CUTOVER_SCHEDULER_INTERVAL: "200ms" } });
    // The seconds that passed while the server was down fold into one record, which says how many.
    // (On a busy machine a later pass may fold a second or two as well: the record that folds the downtime is the one looked for.)
    const folded = await waitFor("the record folding the downtime", async () => (await runsOf(everySecond.id)).find((r) => r.data.coalesced >= 5), 10_000, 200);
    await server.api("POST", `/v1/schedules/${everySecond.id}/pause`);
    expect(new Date(folded.scheduledAt).getTime()).toBeGreaterThan(due.getTime());
    const secondTimes = (await runsOf(everySecond.id)).map((r) => r.scheduledAt);
    expect(new Set(secondTimes).size).toBe(secondTimes.length);
    const [ran] = await waitFor("the lenient run to end", async () => {
      const runs = await runsOf(lenient.id);
      return runs.length && runs[0].state !== "running" ? runs : undefined;
    }, 30_000, 200);
    expect(ran).toMatchObject({ state: "succeeded", scheduledAt: due.toISOString() });
    const missed = await waitFor("the strict schedule's record", async () => (await runsOf(strict.id))[0], 10_000, 200);
    expect(missed).toMatchObject({ state: "missed", scheduledAt: due.toISOString(), error: { code: "missed" } });
    // Nothing more: each fired once.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await runsOf(lenient.id)).toHaveLength(1);
    expect(await runsOf(strict.id)).toHaveLength(1);
  });

  it("lose no firing when the server dies between recording a run and moving the schedule on", async () => {
    const due = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000);
    const s = await schedule({ kind: "refresh", cron: at(due), startingDeadline: "10m" });
    await server.terminate();
    const dying = await startServer({ dataDir: server.dataDir, env: { CUTOVER_SCHEDULER_INTERVAL: "200ms", CUTOVER_FAULT_KILL_AT: "schedule:fired" }, waitReady: false });
    await dying.exited;
    expect(dying.log.some((l) => l.includes('"point":"schedule:fired"'))).toBe(true);
    server = await startServer({ dataDir: server.dataDir, env: { CUTOVER_SCHEDULER_INTERVAL: "200ms" } });
    // The run written before the crash is the firing's one record; its work never started, so it ends interrupted.
    const [run] = await waitFor("the run to end", async () => {
      const runs = await runsOf(s.id);
      return runs.length && runs[0].state !== "running" ? runs : undefined;
    }, 30_000, 200);
    expect(run).toMatchObject({ scheduledAt: due.toISOString(), state: "failed", error: { code: "interrupted" } });
    expect(await runsOf(s.id)).toHaveLength(1);
    const after = (await server.api("GET", `/v1/schedules/${s.id}`)).json;
    expect(new Date(after.nextRunAt).getTime()).toBeGreaterThan(due.getTime());
    await server.api("DELETE", `/v1/schedules/${s.id}`);
  });

  it("skip a run while the previous one is still going", async () => {
    const s = await schedule({
      kind: "deploy",
      cron: "*/2 * * * * *",
      deployment: { version: "v2", strategy: { type: "canary", steps: [{ weight: 50, pause: "manual" }, { weight: 100 }] } },
    });
    const skipped = await waitFor("a skipped run", async () => (await runsOf(s.id)).find((r) => r.state === "skipped"), 30_000, 200);
    expect(skipped.error.code).toBe("overlap");
    await server.api("POST", `/v1/schedules/${s.id}/pause`);
    const [first] = (await runsOf(s.id)).filter((r) => r.operationId).slice(-1);
    const d = (await server.api("GET", `/v1/deployments/${first.operationId}`)).json;
    expect(d.requestedBy).toMatchObject({ kind: "schedule", id: s.id });
    // Aborted once it has started (a queued one would be cancelled instead).
    await waitForDeployment(server, d.id, "paused");
    await server.api("POST", `/v1/deployments/${d.id}/abort`, {});
    await waitForDeployment(server, d.id, "rolled_back");
    await waitFor("the run to fail with its deployment", async () => (await runsOf(s.id)).find((r) => r.id === first.id)?.state === "failed", 10_000, 200);
    await server.api("DELETE", `/v1/schedules/${s.id}`);
  });

  it("refresh finds a fleet process killed from outside, reports drift, and repaves when asked", async () => {
    const env = (await server.api("GET", "/v1/environments/sched-a")).json;
    const fleetId = env.fleets[env.activeColor].outputs.fleetId as string;
    const statusFile = path.join(server.dataDir, "runtime", "fleets", fleetId, "status.json");
    const { supervisor } = JSON.parse(readFileSync(statusFile, "utf8")) as { supervisor: { pid: number } };
    process.kill(supervisor.pid, "SIGKILL");

    const report = await server.api("POST", "/v1/environments/sched-a/refresh", {});
    expect(report.status).toBe(202);
    expect(report.headers.location).toBe(`/v1/operations/${report.json.id}`);
    const op = await waitFor("the refresh", async () => {
      const o = (await server.api("GET", `/v1/operations/${report.json.id}`)).json;
      return o.state === "succeeded" || o.state === "failed" ? o : undefined;
    }, 30_000, 200);
    expect(op.state).toBe("succeeded");
    expect(op.drift.some((d: any) => d.kind === "fleet" && /supervisor/.test(d.message))).toBe(true);
    const drifted = (await server.api("GET", "/v1/environments/sched-a")).json;
    expect(drifted.status).toBe("drifted");
    expect(drifted.drift.operationId).toBe(op.id);

    const repave = await server.api("POST", "/v1/environments/sched-a/refresh", { onDrift: "repave" });
    const done = await waitFor("the refresh with repave", async () => {
      const o = (await server.api("GET", `/v1/operations/${repave.json.id}`)).json;
      return o.state === "succeeded" ? o : undefined;
    }, 30_000, 200);
    const d = await waitForDeployment(server, done.repaveDeploymentId, "succeeded");
    expect(d).toMatchObject({ kind: "repave", version: "v1" });
    const after = (await server.api("POST", "/v1/environments/sched-a/refresh", {})).json;
    await waitFor("a clean refresh", async () => (await server.api("GET", `/v1/operations/${after.id}`)).json.state === "succeeded", 30_000, 200);
    const healed = (await server.api("GET", "/v1/environments/sched-a")).json;
    expect(healed.status).toBe("ready");
    expect(healed.drift).toBeUndefined();
    expect(healed.liveVersion).toBe("v1");

    // The balancer's routing altered behind Cutover's back: the Pulumi refresh of the traffic stack finds it.
    const balancerDir = path.join(server.dataDir, "runtime", "balancers", "sched-a");
    const configFile = path.join(balancerDir, "config.json");
    const config = JSON.parse(readFileSync(configFile, "utf8"));
    config.pools[healed.activeColor].weight = 60;
    writeFileSync(configFile, JSON.stringify(config));
    process.kill(JSON.parse(readFileSync(path.join(balancerDir, "process.json"), "utf8")).pid, "SIGHUP");
    await waitFor("the balancer to route by the altered weight", async () => (await server.api("GET", "/v1/environments/sched-a")).json.weights[healed.activeColor] === 60, 10_000, 100);
    const altered = (await server.api("POST", "/v1/environments/sched-a/refresh", {})).json;
    const found = await waitFor("the refresh of the altered balancer", async () => {
      const o = (await server.api("GET", `/v1/operations/${altered.id}`)).json;
      return o.state === "succeeded" ? o : undefined;
    }, 30_000, 200);
    expect(found.drift).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "stack_changed", stack: "sched-a.traffic" }),
        expect.objectContaining({ kind: "weights" }),
      ]),
    );
    expect((await server.api("GET", "/v1/environments/sched-a")).json.status).toBe("drifted");
  });

  it("delete an environment when its ttl runs out", async () => {
    expect((await server.api("POST", "/v1/environments", await environmentSpec("sched-ttl", uniqueMark(), { ttl: "4s" }))).status).toBe(201);
    const env = (await server.api("GET", "/v1/environments/sched-ttl")).json;
    expect(new Date(env.expiresAt).getTime() - new Date(env.createdAt).getTime()).toBe(4000);
    // It is deleted once it has been ready and its time is up (creation may take longer than the ttl).
    await waitFor("the environment to expire and go", async () => (await server.api("GET", "/v1/environments/sched-ttl")).status === 404, 90_000, 200);
    const [entry] = (await server.api("GET", "/v1/audit?action=environment.expire")).json.entries;
    expect(entry).toMatchObject({ environment: "sched-ttl", actor: { kind: "system" } });
  });
});

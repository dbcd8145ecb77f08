// The control plane's figures on the local target: how long a traffic
// change takes from decision to the balancer serving it (direct on the
// balancer, and as an update of the traffic stack), a warm rollback end to
// end, environments deploying at once against one at a time, the server's
// RSS over many deployments, and status polls while deployments run.
import { readdirSync, readFileSync } from "node:fs";
import { benchEnvironmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { ADMIN_TOKEN, startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";
import { startPolling } from "./polling";

export interface ControlPlaneRun {
  /** Decision (the intent journaled) to the step read back from the balancer, per step, ms. */
  weightChangeMs: { direct: number[]; stack: number[] };
  /** Abort of a paused canary to the old version serving all traffic at the balancer, and to the deployment's end, ms. */
  rollback: { trafficMs: number; endMs: number };
  parallel: { environments: number; serialSeconds: number; parallelSeconds: number; cpuSecondsPerDeployment: number; cpuPerDeployment: EngineCpu };
  /** Server and engine workers together (and the server alone), after the first deployments and after `deployments` more. */
  rss: { deployments: number; firstRound: number; beforeMb: number; afterMb: number; serverBeforeMb: number; serverAfterMb: number; workers: number };
  /** Signed Slack `status` commands during the deployments at once, 4 a second. */
  slack: { count: number; p50Ms: number; p99Ms: number; failed: number };
  polls: { environments: number; perSecond: number; count: number; p50Ms: number; p99Ms: number; p999Ms: number; failed: number; healthz: { count: number; p99Ms: number; p999Ms: number; failed: number }; eventLoop: { p99Ms: number; maxMs: number } };
}

const SIGNING_SECRET = "bench-slack-signing-secret";

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** The server's engine workers: its children running engine-worker-main. */
function workersOf(server: number): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return Number(statFields(pid)[1]) === server && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("engine-worker-main");
      } catch {
        return false;
      }
    });
}

/** The providers these engine workers keep running (CUTOVER_ENGINE_RESIDENT_PROVIDER), never a CLI at work. */
function providersOf(workers: number[]): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return workers.includes(Number(statFields(pid)[1])) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("provider-main");
      } catch {
        return false;
      }
    });
}

/** CPU-seconds by where they were spent. */
export interface EngineCpu {
  server: number;
  /** The workers' own (programs, the Automation API). */
  workers: number;
  /** The Pulumi CLI runs and the plugins they started, waited for by the workers. */
  cli: number;
  /** The providers the workers keep running. */
  providers: number;
}

/** A process's own CPU-seconds and those of the children it waited for. */
function cpuTicks(pid: number): { own: number; waited: number } | undefined {
  try {
    const f = statFields(pid);
    return { own: (Number(f[11]) + Number(f[12])) / 100, waited: (Number(f[13]) + Number(f[14])) / 100 };
  } catch {
    return undefined;
  }
}

/**
 * CPU-seconds the server and its engine spend from start() to stop(): the
 * server's own, its workers', the Pulumi CLI and plugins the workers start
 * and wait for, and the providers the workers keep running. A worker that
 * exits meanwhile (an idle one retires) is reaped by the server, whose
 * waited-for time then holds the worker's whole life: what it spent before
 * the meter started (its first reading, sampled every 250 ms) is taken out.
 */
function engineCpuMeter(server: number): { stop(): EngineCpu } {
  const first = new Map<number, { own: number; waited: number }>();
  const last = new Map<number, { own: number; waited: number }>();
  const sample = (born: boolean) => {
    for (const pid of workersOf(server)) {
      const t = cpuTicks(pid);
      if (!t) continue;
      if (!first.has(pid)) first.set(pid, born ? { own: 0, waited: 0 } : t);
      last.set(pid, t);
    }
  };
  const providers = () =>
    providersOf(workersOf(server)).reduce((sum, pid) => {
      const t = cpuTicks(pid);
      return sum + (t ? t.own + t.waited : 0);
    }, 0);
  const s0 = cpuTicks(server)!;
  const p0 = providers();
  sample(false);
  const timer = setInterval(() => sample(true), 250);
  return {
    stop() {
      clearInterval(timer);
      sample(true);
      const s1 = cpuTicks(server)!;
      const live = new Set(workersOf(server));
      let workers = 0;
      let waitedByWorkers = 0;
      let exitedBefore = 0;
      let exitedOwn = 0;
      for (const [pid, f] of first) {
        const l = last.get(pid)!;
        workers += l.own - f.own;
        if (live.has(pid)) {
          waitedByWorkers += l.waited - f.waited;
        } else {
          exitedBefore += f.own + f.waited;
          exitedOwn += l.own - f.own;
        }
      }
      // The server's waited-for time: the exited workers' whole lives (their own time is counted above) and their children's.
      const reaped = s1.waited - s0.waited - exitedBefore;
      return { server: s1.own - s0.own, workers, cli: reaped - exitedOwn + waitedByWorkers, providers: providers() - p0 };
    },
  };
}

const cpuTotal = (c: EngineCpu) => c.server + c.workers + c.cli + c.providers;

const totalRssMb = (server: number) => [server, ...workersOf(server), ...providersOf(workersOf(server))].reduce((sum, pid) => sum + rssMb(pid), 0);

async function events(server: RunningServer, id: string) {
  return (await server.api("GET", `/v1/deployments/${id}/events`, undefined, { accept: "application/json" })).json.events as { type: string; at: string }[];
}

/** Intent-to-step times of a canary with `steps` steps (the last step is the switch to 100%). */
async function stepTimes(server: RunningServer, env: string, version: string, steps: number): Promise<number[]> {
  const weights = Array.from({ length: steps }, (_, i) => ({ weight: Math.round(((i + 1) * 100) / (steps + 1)) }));
  const d = (await server.api("POST", `/v1/environments/${env}/deployments`, { version, strategy: { type: "canary", steps: weights } })).json;
  await waitForDeployment(server, d.id, "succeeded", 10 * 60_000);
  const evs = await events(server, d.id);
  const intents = evs.filter((e) => e.type === "deployment:traffic_intent").map((e) => Date.parse(e.at));
  const done = evs.filter((e) => e.type === "deployment:step").map((e) => Date.parse(e.at));
  return intents.map((t, i) => done[i] - t).filter((x) => Number.isFinite(x));
}

/** Every environment idle: its traffic changes recorded in the traffic stack. */
async function idle(server: RunningServer, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => waitFor(`${n} to be idle`, async () => (await server.api("GET", `/v1/environments/${n}`)).json.trafficUnrecorded === undefined, 120_000, 250)));
}

/** Deploys `version` to each environment at once and waits for every deployment to succeed, asking once a second (the bench's own polls stay few). */
async function deployAll(server: RunningServer, names: string[], version: string): Promise<void> {
  const ids = await Promise.all(names.map(async (n) => (await server.api("POST", `/v1/environments/${n}/deployments`, { version })).json.id as string));
  await Promise.all(
    ids.map(async (id) => {
      const d = await waitFor(`deployment ${id} to end`, async () => {
        const got = (await server.api("GET", `/v1/deployments/${id}`)).json;
        return ["succeeded", "rolled_back", "failed", "cancelled"].includes(got.state) ? got : undefined;
      }, 30 * 60_000, 1000);
      if (d.state !== "succeeded") throw new Error(`deployment ${id} ended ${d.state}: ${JSON.stringify(d.error)}`);
    }),
  );
}

/**
 * The server's event-loop delay since the last call (its own measure, in
 * /metrics: each scrape starts a new window), ms: how long work waited in
 * the API's process whatever the clients saw.
 */
async function eventLoopDelay(server: RunningServer): Promise<{ p99Ms: number; maxMs: number }> {
  const text = (await server.api("GET", "/metrics")).body;
  const value = (name: string) => Number(new RegExp(`^cutover_process_nodejs_eventloop_lag_${name}_seconds (\\S+)`, "m").exec(text)?.[1] ?? NaN) * 1000;
  return { p99Ms: value("p99"), maxMs: value("max") };
}

/**
 * `environments` deploy one at a time and then at once (the ratio);
 * `pollEnvironments` deploy at once while status polls run.
 */
export async function controlPlane(environments: number, pollEnvironments: number, deployments: number): Promise<ControlPlaneRun> {
  const mark = uniqueMark();
  const dataDir = tempDir("bench-control");
  const settings = { CUTOVER_SLACK_SIGNING_SECRET: SIGNING_SECRET };
  let server = await startServer({ dataDir, env: settings });
  // The poller, stopped however the run ends (one left behind would go on polling at 200/s).
  let stopPolling = () => {};
  try {
    await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: "T0BENCH", user: "U0BENCH", role: "viewer", environments: ["cp-*"] });
    const all = Array.from({ length: Math.max(environments, pollEnvironments) }, (_, i) => `cp-${i}`);
    const names = all.slice(0, environments);
    for (const n of all) await server.api("POST", "/v1/environments", await benchEnvironmentSpec(n, mark));
    await Promise.all(all.map((n) => waitForEnvironment(server, n, "ready")));
    let v = 0;
    await deployAll(server, all, `v${++v}`);
    await idle(server, all);

    // Serial, then all at once; the engine's CPU over the serial run, with the record of each traffic change.
    let t = Date.now();
    const meter = engineCpuMeter(server.process.pid!);
    for (const n of names) await deployAll(server, [n], `v${v + 1}`);
    v++;
    const serialSeconds = (Date.now() - t) / 1000;
    await idle(server, names);
    const cpu = meter.stop();
    const cpuPerDeployment = Object.fromEntries(Object.entries(cpu).map(([k, seconds]) => [k, seconds / names.length])) as unknown as EngineCpu;
    const cpuSecondsPerDeployment = cpuTotal(cpuPerDeployment);
    t = Date.now();
    await deployAll(server, names, `v${++v}`);
    const parallelSeconds = (Date.now() - t) / 1000;
    await idle(server, names);

    // All at once, with status polls and signed Slack commands going on (from a process of their own).
    const perSecond = 200;
    const polling = startPolling({ url: server.url, token: ADMIN_TOKEN, names: all, perSecond, slackSecret: SIGNING_SECRET });
    stopPolling = polling.kill;
    await eventLoopDelay(server);
    await deployAll(server, all, `v${++v}`);
    const eventLoop = await eventLoopDelay(server);
    const { polls, healthz, slack } = await polling.stop();

    // RSS after the first round of this run's deployments and after all of them, both idle, from a
    // server started afresh: neither reading holds the heap the burst under polls above left behind.
    await server.terminate();
    server = await startServer({ dataDir, env: settings });
    let done = 0;
    let beforeMb = 0;
    let serverBeforeMb = 0;
    let firstRound = 0;
    while (done < deployments) {
      const batch = names.slice(0, Math.min(names.length, deployments - done));
      await deployAll(server, batch, `v${++v}`);
      done += batch.length;
      if (!firstRound) {
        await idle(server, all);
        firstRound = done;
        serverBeforeMb = rssMb(server.process.pid!);
        beforeMb = totalRssMb(server.process.pid!);
      }
    }
    await idle(server, all);
    const serverAfterMb = rssMb(server.process.pid!);
    const afterMb = totalRssMb(server.process.pid!);
    const workers = workersOf(server.process.pid!).length;

    // Weight changes: direct on the balancer, then with the traffic stack's update.
    const direct = await stepTimes(server, names[0], `v${++v}`, 4);
    await server.terminate();
    server = await startServer({ dataDir, env: { ...settings, CUTOVER_TRAFFIC_MODE: "stack" } });
    const stack = await stepTimes(server, names[0], `v${++v}`, 4);
    await server.terminate();
    server = await startServer({ dataDir, env: settings });

    // Warm rollback: a canary paused at 50%, aborted.
    const env = (await server.api("GET", `/v1/environments/${names[1]}`)).json;
    const from = env.activeColor as string;
    const d = (await server.api("POST", `/v1/environments/${names[1]}/deployments`, { version: `v${++v}`, strategy: { type: "canary", steps: [{ weight: 50, pause: "manual" }] } })).json;
    await waitForDeployment(server, d.id, "paused", 10 * 60_000);
    const configUrl = env.traffic.metricsUrl.replace(/\/metrics$/, "/config");
    t = Date.now();
    await server.api("POST", `/v1/deployments/${d.id}/abort`, { reason: "bench" });
    await waitFor("the old version to serve all traffic", async () => JSON.parse((await request(configUrl)).body).pools[from].weight === 100, 60_000, 2);
    const trafficMs = Date.now() - t;
    await waitForDeployment(server, d.id, "rolled_back", 10 * 60_000);
    const endMs = Date.now() - t;

    return {
      weightChangeMs: { direct, stack },
      rollback: { trafficMs, endMs },
      parallel: { environments, serialSeconds, parallelSeconds, cpuSecondsPerDeployment, cpuPerDeployment },
      rss: { deployments, firstRound, beforeMb, afterMb, serverBeforeMb, serverAfterMb, workers },
      slack: { count: slack.count, p50Ms: slack.p50Ms, p99Ms: slack.p99Ms, failed: slack.failed },
      polls: { environments: all.length, perSecond, ...polls, healthz: { count: healthz.count, p99Ms: healthz.p99Ms, p999Ms: healthz.p999Ms, failed: healthz.failed }, eventLoop },
    };
  } finally {
    stopPolling();
    await server.stop();
  }
}


// The control plane's figures on the local target: how long a traffic
// change takes from decision to the balancer serving it (direct on the
// balancer, and as an update of the traffic stack), a warm rollback end to
// end, environments deploying at once against one at a time, the server's
// RSS over many deployments, and status polls while deployments run.
import { readFileSync } from "node:fs";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { ADMIN_TOKEN, startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

export interface ControlPlaneRun {
  /** Decision (the intent journaled) to the step read back from the balancer, per step, ms. */
  weightChangeMs: { direct: number[]; stack: number[] };
  /** Abort of a paused canary to the old version serving all traffic at the balancer, and to the deployment's end, ms. */
  rollback: { trafficMs: number; endMs: number };
  parallel: { environments: number; serialSeconds: number; parallelSeconds: number };
  rss: { deployments: number; beforeMb: number; afterMb: number };
  polls: { perSecond: number; count: number; p50Ms: number; p99Ms: number; p999Ms: number; failed: number; healthz: { count: number; p99Ms: number; p999Ms: number; failed: number } };
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

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

async function deployAll(server: RunningServer, names: string[], version: string): Promise<void> {
  const ids = await Promise.all(names.map(async (n) => (await server.api("POST", `/v1/environments/${n}/deployments`, { version })).json.id as string));
  await Promise.all(ids.map((id) => waitForDeployment(server, id, "succeeded", 30 * 60_000)));
}

export async function controlPlane(environments: number, deployments: number): Promise<ControlPlaneRun> {
  const mark = uniqueMark();
  const dataDir = tempDir("bench-control");
  let server = await startServer({ dataDir });
  try {
    const names = Array.from({ length: environments }, (_, i) => `cp-${i}`);
    for (const n of names) await server.api("POST", "/v1/environments", await environmentSpec(n, mark));
    await Promise.all(names.map((n) => waitForEnvironment(server, n, "ready")));
    let v = 0;
    await deployAll(server, names, `v${++v}`);

    // Serial, then all at once.
    let t = Date.now();
    for (const n of names) await deployAll(server, [n], `v${v + 1}`);
    v++;
    const serialSeconds = (Date.now() - t) / 1000;

    // All at once, with status polls going on.
    const latencies: number[] = [];
    const health: number[] = [];
    let failed = 0;
    let healthFailed = 0;
    const perSecond = 200;
    let polling = true;
    const poller = (async () => {
      const started = Date.now();
      let sent = 0;
      const inflight: Promise<void>[] = [];
      while (polling) {
        const due = Math.floor(((Date.now() - started) * perSecond) / 1000);
        for (; sent < due; sent++) {
          const name = names[sent % names.length];
          const s = performance.now();
          // Every fourth poll is /healthz, as a load balancer's check would be.
          if (sent % 4 === 3) {
            inflight.push(
              request(`${server.url}/healthz`)
                .then((r) => {
                  if (r.status !== 200) healthFailed++;
                  health.push(performance.now() - s);
                })
                .catch(() => void healthFailed++),
            );
            continue;
          }
          inflight.push(
            request(`${server.url}/v1/environments/${name}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
              .then((r) => {
                if (r.status !== 200) failed++;
                latencies.push(performance.now() - s);
              })
              .catch(() => void failed++),
          );
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(inflight);
    })();
    t = Date.now();
    await deployAll(server, names, `v${++v}`);
    const parallelSeconds = (Date.now() - t) / 1000;
    polling = false;
    await poller;
    latencies.sort((a, b) => a - b);
    health.sort((a, b) => a - b);
    const pctOf = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;
    const pct = (p: number) => pctOf(latencies, p);

    // RSS over many more deployments, all environments at once, round after round.
    const beforeMb = rssMb(server.process.pid!);
    let done = 0;
    while (done < deployments) {
      const batch = names.slice(0, Math.min(names.length, deployments - done));
      await deployAll(server, batch, `v${++v}`);
      done += batch.length;
    }
    await Promise.all(names.map((n) => waitFor(`${n} to be idle`, async () => (await server.api("GET", `/v1/environments/${n}`)).json.trafficUnrecorded === undefined, 120_000, 250)));
    (global as { gc?: () => void }).gc?.();
    const afterMb = rssMb(server.process.pid!);

    // Weight changes: direct on the balancer, then with the traffic stack's update.
    const direct = await stepTimes(server, names[0], `v${++v}`, 4);
    await server.terminate();
    server = await startServer({ dataDir, env: { CUTOVER_TRAFFIC_MODE: "stack" } });
    const stack = await stepTimes(server, names[0], `v${++v}`, 4);
    await server.terminate();
    server = await startServer({ dataDir });

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
      parallel: { environments, serialSeconds, parallelSeconds },
      rss: { deployments, beforeMb, afterMb },
      polls: {
        perSecond,
        count: latencies.length,
        p50Ms: pct(50),
        p99Ms: pct(99),
        p999Ms: pct(99.9),
        failed,
        healthz: { count: health.length, p99Ms: pctOf(health, 99), p999Ms: pctOf(health, 99.9), failed: healthFailed },
      },
    };
  } finally {
    await server.stop();
  }
}


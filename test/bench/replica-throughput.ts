// Deployments of many environments at once through 1 replica and through
// 3 replicas on the same machine, on one PostgreSQL (journal and Pulumi
// state), timed from the first request until every deployment succeeded,
// with the leases any replica lost meanwhile (its heartbeat starved), while
// a portal polls their status at 200/s through the first replica.
import { benchEnvironmentSpec, uniqueMark } from "../helpers/environments";
import { startPostgres } from "../helpers/postgres";
import { ADMIN_TOKEN, startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { startPolling, type PollSummary } from "./polling";
import { tempDir } from "../helpers/temp-dir";

export interface ReplicaRun {
  replicas: number;
  environments: number;
  seconds: number;
  /** Leases a replica lost while it worked (each a failover the load caused). */
  lostLeases: number;
  /** The status polls (and /healthz, signed Slack commands) meanwhile. */
  polled: PollSummary;
}

const SIGNING_SECRET = "bench-replicas-slack-secret";
const POLLS_PER_SECOND = 200;

export async function deploymentsThroughReplicas(replicaCount: number, environments: number): Promise<ReplicaRun> {
  const postgres = await startPostgres();
  const replicas: RunningServer[] = [];
  let stopPolling = () => {};
  try {
    const common = {
      CUTOVER_DATABASE_URL: await postgres.createDatabase("journal"),
      CUTOVER_STATE_BACKEND: await postgres.createDatabase("state"),
      CUTOVER_PULUMI_PASSPHRASE: "bench passphrase",
      CUTOVER_RUNTIME_DIR: tempDir("bench-runtime"),
      CUTOVER_WORK_POLL_INTERVAL: "500ms",
      CUTOVER_SLACK_SIGNING_SECRET: SIGNING_SECRET,
    };
    replicas.push(...(await Promise.all(Array.from({ length: replicaCount }, (_, i) => startServer({ env: { ...common, CUTOVER_REPLICA_ID: `b${i}` } })))));
    const mark = uniqueMark();
    const names = Array.from({ length: environments }, (_, i) => `bench-${i}`);
    const via = (i: number) => replicas[i % replicas.length];
    for (const [i, name] of names.entries()) await via(i).api("POST", "/v1/environments", await benchEnvironmentSpec(name, mark));
    await Promise.all(names.map((name, i) => waitForEnvironment(via(i), name, "ready")));
    await replicas[0].api("POST", "/v1/chatops/identities", { provider: "slack", team: "T0BENCH", user: "U0BENCH", role: "viewer", environments: ["bench-*"] });
    const polling = startPolling({ url: replicas[0].url, token: ADMIN_TOKEN, names, perSecond: POLLS_PER_SECOND, slackSecret: SIGNING_SECRET });
    stopPolling = polling.kill;
    const started = Date.now();
    const ids = await Promise.all(names.map(async (name, i) => (await via(i).api("POST", `/v1/environments/${name}/deployments`, { version: "v1" })).json.id as string));
    await Promise.all(ids.map((id, i) => waitForDeployment(via(i), id, "succeeded", 30 * 60_000)));
    const seconds = (Date.now() - started) / 1000;
    const polled = await polling.stop();
    const lostLeases = replicas.reduce((n, r) => n + r.log.filter((l) => l.includes("lost the environment's lease")).length, 0);
    return { replicas: replicaCount, environments, seconds, lostLeases, polled };
  } finally {
    stopPolling();
    const [first, ...rest] = replicas;
    for (const r of rest) await r.terminate();
    await first?.stop();
    await postgres.stop();
  }
}

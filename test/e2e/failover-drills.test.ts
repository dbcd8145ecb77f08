// Failover drills: three replicas on one real PostgreSQL, load through one
// environment's balancer, and the replica running a deployment killed
// (SIGKILL) or frozen (SIGSTOP) at named points of the deployment. One
// replica is armed with the point and takes the environment's lease (the
// others paused for that moment). Another replica takes the environment
// over and ends the deployment; no request fails; a frozen replica's engine work stops before
// its lease can pass, and it writes nothing when it wakes. Deleting the
// environment afterwards leaves no process behind.
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";
import { request } from "../helpers/http";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startLoad } from "../helpers/load";
import { startPostgres, type PostgresServer } from "../helpers/postgres";
import { processesWith } from "../helpers/processes";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(15 * 60_000);

const ENV = "drill";

function stateOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return "gone";
  }
}

/** The engine workers a replica started (its children running engine-worker-main). */
function workersOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid && readFileSync(`/proc/${p}/cmdline`, "utf8").includes("engine-worker-main");
      } catch {
        return false;
      }
    });
}

describe("failover drills: the lease holder killed or frozen at each point of a deployment", () => {
  let postgres: PostgresServer;
  let db: pg.Client;
  let replicas: RunningServer[] = [];
  let common: Record<string, string> = {};
  const mark = uniqueMark();
  let load: ReturnType<typeof startLoad>;
  let url = "";
  let version = 1;

  const holder = async () => (await db.query<{ holder: string; token: string }>("select holder, token from leases where environment = $1", [ENV])).rows[0];
  /** Who holds the environment's lease now: a released lease keeps its last holder's name but has expired. */
  const liveHolder = async () =>
    (await db.query<{ holder: string }>("select holder from leases where environment = $1 and expires_at > (extract(epoch from clock_timestamp()) * 1000)::bigint", [ENV])).rows[0]?.holder;
  const running = () => replicas.filter((r) => r.process.exitCode === null && r.process.signalCode === null && stateOf(r.process.pid!) !== "T");

  /** Every replica restarted (idle, so nothing is interrupted); the first armed with `faults`. */
  async function restartAll(faults?: string): Promise<void> {
    await Promise.all(
      replicas.map(async (r) => {
        if (stateOf(r.process.pid!) === "T") r.process.kill("SIGCONT");
        await r.terminate();
      }),
    );
    replicas = await Promise.all([0, 1, 2].map((i) => startServer({ env: { ...common, CUTOVER_REPLICA_ID: `r${i}`, ...(faults && i === 0 ? { CUTOVER_FAULT_KILL_AT: faults } : {}) } })));
  }

  /** A deployment started on the armed replica, which holds the environment's lease for it (the others paused until it does). */
  async function deployOnArmed(): Promise<{ id: string }> {
    const others = replicas.slice(1);
    others.forEach((r) => r.process.kill("SIGSTOP"));
    try {
      const d = (await replicas[0].api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${++version}` })).json;
      await waitFor("the armed replica to hold the lease", async () => (await liveHolder()) === "r0", 10_000, 20);
      return d;
    } finally {
      others.forEach((r) => r.process.kill("SIGCONT"));
    }
  }

  async function expectConsistent(live: string): Promise<void> {
    const survivor = running()[0];
    const env = (await survivor.api("GET", `/v1/environments/${ENV}`)).json;
    const config = JSON.parse((await request(env.traffic.metricsUrl.replace(/\/metrics$/, "/config"))).body);
    const actual = { blue: config.pools.blue?.endpoints?.length ? config.pools.blue.weight : 0, green: config.pools.green?.endpoints?.length ? config.pools.green.weight : 0 };
    expect(env).toMatchObject({ status: "ready", liveVersion: live, weights: actual });
    expect(actual[env.activeColor as "blue" | "green"]).toBe(100);
    await waitFor("only the live version's instances to run", () => processesWith(mark, "APP_VERSION=").length === processesWith(mark, `APP_VERSION=${live}\0`).length, 30_000);
    expect(processesWith(mark, `APP_VERSION=${live}\0`).length).toBe(2);
  }

  beforeAll(async () => {
    postgres = await startPostgres();
    const journalUrl = await postgres.createDatabase("journal");
    common = {
      CUTOVER_DATABASE_URL: journalUrl,
      CUTOVER_STATE_BACKEND: await postgres.createDatabase("state"),
      CUTOVER_PULUMI_PASSPHRASE: "one passphrase for every replica",
      CUTOVER_RUNTIME_DIR: tempDir("drill-runtime"),
      // Long enough that a replica busy on two cores under load keeps its lease between heartbeats.
      CUTOVER_LEASE_TTL: "6s",
      CUTOVER_WORK_POLL_INTERVAL: "500ms",
    };
    replicas = await Promise.all([0, 1, 2].map((i) => startServer({ env: { ...common, CUTOVER_REPLICA_ID: `r${i}` } })));
    db = new pg.Client({ connectionString: journalUrl });
    await db.connect();
    expect((await replicas[0].api("POST", "/v1/environments", await environmentSpec(ENV, mark))).status).toBe(201);
    url = (await waitForEnvironment(replicas[1], ENV, "ready")).traffic.url;
    const first = (await replicas[2].api("POST", `/v1/environments/${ENV}/deployments`, { version: `v${version}` })).json;
    await waitForDeployment(replicas[0], first.id, "succeeded");
    load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, maxRequests: 5_000_000, maxMs: 14 * 60_000 });
    await waitFor("load to flow", () => load.result.ok > 100);
  });

  afterAll(async () => {
    await load?.stop();
    await db?.end();
    for (const r of replicas) {
      if (stateOf(r.process.pid!) === "T") r.process.kill("SIGCONT");
      await r.terminate();
    }
    await postgres?.stop();
  });

  it.each([
    { point: "provisioning:engine" },
    { point: "shifting:during-traffic" },
    { point: "shifting:after-traffic" },
    { point: "retiring:engine" },
  ])("SIGKILL at $point: a survivor ends the deployment and no request fails", async ({ point }) => {
    await restartAll(point);
    const live = (await replicas[0].api("GET", `/v1/environments/${ENV}`)).json.liveVersion as string;
    const d = await deployOnArmed();
    const killed = replicas[0];
    await waitFor("the armed replica to die at the point", () => killed.process.signalCode === "SIGKILL", 120_000);
    expect(killed.log.some((l) => l.includes("fault injection: killing the server") && l.includes(point))).toBe(true);
    const ended = await waitForDeployment(running()[0], d.id, "terminal", 120_000);
    expect(["succeeded", "rolled_back"]).toContain(ended.state);
    await expectConsistent(ended.state === "succeeded" ? ended.version : live);
    expect(load.result.errors).toEqual([]);
    expect(load.result.failed).toBe(0);
  });

  it.each([{ point: "provisioning:engine" }, { point: "shifting:after-traffic" }])(
    "SIGSTOP at $point: the frozen replica's engine work stops, a survivor ends the deployment, and the woken replica writes nothing",
    async ({ point }) => {
      await restartAll(`stop:${point}`);
      const live = (await replicas[0].api("GET", `/v1/environments/${ENV}`)).json.liveVersion as string;
      const d = await deployOnArmed();
      const frozen = replicas[0];
      await waitFor("the armed replica to freeze at the point", () => frozen.log.some((l) => l.includes("fault injection: stopping the server")) && stateOf(frozen.process.pid!) === "T", 120_000).catch(
        async (err) => {
          // What the armed replica was doing instead, so a miss says why.
          const now = (await running()[0]?.api("GET", `/v1/deployments/${d.id}`))?.json;
          throw new Error(`${String(err)}; deployment ${now?.state}/${now?.phase} (${JSON.stringify(now?.error ?? null)}), lease held by ${(await holder())?.holder}; the armed replica's last lines:\n${frozen.log.slice(-15).join("\n")}`);
        },
      );
      // Its engine workers stop on their own, before its lease (4 s) can pass to another replica.
      await waitFor("the frozen replica's engine workers to stop", () => workersOf(frozen.process.pid!).every((w) => stateOf(w) === "gone" || stateOf(w) === "Z"), 4000, 50);
      const ended = await waitForDeployment(running()[0], d.id, "terminal", 120_000);
      expect(["succeeded", "rolled_back"]).toContain(ended.state);
      const before = (await running()[0].api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events;
      frozen.process.kill("SIGCONT");
      await waitFor("the woken replica to notice it lost the lease", () => frozen.log.some((l) => l.includes("lost the environment's lease")), 30_000);
      await new Promise((r) => setTimeout(r, 2000));
      const after = (await running()[0].api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events;
      expect(after).toEqual(before);
      await expectConsistent(ended.state === "succeeded" ? ended.version : live);
      expect(load.result.errors).toEqual([]);
      expect(load.result.failed).toBe(0);
    },
  );

  it("deleting the environment through any replica afterwards leaves no process behind", async () => {
    await restartAll();
    const result = await load.stop();
    expect(result.failed).toBe(0);
    expect((await replicas[1].api("DELETE", `/v1/environments/${ENV}`)).status).toBe(202);
    await waitFor("the environment to be gone", async () => (await replicas[2].api("GET", `/v1/environments/${ENV}`)).status === 404, 120_000);
    await waitFor("no instance of any version to run", () => processesWith(mark).length === 0, 30_000);
    // Nor the balancer: its port answers nothing.
    await expect(request(`${url}/`)).rejects.toThrow();
  });
});

// Three replicas on one real PostgreSQL (journal, coordination, and
// Pulumi's state through its Postgres backend), several environments
// deploying at once through different replicas, load through one
// environment's balancer. The replica running a deployment is killed, then
// another is frozen and woken after losing its lease: the deployment is
// taken over and ends, no request fails, the frozen replica writes nothing,
// and the next deployment through another replica succeeds.
import pg from "pg";
import { request } from "../helpers/http";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startLoad } from "../helpers/load";
import { startPostgres, type PostgresServer } from "../helpers/postgres";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(15 * 60_000);

const ENVS = ["ha-a", "ha-b", "ha-c"];
const versionOf = (body: string) => (JSON.parse(body) as { version: string }).version;

describe("scale out: replicas on PostgreSQL", () => {
  let postgres: PostgresServer;
  let journalUrl = "";
  let db: pg.Client;
  const replicas: (RunningServer | undefined)[] = [];
  const mark = uniqueMark();
  let common: Record<string, string> = {};
  let load: ReturnType<typeof startLoad>;
  let url = "";

  const start = (i: number) => startServer({ env: { ...common, CUTOVER_REPLICA_ID: `r${i}` } });
  const alive = () => replicas.filter((r): r is RunningServer => r !== undefined && r.process.exitCode === null && r.process.signalCode === null);
  const holder = async (environment: string) =>
    (await db.query<{ holder: string; token: string }>("select holder, token from leases where environment = $1", [environment])).rows[0];
  const replicaNamed = (id: string) => replicas[Number(id.slice(1))]!;

  beforeAll(async () => {
    postgres = await startPostgres();
    journalUrl = await postgres.createDatabase("journal");
    const stateUrl = await postgres.createDatabase("state");
    common = {
      CUTOVER_DATABASE_URL: journalUrl,
      CUTOVER_STATE_BACKEND: stateUrl,
      CUTOVER_PULUMI_PASSPHRASE: "one passphrase for every replica",
      CUTOVER_RUNTIME_DIR: tempDir("shared-runtime"),
      CUTOVER_LEASE_TTL: "4s",
      CUTOVER_WORK_POLL_INTERVAL: "500ms",
    };
    // Started together: the journal's migrations run once among them.
    replicas.push(...(await Promise.all([0, 1, 2].map(start))));
    db = new pg.Client({ connectionString: journalUrl });
    await db.connect();
  });

  afterAll(async () => {
    await load?.stop();
    await db?.end();
    // Environments are deleted while every replica still runs, so none waits for a lease a stopped replica held.
    const [first, ...rest] = alive();
    await first?.stop();
    for (const r of rest) await r.terminate();
    await postgres?.stop();
  });

  it("serves any call on any replica and deploys environments in parallel on different replicas", async () => {
    await Promise.all(ENVS.map(async (name, i) => expect((await replicas[i]!.api("POST", "/v1/environments", await environmentSpec(name, mark))).status).toBe(201)));
    // Every replica sees every environment.
    for (const r of replicas) {
      expect((await r!.api("GET", "/v1/environments")).json.environments.map((e: { name: string }) => e.name).sort()).toEqual(ENVS);
    }
    await Promise.all(ENVS.map((name, i) => waitForEnvironment(replicas[(i + 1) % 3]!, name, "ready")));
    const deployments = await Promise.all(ENVS.map(async (name, i) => (await replicas[i]!.api("POST", `/v1/environments/${name}/deployments`, { version: "v1" })).json));
    // Followed on a replica other than the one that took it.
    await Promise.all(deployments.map((d, i) => waitForDeployment(replicas[(i + 2) % 3]!, d.id, "succeeded")));
    const holders = new Set<string>();
    for (const e of ENVS) holders.add((await holder(e)).holder);
    expect(holders.size).toBeGreaterThanOrEqual(2);
    url = (await replicas[0]!.api("GET", `/v1/environments/${ENVS[0]}`)).json.traffic.url;
    load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, maxRequests: 5_000_000, maxMs: 14 * 60_000 });
    await waitFor("load to flow", () => load.result.ok > 100);
  });

  it("an Idempotency-Key is honoured across replicas", async () => {
    const headers = { "idempotency-key": `ha-${mark}` };
    const first = await replicas[0]!.api("POST", `/v1/environments/${ENVS[1]}/deployments`, { version: "v2" }, headers);
    const again = await replicas[2]!.api("POST", `/v1/environments/${ENVS[1]}/deployments`, { version: "v2" }, headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.json.id).toBe(first.json.id);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    await waitForDeployment(replicas[1]!, first.json.id, "succeeded");
  });

  it("takes over a deployment whose replica was killed in shifting: it ends, and no request fails", async () => {
    const [env] = ENVS;
    const live = (await replicas[0]!.api("GET", `/v1/environments/${env}`)).json.liveVersion;
    const d = (await replicas[1]!.api("POST", `/v1/environments/${env}/deployments`, { version: "v2", strategy: { type: "canary", steps: [{ weight: 50, pause: "60s" }] } })).json;
    await waitFor("the canary to wait at 50%", async () => {
      const now = (await replicas[1]!.api("GET", `/v1/deployments/${d.id}`)).json;
      return now.phase === "shifting" && now.step === 0 && now.waitUntil;
    }, 120_000);
    const owner = await holder(env);
    const victim = replicaNamed(owner.holder);
    await victim.kill();
    const killedAt = Date.now();
    const survivor = alive()[0];
    const ended = await waitForDeployment(survivor, d.id, "terminal", 60_000);
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    expect(ended).toMatchObject({ state: "rolled_back", error: { code: "interrupted" } });
    const after = await holder(env);
    expect(after.holder).not.toBe(owner.holder);
    expect(Number(after.token)).toBeGreaterThan(Number(owner.token));
    const view = (await survivor.api("GET", `/v1/environments/${env}`)).json;
    expect(view).toMatchObject({ status: "ready", liveVersion: live, weights: view.recordedWeights });
    expect(new Set(await Promise.all(Array.from({ length: 6 }, async () => versionOf((await request(`${url}/`)).body))))).toEqual(new Set([live]));
    expect(load.result.errors).toEqual([]);
    expect(load.result.failed).toBe(0);
    // The killed replica comes back as a plain member.
    replicas[Number(owner.holder.slice(1))] = await start(Number(owner.holder.slice(1)));
  });

  it("a replica frozen past its lease writes nothing when it wakes", async () => {
    const [env] = ENVS;
    const d = (await replicas[2]!.api("POST", `/v1/environments/${env}/deployments`, { version: "v3", strategy: { type: "canary", steps: [{ weight: 50, pause: "60s" }] } })).json;
    const entry = alive()[0];
    await waitFor("the canary to wait at 50%", async () => {
      const now = (await entry.api("GET", `/v1/deployments/${d.id}`)).json;
      return now.phase === "shifting" && now.step === 0 && now.waitUntil;
    }, 120_000);
    const owner = await holder(env);
    const frozen = replicaNamed(owner.holder);
    frozen.process.kill("SIGSTOP");
    const others = alive().filter((r) => r !== frozen);
    const ended = await waitForDeployment(others[0], d.id, "terminal", 60_000);
    expect(ended.state).toBe("rolled_back");
    const eventsBefore = (await others[0].api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events;
    frozen.process.kill("SIGCONT");
    await waitFor("the woken replica to notice it lost the lease", () => frozen.log.some((l) => l.includes("lost the environment's lease")), 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    const eventsAfter = (await others[0].api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events;
    expect(eventsAfter).toEqual(eventsBefore);
    expect((await others[0].api("GET", `/v1/deployments/${d.id}`)).json).toMatchObject({ state: "rolled_back", updatedAt: ended.updatedAt });
    expect(load.result.failed).toBe(0);
  });

  it("streams and promotes a deployment on a replica that does not run it, and the follow-up deployment succeeds", async () => {
    const [env] = ENVS;
    const d = (await alive()[0].api("POST", `/v1/environments/${env}/deployments`, { version: "v4", strategy: { type: "canary", steps: [{ weight: 30, pause: "manual" }] } })).json;
    await waitForDeployment(alive()[0], d.id, "paused");
    const runner = (await holder(env)).holder;
    const watcher = alive().find((r) => r !== replicaNamed(runner))!;
    const streaming = request(`${watcher.url}/v1/deployments/${d.id}/events`, { headers: { authorization: "Bearer test-admin-token-0123456789", accept: "text/event-stream" } });
    expect((await watcher.api("POST", `/v1/deployments/${d.id}/promote`)).status).toBe(202);
    const stream = await streaming;
    expect(stream.status).toBe(200);
    expect(stream.body).toContain("event: deployment:promoted");
    expect(stream.body).toContain("event: deployment:succeeded");
    await waitForDeployment(watcher, d.id, "succeeded");
    const view = (await watcher.api("GET", `/v1/environments/${env}`)).json;
    expect(view).toMatchObject({ status: "ready", liveVersion: "v4" });
    // Every replica counts the shared journal's deployments alike.
    const succeeded = await Promise.all(
      alive().map(async (r) => Number(/^cutover_journal_deployments\{state="succeeded"\} (\d+)/m.exec((await r.api("GET", "/metrics")).body)?.[1])),
    );
    const inJournal = Number((await db.query("select count(*) as n from deployments where state = 'succeeded'")).rows[0].n);
    expect(succeeded).toEqual(alive().map(() => inJournal));
    expect(inJournal).toBeGreaterThanOrEqual(4);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(1000);
  });
});

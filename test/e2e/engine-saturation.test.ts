// The control plane with its engine saturated: two replicas on one real
// PostgreSQL, each with room for one engine operation at a time, and more
// deployments at once than they can run, each holding its engine slot
// while its slow-starting fleet comes up. Every engine slot stays busy,
// the rest wait in the queue, and meanwhile every heartbeat lands (no
// replica loses a lease it holds), `/healthz` answers every time on both
// replicas, and a status read answers too; every deployment ends.
import http from "node:http";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startPostgres, type PostgresServer } from "../helpers/postgres";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { processesWith } from "../helpers/processes";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(10 * 60_000);

const ENVS = ["sat-a", "sat-b", "sat-c", "sat-d", "sat-e", "sat-f"];

/** GET with a deadline: the status, or the reason it did not answer in time. */
function probe(url: string, deadlineMs: number): Promise<{ ok: boolean; ms: number; why?: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: deadlineMs, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ ok: res.statusCode === 200, ms: Date.now() - started, ...(res.statusCode === 200 ? {} : { why: `status ${res.statusCode}` }) }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${deadlineMs} ms`)));
    req.on("error", (err) => resolve({ ok: false, ms: Date.now() - started, why: err.message }));
  });
}

describe("a saturated engine", () => {
  let postgres: PostgresServer;
  let replicas: RunningServer[] = [];
  const runtimeDir = tempDir("saturation-runtime");

  beforeAll(async () => {
    postgres = await startPostgres();
    const common = {
      CUTOVER_DATABASE_URL: await postgres.createDatabase("journal"),
      CUTOVER_STATE_BACKEND: await postgres.createDatabase("state"),
      CUTOVER_PULUMI_PASSPHRASE: "one passphrase for both replicas",
      CUTOVER_RUNTIME_DIR: runtimeDir,
      // A short lease, renewed every second: a replica whose heartbeats wait on its engine would lose it.
      CUTOVER_LEASE_TTL: "3s",
      CUTOVER_ENGINE_CONCURRENCY: "1",
      CUTOVER_WORK_POLL_INTERVAL: "500ms",
    };
    replicas = await Promise.all([0, 1].map((i) => startServer({ env: { ...common, CUTOVER_REPLICA_ID: `s${i}` } })));
  });

  afterAll(async () => {
    for (const r of replicas) await r.terminate();
    await postgres?.stop();
  });

  it("keeps every lease and answers /healthz and status reads while every engine slot is busy and more wait", async () => {
    const mark = uniqueMark();
    // Each new fleet takes seconds to become healthy, holding its replica's one engine slot meanwhile.
    const slow = await environmentSpec("x", mark);
    for (const [i, name] of ENVS.entries()) {
      const spec = await environmentSpec(name, mark);
      expect((await replicas[i % 2].api("POST", "/v1/environments", spec)).status).toBe(201);
    }
    for (const name of ENVS) await waitForEnvironment(replicas[0], name, "ready");

    const probes: { replica: number; path: string; ok: boolean; ms: number; why?: string }[] = [];
    let polling = true;
    const poll = async (replica: number) => {
      while (polling) {
        for (const path of ["/healthz", `/v1/environments/${ENVS[replica]}`]) {
          const url = `${replicas[replica].url}${path}`;
          const result = path === "/healthz" ? await probe(url, 2000) : await replicas[replica].api("GET", path).then(
            (r) => ({ ok: r.status === 200, ms: 0, ...(r.status === 200 ? {} : { why: `status ${r.status}` }) }),
            (err: Error) => ({ ok: false, ms: 0, why: err.message }),
          );
          probes.push({ replica, path, ...result });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const pollers = [poll(0), poll(1)];
    const artifact = { ...slow.fleet.artifact, env: { ...slow.fleet.artifact.env, START_DELAY_MS: "3000" } };
    const ids = await Promise.all(
      ENVS.map(async (name, i) => {
        const r = await replicas[i % 2].api("POST", `/v1/environments/${name}/deployments`, { version: "v1", artifact });
        expect(r.status).toBe(202);
        return r.json.id as string;
      }),
    );
    // While the first fleets come up, every slot is taken and the other deployments queue for one.
    const waited = await Promise.all(ids.map((id) => waitForDeployment(replicas[0], id, "terminal", 300_000)));
    polling = false;
    await Promise.all(pollers);

    expect(waited.map((d) => d.state)).toEqual(ENVS.map(() => "succeeded"));
    const events = (await Promise.all(ids.map(async (id) => (await replicas[0].api("GET", `/v1/deployments/${id}/events`, undefined, { accept: "application/json" })).json.events as { type: string }[]))).flat();
    expect(events.filter((e) => e.type === "engine:waiting").length).toBeGreaterThan(0);
    // No replica lost a lease it held, and no deployment was taken over.
    for (const r of replicas) expect(r.log.filter((l) => l.includes("lost the environment's lease"))).toEqual([]);
    expect(events.filter((e) => e.type === "deployment:resumed_after_restart")).toEqual([]);
    // Every probe answered, /healthz within its 2 s deadline every time.
    const failed = probes.filter((p) => !p.ok);
    expect(failed).toEqual([]);
    expect(probes.filter((p) => p.path === "/healthz").length).toBeGreaterThan(20);

    // Deleted through either replica, the environments leave no process behind.
    for (const [i, name] of ENVS.entries()) expect((await replicas[i % 2].api("DELETE", `/v1/environments/${name}`)).status).toBe(202);
    for (const name of ENVS) await waitFor(`${name} to be gone`, async () => (await replicas[0].api("GET", `/v1/environments/${name}`)).status === 404, 120_000);
    await waitFor("no instance or balancer left", () => processesWith(mark).length === 0 && processesWith(`${runtimeDir}/balancers/`).length === 0, 30_000);
  });
});

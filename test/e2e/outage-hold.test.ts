// A moment when no instance answers (every instance of the live fleet
// killed at once, restarted by its supervisor) with `holdWhenUnavailable`:
// the balancer holds the requests every instance refused and sends them on
// once one is back, so under load no request fails. A balancer process
// killed while it holds loses what it held; the one that takes over holds
// from its first request.
import { readFileSync } from "node:fs";
import path from "node:path";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { ask, request } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { killAndAwaitGone, parentOf, processesWith } from "../helpers/processes";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

// Both data planes: cutover-proxy waits for an instance itself; HAProxy marks each refusing
// instance down and sends the request to its backup, a frontend where it waits.
describe.each(["cutover-proxy", "haproxy"])("a balancer that holds requests through an outage (%s data plane)", (dataPlane) => {
  let server: RunningServer;
  let env: { traffic: { url: string; metricsUrl: string } };
  const mark = uniqueMark();
  const holds = async () => Number(/^cutover_proxy_outage_holds_total (\d+)$/m.exec((await request(env.traffic.metricsUrl).catch(() => ({ body: "" }))).body)?.[1] ?? NaN);

  beforeAll(async () => {
    server = await startServer();
    const spec = await environmentSpec("held", mark, { local: { listenPort: 0, holdWhenUnavailable: "60s", dataPlane } });
    expect((await server.api("POST", "/v1/environments", spec)).status).toBe(201);
    env = await waitForEnvironment(server, "held", "ready");
    const d = (await server.api("POST", "/v1/environments/held/deployments", { version: "v1" })).json;
    expect((await waitForDeployment(server, d.id, "terminal")).state).toBe("succeeded");
  });
  afterAll(() => server?.stop());

  it("fails no request while every instance is killed and restarted", async () => {
    const load = startLoad(`${env.traffic.url}/`, { concurrency: 4, maxMs: 120_000 });
    try {
      await waitFor("load to flow", () => load.result.ok > 50);
      const before = processesWith(mark);
      expect(before.length).toBe(2);
      for (const pid of before) process.kill(pid, "SIGKILL");
      await waitFor("both instances to be back", () => processesWith(mark).filter((p) => !before.includes(p)).length === 2, 30_000);
      const served = load.result.ok;
      await waitFor("the new instances to serve", () => load.result.ok > served + 50, 30_000);
    } finally {
      await load.stop();
    }
    expect(load.result.errors).toEqual([]);
    expect(load.result.failed).toBe(0);
    expect(await holds()).toBeGreaterThan(0);
  });

  it("holds again once the balancer's process, killed while holding, is back; the requests it held are lost with it", async () => {
    const instances = processesWith(mark);
    expect(instances.length).toBe(2);
    const supervisors = [...new Set(instances.map((p) => parentOf(p)!))];
    // The fleet stays down until its supervisor is let go again: every request is held meanwhile.
    supervisors.forEach((p) => process.kill(p, "SIGSTOP"));
    let resumed = false;
    try {
      for (const pid of instances) process.kill(pid, "SIGKILL");
      await waitFor("the instances to be gone", () => processesWith(mark).length === 0, 5000);
      const statusFile = path.join(server.dataDir, "runtime", "balancers", "held", "status.json");
      const { workerPid } = JSON.parse(readFileSync(statusFile, "utf8")) as { workerPid: number };
      const heldBefore = await holds();
      const lost = Array.from({ length: 3 }, () => ask(`${env.traffic.url}/`));
      await waitFor("the balancer to hold 3 requests", async () => (await holds()) >= heldBefore + 3, 10_000, 50);
      await killAndAwaitGone(workerPid);
      // In flight on the dead process's connections: each ends with an error, none with an answer.
      expect((await Promise.all(lost)).map((a) => a.status)).toEqual([-1, -1, -1]);

      // The process that takes over holds from its first request: the hold is in its configuration.
      await waitFor("a new balancer process", () => JSON.parse(readFileSync(statusFile, "utf8")).workerPid !== workerPid, 5000, 20);
      await waitFor("the new balancer to answer its metrics", async () => !Number.isNaN(await holds()), 5000, 20);
      const heldAfterRestart = await holds();
      const held = Array.from({ length: 3 }, () => ask(`${env.traffic.url}/`));
      await waitFor("the new balancer to hold 3 requests", async () => (await holds()) >= heldAfterRestart + 3, 10_000, 50);
      supervisors.forEach((p) => process.kill(p, "SIGCONT"));
      resumed = true;
      // Once the supervisor has started the instances again, every held request is answered by the live version.
      const answers = await Promise.all(held);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(answers.map((a) => (JSON.parse(a.body) as { version: string }).version)).toEqual(["v1", "v1", "v1"]);
    } finally {
      if (!resumed) supervisors.forEach((p) => process.kill(p, "SIGCONT"));
    }
  });
});

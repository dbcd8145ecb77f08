// A moment when no instance answers (every instance of the live fleet
// killed at once, restarted by its supervisor) with `holdWhenUnavailable`:
// the balancer holds the requests every instance refused and sends them on
// once one is back, so under load no request fails.
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { processesWith } from "../helpers/processes";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

// Both data planes: cutover-proxy waits for an instance itself; HAProxy marks each refusing
// instance down and sends the request to its backup, a frontend where it waits.
describe.each(["cutover-proxy", "haproxy"])("a balancer that holds requests through an outage (%s data plane)", (dataPlane) => {
  let server: RunningServer;
  afterAll(() => server?.stop());

  it("fails no request while every instance is killed and restarted", async () => {
    server = await startServer();
    const mark = uniqueMark();
    const spec = await environmentSpec("held", mark, { local: { listenPort: 0, holdWhenUnavailable: "20s", dataPlane } });
    expect((await server.api("POST", "/v1/environments", spec)).status).toBe(201);
    const env = await waitForEnvironment(server, "held", "ready");
    const d = (await server.api("POST", "/v1/environments/held/deployments", { version: "v1" })).json;
    expect((await waitForDeployment(server, d.id, "terminal")).state).toBe("succeeded");

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
    const metrics = (await request(env.traffic.metricsUrl)).body;
    expect(Number(/^cutover_proxy_outage_holds_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  });
});

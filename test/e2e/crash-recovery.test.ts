// The server is killed with SIGKILL in the middle of deployments; after a
// restart every interrupted deployment reaches an end and nothing is orphaned.
import { readFileSync } from "node:fs";
import path from "node:path";
import { request } from "../helpers/http";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { parentOf, processesWith } from "../helpers/processes";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { fixtureApp, tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

const versionOf = (body: string) => JSON.parse(body).version as string;

describe("crash recovery", () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.stop();
  });

  it("rolls back a deployment killed during provisioning and during a canary pause, leaving nothing behind", async () => {
    const dataDir = tempDir("crash");
    const mark = uniqueMark();
    server = await startServer({ dataDir });
    const spec = await environmentSpec("crash", mark);
    expect((await server.api("POST", "/v1/environments", spec)).status).toBe(201);
    const env = await waitForEnvironment(server, "crash", "ready");
    const url = env.traffic.url as string;
    const v1 = (await server.api("POST", "/v1/environments/crash/deployments", { version: "v1" })).json;
    await waitForDeployment(server, v1.id, "succeeded");

    // 1. Killed while the new fleet is being built (its health check is still pending).
    const slow = (
      await server.api("POST", "/v1/environments/crash/deployments", {
        version: "v2",
        artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, START_DELAY_MS: "5000" } },
      })
    ).json;
    await waitFor("the v2 fleet to be starting", () => processesWith(mark, "APP_VERSION=v2").length > 0, 30_000);
    // Queued behind it, so recovery must also run what was waiting.
    const queued = (await server.api("POST", "/v1/environments/crash/deployments", { version: "v3" })).json;
    await server.kill();

    // The load balancer and v1 keep serving while Cutover is down.
    expect(versionOf((await request(`${url}/`)).body)).toBe("v1");

    server = await startServer({ dataDir });
    const interrupted = await waitForDeployment(server, slow.id, "rolled_back");
    expect(interrupted.error.code).toBe("interrupted");
    await waitForDeployment(server, queued.id, "succeeded");
    expect(versionOf((await request(`${url}/`)).body)).toBe("v3");
    await waitFor("the v2 fleet to be gone", () => processesWith(mark, "APP_VERSION=v2").length === 0, 30_000);

    // 2. Killed while paused at a manual canary step with traffic split.
    const canary = (
      await server.api("POST", "/v1/environments/crash/deployments", {
        version: "v4",
        strategy: { type: "canary", steps: [{ weight: 50, pause: "manual" }] },
      })
    ).json;
    await waitForDeployment(server, canary.id, "paused");
    await server.kill();
    server = await startServer({ dataDir });
    const rolled = await waitForDeployment(server, canary.id, "rolled_back");
    expect(rolled.error.code).toBe("interrupted");
    const status = (await server.api("GET", "/v1/environments/crash")).json;
    expect(status).toMatchObject({ liveVersion: "v3", weights: { [status.activeColor]: 100 } });
    const answers = await Promise.all(Array.from({ length: 10 }, async () => versionOf((await request(`${url}/`)).body)));
    expect(new Set(answers)).toEqual(new Set(["v3"]));
    expect(processesWith(mark, "APP_VERSION=v4")).toEqual([]);

    // Stacks are unlocked and usable: a new deployment goes through.
    const v5 = (await server.api("POST", "/v1/environments/crash/deployments", { version: "v5" })).json;
    await waitForDeployment(server, v5.id, "succeeded");

    // Nothing of the killed servers' engine processes is left, once the live server's own
    // work is done (it records the direct traffic changes in the traffic stack when idle):
    // the only ones are the live server's idle engine workers and the providers they keep.
    await waitFor("the traffic to be recorded", async () => (await server!.api("GET", "/v1/environments/crash")).json.trafficUnrecorded === undefined, 60_000, 100);
    await waitFor("no engine process but the live server's idle workers and their providers", () => {
      const engine = processesWith(`PULUMI_HOME=${path.join(dataDir, "pulumi-home")}`);
      const workers = engine.filter((pid) => parentOf(pid) === server!.process.pid);
      const providers = engine.filter((pid) => workers.includes(parentOf(pid) ?? -1) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("provider-main"));
      return engine.every((pid) => workers.includes(pid) || providers.includes(pid));
    });

    expect((await server.api("DELETE", "/v1/environments/crash")).status).toBe(202);
    await waitFor("the environment to be gone", async () => (await server!.api("GET", "/v1/environments/crash")).status === 404, 60_000);
    expect(processesWith(mark)).toEqual([]);
  });
});

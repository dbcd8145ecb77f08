// Fleet instance ports with real processes: chosen outside the kernel's
// ephemeral range, moved by the supervisor when taken before an instance
// binds, and held still once the fleet is settled.
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type * as FleetController from "../../infra/local/provider/fleet-controller";
import type { FleetInputs, FleetOutputs } from "../../infra/local/provider/fleet-controller";
import { type FleetStatus, instanceLogPath, readJson, statusPath } from "../../infra/local/provider/fleet-spec";
import { allocatePort, allocatePorts, canBind, ephemeralPortRange } from "../../infra/local/provider/port-allocation";
import { projectRoot } from "../../server/engine/toolchain";
import { request } from "../helpers/http";
import { processesWith } from "../helpers/processes";
import { fixtureApp, tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

// startFleet spawns supervisor-main.js from its own directory, so fleets run
// from the compiled provider, as the Pulumi plugin runs them (npm test builds it).
const { startFleet, stopFleet }: typeof FleetController = require(path.join(projectRoot, "dist", "infra", "local", "provider", "fleet-controller.js"));

const runtimeDir = tempDir("fleet-ports");
const started: FleetOutputs[] = [];
const listeners: net.Server[] = [];

afterAll(async () => {
  for (const fleet of started) await stopFleet(fleet.dir, fleet.drainTimeoutMs).catch(() => undefined);
  for (const server of listeners) server.close();
  rmSync(runtimeDir, { recursive: true, force: true });
});

const mark = () => `m${randomBytes(5).toString("hex")}`;

/** A listener that holds `port` and drops every connection, so health checks against it fail. */
async function hold(port: number): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  listeners.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return server;
}

const release = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

function fleetInputs(m: string): FleetInputs {
  return {
    name: `p-${m}`,
    version: "v1",
    replicas: 2,
    artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: m } },
    healthCheck: { path: "/healthz", intervalMs: 100, timeoutMs: 1000, healthyThreshold: 2, startTimeoutMs: 15_000 },
    drainTimeoutMs: 2000,
    runtimeDir,
  };
}

const statusOf = (fleet: FleetOutputs) => readJson<FleetStatus>(statusPath(fleet.dir))!;

/** The PORT each live process carrying `m` was started with. */
function portsOfProcessesWith(m: string): number[] {
  return processesWith(m).flatMap((pid) => {
    try {
      const entry = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").find((e) => e.startsWith("PORT="));
      return entry ? [Number(entry.slice("PORT=".length))] : [];
    } catch {
      return [];
    }
  });
}

describe("fleet ports", () => {
  it("allocates distinct ports outside the ephemeral range that can be bound", async () => {
    const { low, high } = ephemeralPortRange();
    const ports = await allocatePorts(20);
    expect(new Set(ports).size).toBe(20);
    for (const port of ports) {
      expect(port < low || port > high).toBe(true);
      await release(await hold(port));
    }
    const held = await hold(await allocatePort());
    expect(await canBind((held.address() as net.AddressInfo).port)).toBe(false);
    await release(held);
  });

  it("moves an instance whose first port is taken, then holds ports still once settled", async () => {
    const m = mark();
    const busyPort = await allocatePort();
    await hold(busyPort);
    const otherPort = await allocatePort([busyPort]);

    const fleet = await startFleet(fleetInputs(m), { firstPorts: [busyPort, otherPort] });
    started.push(fleet);

    expect(fleet.endpoints).toHaveLength(2);
    expect(fleet.endpoints).not.toContain(`127.0.0.1:${busyPort}`);
    expect(fleet.endpoints[1]).toBe(`127.0.0.1:${otherPort}`);
    for (const ep of fleet.endpoints) {
      expect((await request(`http://${ep}/healthz`)).status).toBe(200);
      expect(JSON.parse((await request(`http://${ep}/`)).body).version).toBe("v1");
    }
    // The first instance really met the taken port and was moved, not merely given another one.
    expect(readFileSync(instanceLogPath(fleet.dir, 0), "utf8")).toMatch(/EADDRINUSE/);
    const status = statusOf(fleet);
    expect(status.settled).toBe(true);
    expect(status.instances.map((i) => `127.0.0.1:${i.port}`)).toEqual(fleet.endpoints);
    expect(status.instances[0].lastExit).toMatch(new RegExp(`port ${busyPort} was taken`));
    expect(portsOfProcessesWith(m)).not.toContain(busyPort);

    // Settled: an instance whose port is taken while it restarts waits for the port instead of moving.
    const settledPort = status.instances[0].port;
    const victim = status.instances[0].process!;
    process.kill(victim.pid, "SIGKILL");
    const squatter = await waitFor(`port ${settledPort} to be free`, async () => (await canBind(settledPort)) && hold(settledPort));
    await waitFor("the restart to fail on the taken port", () => statusOf(fleet).instances[0].restarts >= 2, 15_000);
    expect(statusOf(fleet).instances[0].port).toBe(settledPort);
    await release(squatter);
    await waitFor(
      "the instance back on its settled port",
      async () => (await request(`http://127.0.0.1:${settledPort}/healthz`)).status === 200,
      15_000,
    );
    expect(statusOf(fleet).instances.map((i) => i.port)).toEqual([settledPort, otherPort]);

    await stopFleet(fleet.dir, fleet.drainTimeoutMs);
    started.pop();
    expect(processesWith(m)).toEqual([]);
    expect(processesWith(fleet.dir)).toEqual([]);
  });
});

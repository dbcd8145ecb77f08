// Starts, inspects and stops local fleets: a detached supervisor per fleet,
// health-gated start, drained stop. Used by the resource provider.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, openSync, closeSync, rmSync } from "node:fs";
import path from "node:path";
import { cleanEnv } from "./clean-env";
import { freePorts } from "./free-port";
import {
  type ArtifactSpec,
  type FleetSpec,
  type FleetStatus,
  instanceLogPath,
  readJson,
  specPath,
  statusPath,
  writeJsonAtomic,
} from "./fleet-spec";
import { HealthCheckError, type HealthCheckSpec, waitUntilHealthy } from "./health-check";
import { tail } from "./log-tail";
import { isAlive, terminate, type ProcessIdentity } from "./process-identity";

export interface FleetInputs {
  name: string;
  version: string;
  replicas: number;
  artifact: ArtifactSpec;
  healthCheck: HealthCheckSpec & { startTimeoutMs: number };
  drainTimeoutMs: number;
  runtimeDir: string;
}

export interface FleetOutputs extends FleetInputs {
  fleetId: string;
  dir: string;
  endpoints: string[];
  supervisor: ProcessIdentity;
  instances: ProcessIdentity[];
}

const CRASH_LOOP_RESTARTS = 3;

export async function startFleet(inputs: FleetInputs): Promise<FleetOutputs> {
  const fleetId = `${inputs.name}-${randomBytes(4).toString("hex")}`;
  const dir = path.join(inputs.runtimeDir, "fleets", fleetId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ports = await freePorts(inputs.replicas);
  const spec: FleetSpec = {
    fleetId,
    version: inputs.version,
    artifact: inputs.artifact,
    ports,
    drainTimeoutMs: inputs.drainTimeoutMs,
  };
  writeJsonAtomic(specPath(dir), spec);
  const log = openSync(path.join(dir, "supervisor.log"), "a");
  const child = spawn(process.execPath, [path.join(__dirname, "supervisor-main.js"), dir], {
    detached: true,
    stdio: ["ignore", log, log],
    env: cleanEnv(),
  });
  closeSync(log);
  child.unref();

  try {
    const status = await waitForStatus(dir, 10_000);
    await waitUntilHealthy(ports, inputs.healthCheck, inputs.healthCheck.startTimeoutMs, () => crashLoop(dir));
    return {
      ...inputs,
      fleetId,
      dir,
      endpoints: ports.map((p) => `127.0.0.1:${p}`),
      supervisor: status.supervisor,
      instances: currentInstances(dir),
    };
  } catch (err) {
    const detail = failureDetail(dir, ports, err);
    await stopFleet(dir, inputs.drainTimeoutMs);
    throw new Error(detail);
  }
}

async function waitForStatus(dir: string, timeoutMs: number): Promise<FleetStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = readJson<FleetStatus>(statusPath(dir));
    if (status) return status;
    if (Date.now() > deadline) throw new Error(`fleet supervisor did not start: ${tail(path.join(dir, "supervisor.log"))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function crashLoop(dir: string): string | undefined {
  const status = readJson<FleetStatus>(statusPath(dir));
  const looping = status?.instances.find((i) => i.restarts >= CRASH_LOOP_RESTARTS);
  return looping ? `instance ${looping.index} keeps exiting (${looping.lastExit})` : undefined;
}

function failureDetail(dir: string, ports: number[], err: unknown): string {
  const failing = err instanceof HealthCheckError ? err.failingPorts : ports;
  const index = Math.max(0, ports.indexOf(failing[0]));
  const output = tail(instanceLogPath(dir, index));
  const message = err instanceof Error ? err.message : String(err);
  return `fleet did not become healthy: ${message}; instance ${index} (port ${ports[index]}) output:\n${output || "(no output)"}`;
}

function currentInstances(dir: string): ProcessIdentity[] {
  const status = readJson<FleetStatus>(statusPath(dir));
  return (status?.instances ?? []).map((i) => i.process).filter((p): p is ProcessIdentity => !!p);
}

/** What is running of a fleet: its supervisor and live instances, if any. */
export function inspectFleet(dir: string): { supervisorAlive: boolean; liveInstances: ProcessIdentity[] } {
  const status = readJson<FleetStatus>(statusPath(dir));
  return {
    supervisorAlive: isAlive(status?.supervisor),
    liveInstances: currentInstances(dir).filter(isAlive),
  };
}

/**
 * Drains a fleet and removes its directory. The supervisor drains its own
 * instances; anything it leaves (because it was killed) is drained here.
 */
export async function stopFleet(dir: string, drainTimeoutMs: number): Promise<void> {
  const status = readJson<FleetStatus>(statusPath(dir));
  if (status && isAlive(status.supervisor)) {
    await terminate([status.supervisor], drainTimeoutMs + 5000);
  }
  await terminate(currentInstances(dir), drainTimeoutMs);
  rmSync(dir, { recursive: true, force: true });
}

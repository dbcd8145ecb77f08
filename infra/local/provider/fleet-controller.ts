// Starts, inspects and stops local fleets: a detached supervisor per fleet,
// health-gated start, drained stop. Used by the resource provider. The
// supervisor may move an instance to another port while the fleet starts,
// so health is checked where status.json says the instances are, and the
// endpoints are the ports the supervisor holds still once told the fleet is settled.
// A fleet's capacity changes in place (scaleFleet): added instances are
// health-gated like a new fleet's, removed ones are the highest indexes, so
// the endpoints that stay keep their order. The instances run as the
// user resolveRunAs names (when Cutover can switch users); a fleet that
// user cannot start fails before anything runs.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, openSync, closeSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cleanEnv } from "./clean-env";
import { atDataPlanePriority } from "./data-plane-priority";
import {
  type ArtifactSpec,
  type FleetSpec,
  type FleetStatus,
  instanceLogPath,
  readJson,
  scalePath,
  settledPath,
  specPath,
  statusPath,
  writeJsonAtomic,
} from "./fleet-spec";
import { HealthCheckError, type HealthCheckSpec, waitUntilHealthy } from "./health-check";
import { tail } from "./log-tail";
import { guardLoopback } from "./loopback-guard";
import { allocatePorts } from "./port-allocation";
import { isAlive, terminate, type ProcessIdentity } from "./process-identity";
import { environmentOfFleet, environmentRunAs, resolveRunAs } from "./run-as";
import { unreachableFor } from "./run-as-access";
import { pollUntil } from "../../poll";

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

export interface StartOptions {
  /** The port each instance tries first, instead of freshly allocated ones. */
  firstPorts?: number[];
}

const CRASH_LOOP_RESTARTS = 3;
const SUPERVISOR_ANSWER_MS = 10_000;

export async function startFleet(inputs: FleetInputs, options: StartOptions = {}): Promise<FleetOutputs> {
  const runAs = environmentRunAs(resolveRunAs(process.env.CUTOVER_LOCAL_RUN_AS), environmentOfFleet(inputs.name));
  if (runAs) {
    const env = { ...cleanEnv(runAs), ...inputs.artifact.env };
    const unreachable = unreachableFor(runAs, { command: inputs.artifact.command, cwd: inputs.artifact.cwd ?? runAs.home, searchPath: env.PATH });
    if (unreachable) throw new Error(`fleet ${inputs.name} cannot start: ${unreachable}`);
    const unguarded = await guardLoopback(runAs);
    if (unguarded) throw new Error(`fleet ${inputs.name} cannot start: ${unguarded}`);
  }
  const ports = options.firstPorts ?? (await allocatePorts(inputs.replicas));
  if (ports.length !== inputs.replicas) throw new Error(`${ports.length} first ports for ${inputs.replicas} replicas`);
  const fleetId = `${inputs.name}-${randomBytes(4).toString("hex")}`;
  const dir = path.join(inputs.runtimeDir, "fleets", fleetId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const spec: FleetSpec = {
    fleetId,
    version: inputs.version,
    artifact: inputs.artifact,
    ports,
    drainTimeoutMs: inputs.drainTimeoutMs,
    ...(runAs ? { runAs } : {}),
  };
  writeJsonAtomic(specPath(dir), spec);
  const log = openSync(path.join(dir, "supervisor.log"), "a");
  const supervisor = atDataPlanePriority(process.execPath, [path.join(__dirname, "supervisor-main.js"), dir]);
  const child = spawn(supervisor.command, supervisor.args, {
    detached: true,
    stdio: ["ignore", log, log],
    env: cleanEnv(),
  });
  closeSync(log);
  child.unref();

  try {
    const status = await waitForStatus(dir, SUPERVISOR_ANSWER_MS);
    const deadline = Date.now() + inputs.healthCheck.startTimeoutMs;
    const checked = await healthyPorts(dir, inputs.healthCheck, deadline);
    const final = await settle(dir, inputs.replicas, SUPERVISOR_ANSWER_MS);
    // An instance moved after its last check and before the supervisor saw the marker: check where it is now.
    if (!samePorts(checked, final)) {
      await waitUntilHealthy(final, inputs.healthCheck, remaining(deadline), () => crashLoop(dir));
    }
    return {
      ...inputs,
      fleetId,
      dir,
      endpoints: final.map((p) => `127.0.0.1:${p}`),
      supervisor: status.supervisor,
      instances: currentInstances(dir),
    };
  } catch (err) {
    const detail = failureDetail(dir, err);
    await stopFleet(dir, inputs.drainTimeoutMs);
    throw new Error(detail);
  }
}

async function waitForStatus(dir: string, timeoutMs: number): Promise<FleetStatus> {
  const status = await pollUntil(() => readJson<FleetStatus>(statusPath(dir)), { timeoutMs, intervalMs: 25 });
  if (!status) throw new Error(`fleet supervisor did not start: ${tail(path.join(dir, "supervisor.log"))}`);
  return status;
}

/**
 * Waits until every instance passes its health check on the port the
 * supervisor last published, starting over on the new ports when one moves.
 */
async function healthyPorts(dir: string, check: HealthCheckSpec, deadline: number): Promise<number[]> {
  for (;;) {
    const ports = publishedPorts(dir);
    let moved = false;
    try {
      await waitUntilHealthy(ports, check, remaining(deadline), () => {
        moved = !samePorts(publishedPorts(dir), ports);
        return moved ? "an instance moved to another port" : crashLoop(dir);
      });
      return ports;
    } catch (err) {
      if (!moved) throw err;
    }
  }
}

/**
 * Changes a running fleet's capacity. Growing allocates ports for the new
 * instances and waits until every instance passes its health check (a
 * failure scales back to where the fleet was); shrinking drains the
 * highest-indexed instances. Idempotent: the supervisor's own status says
 * how many instances there are, whatever the last recorded state believed.
 */
export async function scaleFleet(outs: FleetOutputs, replicas: number): Promise<FleetOutputs> {
  const dir = outs.dir;
  const status = readJson<FleetStatus>(statusPath(dir));
  if (!status || !isAlive(status.supervisor)) throw new Error(`the fleet supervisor of ${outs.fleetId} is not running`);
  const current = status.instances.length;
  if (replicas > current) {
    // The marker names how many ports are fixed, so the added instances' stay movable until they are healthy.
    writeFileSync(settledPath(dir), String(Math.min(current, status.settledCount ?? current)), { mode: 0o600 });
    const added = await allocatePorts(replicas - current, status.instances.map((i) => i.port));
    writeJsonAtomic(scalePath(dir), { replicas, ports: [...status.instances.map((i) => i.port), ...added] });
    try {
      await waitForInstances(dir, replicas, SUPERVISOR_ANSWER_MS);
      const deadline = Date.now() + outs.healthCheck.startTimeoutMs;
      const checked = await healthyPorts(dir, outs.healthCheck, deadline);
      const final = await settle(dir, replicas, SUPERVISOR_ANSWER_MS);
      if (!samePorts(checked, final)) await waitUntilHealthy(final, outs.healthCheck, remaining(deadline), () => crashLoop(dir));
    } catch (err) {
      const detail = failureDetail(dir, err);
      writeJsonAtomic(scalePath(dir), { replicas: current, ports: [] });
      await waitForInstances(dir, current, SUPERVISOR_ANSWER_MS).catch(() => undefined);
      throw new Error(detail);
    }
  } else if (replicas < current) {
    writeJsonAtomic(scalePath(dir), { replicas, ports: [] });
    await waitForInstances(dir, replicas, SUPERVISOR_ANSWER_MS);
    await terminate(status.instances.slice(replicas).map((i) => i.process).filter((p): p is ProcessIdentity => !!p), outs.drainTimeoutMs);
  }
  const now = readJson<FleetStatus>(statusPath(dir))!;
  return { ...outs, replicas, endpoints: now.instances.map((i) => `127.0.0.1:${i.port}`), instances: currentInstances(dir) };
}

async function waitForInstances(dir: string, replicas: number, timeoutMs: number): Promise<void> {
  const failed = () => new Error(`the fleet supervisor did not scale to ${replicas} instances: ${tail(path.join(dir, "supervisor.log"))}`);
  const scaled = await pollUntil(
    () => {
      const status = readJson<FleetStatus>(statusPath(dir));
      if (status?.instances.length === replicas) return true;
      if (!isAlive(status?.supervisor)) throw failed();
      return undefined;
    },
    { timeoutMs, intervalMs: 25 },
  );
  if (!scaled) throw failed();
}

/** Tells the supervisor to hold the first `count` ports still and returns every port once it has acknowledged. */
async function settle(dir: string, count: number, timeoutMs: number): Promise<number[]> {
  writeFileSync(settledPath(dir), String(count), { mode: 0o600 });
  const failed = () => new Error(`the fleet supervisor did not acknowledge the settled fleet: ${tail(path.join(dir, "supervisor.log"))}`);
  const ports = await pollUntil(
    () => {
      const status = readJson<FleetStatus>(statusPath(dir));
      if (status && (status.settledCount ?? 0) >= count && status.instances.length === count) return status.instances.map((i) => i.port);
      if (!isAlive(status?.supervisor)) throw failed();
      return undefined;
    },
    { timeoutMs, intervalMs: 25 },
  );
  if (!ports) throw failed();
  return ports;
}

function publishedPorts(dir: string): number[] {
  return (readJson<FleetStatus>(statusPath(dir))?.instances ?? []).map((i) => i.port);
}

const samePorts = (a: number[], b: number[]) => a.length === b.length && a.every((p, i) => p === b[i]);

const remaining = (deadline: number) => Math.max(0, deadline - Date.now());

function crashLoop(dir: string): string | undefined {
  const status = readJson<FleetStatus>(statusPath(dir));
  const looping = status?.instances.find((i) => i.restarts >= CRASH_LOOP_RESTARTS);
  return looping ? `instance ${looping.index} keeps exiting (${looping.lastExit})` : undefined;
}

function failureDetail(dir: string, err: unknown): string {
  const ports = publishedPorts(dir);
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
export function inspectFleet(dir: string): { supervisorAlive: boolean; liveInstances: ProcessIdentity[]; replicas?: number } {
  const status = readJson<FleetStatus>(statusPath(dir));
  return {
    supervisorAlive: isAlive(status?.supervisor),
    liveInstances: currentInstances(dir).filter(isAlive),
    replicas: status?.instances.length,
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

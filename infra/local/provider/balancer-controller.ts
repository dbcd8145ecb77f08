// Starts, reconfigures and stops the local load balancer (cutover-proxy).
// Weight changes rewrite its config and send SIGHUP: the listener stays up.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { cleanEnv } from "./clean-env";
import { atDataPlanePriority } from "./data-plane-priority";
import { readJson, writeJsonAtomic } from "./fleet-spec";
import { tail } from "./log-tail";
import { identify, isAlive, signal, terminate, type ProcessIdentity } from "./process-identity";
import { pollUntil } from "../../poll";
import { adminUrl, readAdminConfig } from "./balancer-admin";
import { maintenanceOf, type BalancerHealthCheck, type BalancerInputs, type BalancerMaintenance, type BalancerOutputs, type BalancerTls, type BoundPorts, type PoolInputs } from "./balancer-inputs";

export { maintenanceOf, type BalancerHealthCheck, type BalancerInputs, type BalancerMaintenance, type BalancerOutputs, type BalancerTls, type BoundPorts, type PoolInputs };

/** What the proxy's supervisor reports: bound addresses and the worker serving them. */
interface BalancerStatus {
  listen: string;
  admin: string;
  /** The plain HTTP redirect's address, with TLS's redirect. */
  redirect?: string;
  supervisorPid?: number;
  workerPid?: number;
  workerRestarts?: number;
}

/** The proxy's config file: the balancer's routing inputs at its listen and admin addresses. */
type ProxyConfig = Omit<BalancerInputs, "name" | "listenHost" | "listenPort" | "adminPort" | "runtimeDir"> & { listen: string; admin: string };

export function proxyBinary(): string {
  const bin = process.env.CUTOVER_PROXY_BIN;
  if (!bin) throw new Error("CUTOVER_PROXY_BIN is not set: run the setup script to build cutover-proxy");
  return bin;
}

const configPath = (dir: string) => path.join(dir, "config.json");
const processPath = (dir: string) => path.join(dir, "process.json");
const statusPath = (dir: string) => path.join(dir, "status.json");
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

/** The inputs on these ports: the ones a proxy holds, or is to take back. */
function onPorts(inputs: BalancerInputs, bound: BoundPorts): BalancerInputs {
  const tls = inputs.tls?.redirectListen && bound.redirectPort ? { ...inputs.tls, redirectListen: `${inputs.listenHost}:${bound.redirectPort}` } : inputs.tls;
  return { ...inputs, listenPort: bound.listenPort, adminPort: bound.adminPort, ...(tls ? { tls } : {}) };
}

function toConfig(inputs: BalancerInputs): ProxyConfig {
  return {
    listen: `${inputs.listenHost}:${inputs.listenPort}`,
    admin: `127.0.0.1:${inputs.adminPort}`,
    pools: inputs.pools,
    stickyHeader: inputs.stickyHeader,
    stickyCookie: inputs.stickyCookie,
    forceHeader: inputs.forceHeader,
    forceKey: inputs.forceKey,
    healthCheck: inputs.healthCheck,
    ...(inputs.maintenance ? { maintenance: inputs.maintenance } : {}),
    ...(inputs.tls ? { tls: inputs.tls } : {}),
    ...(inputs.holdWhenUnavailableMs ? { holdWhenUnavailableMs: inputs.holdWhenUnavailableMs } : {}),
    ...(inputs.dataPlane ? { dataPlane: inputs.dataPlane } : {}),
    ...(inputs.accessLog ? { accessLog: true } : {}),
    ...(inputs.upstreamTimeoutMs ? { upstreamTimeoutMs: inputs.upstreamTimeoutMs } : {}),
  };
}

/**
 * Starts the proxy. A proxy its directory still records (started by an
 * operation a crash cut short, so no stack knows it) is stopped first: it
 * would hold the port. `prefer` asks for the ports a previous proxy had.
 */
export async function startBalancer(inputs: BalancerInputs, prefer?: BoundPorts): Promise<BalancerOutputs> {
  const dir = path.join(inputs.runtimeDir, "balancers", inputs.name);
  await terminate(leftoverProcesses(dir), 10_000);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  rmSync(statusPath(dir), { force: true });
  const config = toConfig(prefer ? onPorts(inputs, prefer) : inputs);
  writeJsonAtomic(configPath(dir), config);
  const logFile = path.join(dir, "proxy.log");
  const log = openSync(logFile, "a");
  const proxy = atDataPlanePriority(proxyBinary(), ["-config", configPath(dir), "-status", statusPath(dir)]);
  const child = spawn(proxy.command, proxy.args, {
    detached: true,
    stdio: ["ignore", log, log],
    env: cleanEnv(),
  });
  closeSync(log);
  child.unref();
  const id = child.pid ? identify(child.pid) : undefined;
  try {
    if (!id) throw new Error("the proxy process did not start");
    writeJsonAtomic(processPath(dir), id);
    const status = await waitForStatus(dir, 10_000, () => isAlive(id));
    const bound: BoundPorts = { listenPort: portOf(status.listen), adminPort: portOf(status.admin), ...(status.redirect ? { redirectPort: portOf(status.redirect) } : {}) };
    await waitForConfig(bound.adminPort, config, 10_000, () => isAlive(id));
    return describe(inputs, dir, id, bound);
  } catch (err) {
    if (id) await terminate([id], 2000);
    throw new Error(`load balancer did not start on ${config.listen}: ${(err as Error).message}\n${tail(logFile)}`);
  }
}

function describe(inputs: BalancerInputs, dir: string, process: ProcessIdentity, bound: BoundPorts): BalancerOutputs {
  const redirect = inputs.tls?.redirectListen && bound.redirectPort ? bound.redirectPort : undefined;
  return {
    ...inputs,
    dir,
    process,
    url: `${inputs.tls ? "https" : "http"}://${inputs.listenHost}:${bound.listenPort}`,
    metricsUrl: `http://127.0.0.1:${bound.adminPort}/metrics`,
    boundListenPort: bound.listenPort,
    boundAdminPort: bound.adminPort,
    ...(redirect ? { redirectUrl: `http://${inputs.listenHost}:${redirect}`, boundRedirectPort: redirect } : {}),
  };
}

async function waitForStatus(dir: string, timeoutMs: number, alive: () => boolean): Promise<BalancerStatus> {
  const status = await pollUntil(
    () => {
      const found = readJson<BalancerStatus>(statusPath(dir));
      if (found) return found;
      if (!alive()) throw new Error("the proxy process exited");
      return undefined;
    },
    { timeoutMs, intervalMs: 25 },
  );
  if (!status) throw new Error("the proxy did not report its addresses in time");
  return status;
}

/**
 * The processes a balancer directory records: the supervisor, and the
 * worker serving its sockets, which outlives a supervisor killed alone.
 * The worker is recognised by its command line naming this directory's
 * config, so a recycled pid is never signalled.
 */
function leftoverProcesses(dir: string): ProcessIdentity[] {
  const ids: ProcessIdentity[] = [];
  const supervisor = readJson<ProcessIdentity>(processPath(dir));
  if (supervisor && isAlive(supervisor)) ids.push(supervisor);
  const workerPid = readJson<BalancerStatus>(statusPath(dir))?.workerPid;
  if (workerPid && commandLine(workerPid).includes(configPath(dir))) {
    const worker = identify(workerPid);
    if (worker) ids.push(worker);
  }
  return ids;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

/** Applies new pools in place, or restarts the proxy if its process is gone. */
export async function reconfigureBalancer(current: BalancerOutputs, inputs: BalancerInputs): Promise<BalancerOutputs> {
  const bound: BoundPorts = {
    listenPort: current.boundListenPort ?? current.listenPort,
    adminPort: current.boundAdminPort ?? current.adminPort,
    ...(current.boundRedirectPort ? { redirectPort: current.boundRedirectPort } : {}),
  };
  if (!isAlive(current.process)) return startBalancer(inputs, bound);
  const config = toConfig(onPorts(inputs, bound));
  writeJsonAtomic(configPath(current.dir), config);
  signal(current.process, "SIGHUP");
  await waitForConfig(bound.adminPort, config, 10_000, () => isAlive(current.process));
  return describe(inputs, current.dir, current.process, bound);
}

/**
 * Applies new pools to a running proxy directly, without the provider: the
 * config it reloads is rewritten and the proxy told, then its admin port is
 * polled until it serves the new routing. False when the directory records
 * no live proxy (then only the traffic stack's update can restart it).
 * `written` is called between the file's rewrite and the signal.
 */
export async function applyBalancerRouting(
  inputs: BalancerInputs,
  bound: BoundPorts,
  written: () => void = () => undefined,
): Promise<boolean> {
  const dir = path.join(inputs.runtimeDir, "balancers", inputs.name);
  const supervisor = readJson<ProcessIdentity>(processPath(dir));
  if (!supervisor || !isAlive(supervisor)) return false;
  const config = toConfig(onPorts(inputs, bound));
  writeJsonAtomic(configPath(dir), config);
  written();
  signal(supervisor, "SIGHUP");
  await waitForConfig(bound.adminPort, config, 10_000, () => isAlive(supervisor), 2);
  return true;
}

/** The routing the running proxy reports (its pools and weights), or undefined if it does not answer. */
export async function readBalancerRouting(outputs: BalancerOutputs): Promise<{ pools: Record<string, PoolInputs>; maintenance?: BalancerMaintenance } | undefined> {
  return readAdminConfig<ProxyConfig>(adminUrl(outputs.boundAdminPort ?? outputs.adminPort, "/config"), { timeoutMs: 1000 }).catch(() => undefined);
}


export async function stopBalancer(outputs: BalancerOutputs): Promise<void> {
  await stopBalancerDir(outputs.dir);
}

/** Stops whatever proxy a balancer directory records, and removes the directory. */
export async function stopBalancerDir(dir: string): Promise<void> {
  await terminate(leftoverProcesses(dir), 10_000);
  rmSync(dir, { recursive: true, force: true });
}

/** Polls the admin port until the proxy reports the expected routing. */
async function waitForConfig(adminPort: number, want: ProxyConfig, timeoutMs: number, alive: () => boolean, pollMs = 25) {
  const wanted = JSON.stringify([normalise(want.pools), maintenanceOf(want), settingsOf(want)]);
  const applied = await pollUntil(
    async () => {
      const got = await readAdminConfig<ProxyConfig>(adminUrl(adminPort, "/config"), { timeoutMs: 1000 }).catch(() => undefined);
      if (got && JSON.stringify([normalise(got.pools), maintenanceOf(got), settingsOf(got)]) === wanted) return true;
      if (!alive()) throw new Error("the proxy process exited");
      return undefined;
    },
    { timeoutMs, intervalMs: pollMs },
  );
  if (!applied) throw new Error("the proxy did not apply its configuration in time");
}

/** The settings a change may carry besides the pools, as the proxy shows them once they are in force (HAProxy: once the reloaded process serves). */
function settingsOf(c: ProxyConfig) {
  return [c.upstreamTimeoutMs ?? 0, c.holdWhenUnavailableMs ?? 0, c.accessLog ?? false, c.stickyHeader ?? "", c.stickyCookie ?? "", c.forceHeader ?? ""];
}

function normalise(pools: Record<string, PoolInputs>) {
  return Object.keys(pools)
    .sort()
    .map((k) => [k, pools[k].weight, [...(pools[k].endpoints ?? [])]]);
}

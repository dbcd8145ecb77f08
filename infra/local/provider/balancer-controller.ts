// Starts, reconfigures and stops the local load balancer (cutover-proxy).
// Weight changes rewrite its config and send SIGHUP: the listener stays up.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { cleanEnv } from "./clean-env";
import { readJson, writeJsonAtomic } from "./fleet-spec";
import { tail } from "./log-tail";
import { identify, isAlive, signal, terminate, type ProcessIdentity } from "./process-identity";

export interface PoolInputs {
  weight: number;
  endpoints: string[];
}

export interface BalancerInputs {
  name: string;
  listenHost: string;
  listenPort: number;
  adminPort: number;
  pools: Record<string, PoolInputs>;
  stickyHeader?: string;
  stickyCookie?: string;
  forceHeader: string;
  runtimeDir: string;
}

export interface BalancerOutputs extends BalancerInputs {
  dir: string;
  process: ProcessIdentity;
  url: string;
  metricsUrl: string;
}

interface ProxyConfig {
  listen: string;
  admin: string;
  pools: Record<string, PoolInputs>;
  stickyHeader?: string;
  stickyCookie?: string;
  forceHeader: string;
}

export function proxyBinary(): string {
  const bin = process.env.CUTOVER_PROXY_BIN;
  if (!bin) throw new Error("CUTOVER_PROXY_BIN is not set: run the setup script to build cutover-proxy");
  return bin;
}

const configPath = (dir: string) => path.join(dir, "config.json");
const processPath = (dir: string) => path.join(dir, "process.json");

function toConfig(inputs: BalancerInputs): ProxyConfig {
  return {
    listen: `${inputs.listenHost}:${inputs.listenPort}`,
    admin: `127.0.0.1:${inputs.adminPort}`,
    pools: inputs.pools,
    stickyHeader: inputs.stickyHeader,
    stickyCookie: inputs.stickyCookie,
    forceHeader: inputs.forceHeader,
  };
}

export async function startBalancer(inputs: BalancerInputs): Promise<BalancerOutputs> {
  const dir = path.join(inputs.runtimeDir, "balancers", inputs.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const config = toConfig(inputs);
  writeJsonAtomic(configPath(dir), config);
  const logFile = path.join(dir, "proxy.log");
  const log = openSync(logFile, "a");
  const child = spawn(proxyBinary(), ["-config", configPath(dir)], {
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
    await waitForConfig(inputs.adminPort, config, 10_000, () => isAlive(id));
  } catch (err) {
    if (id) await terminate([id], 2000);
    throw new Error(`load balancer did not start on ${config.listen}: ${(err as Error).message}\n${tail(logFile)}`);
  }
  return describe(inputs, dir, id);
}

function describe(inputs: BalancerInputs, dir: string, process: ProcessIdentity): BalancerOutputs {
  return {
    ...inputs,
    dir,
    process,
    url: `http://${inputs.listenHost}:${inputs.listenPort}`,
    metricsUrl: `http://127.0.0.1:${inputs.adminPort}/metrics`,
  };
}

/** Applies new pools in place, or restarts the proxy if its process is gone. */
export async function reconfigureBalancer(current: BalancerOutputs, inputs: BalancerInputs): Promise<BalancerOutputs> {
  if (!isAlive(current.process)) return startBalancer(inputs);
  const config = toConfig(inputs);
  writeJsonAtomic(configPath(current.dir), config);
  signal(current.process, "SIGHUP");
  await waitForConfig(inputs.adminPort, config, 10_000, () => isAlive(current.process));
  return describe(inputs, current.dir, current.process);
}

export function balancerAlive(outputs: BalancerOutputs): boolean {
  return isAlive(outputs.process);
}

export async function stopBalancer(outputs: BalancerOutputs): Promise<void> {
  await terminate([outputs.process], 10_000);
  rmSync(outputs.dir, { recursive: true, force: true });
}

/** Stops whatever proxy a balancer directory records, for directories no stack owns. */
export async function stopBalancerDir(dir: string): Promise<void> {
  const id = readJson<ProcessIdentity>(processPath(dir));
  if (id) await terminate([id], 10_000);
  rmSync(dir, { recursive: true, force: true });
}

/** Polls the admin port until the proxy reports the expected routing. */
async function waitForConfig(adminPort: number, want: ProxyConfig, timeoutMs: number, alive: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  const wantPools = JSON.stringify(normalise(want.pools));
  for (;;) {
    const got = await getJson<ProxyConfig>(adminPort, "/config").catch(() => undefined);
    if (got && JSON.stringify(normalise(got.pools)) === wantPools) return;
    if (!alive()) throw new Error("the proxy process exited");
    if (Date.now() > deadline) throw new Error("the proxy did not apply its configuration in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

function normalise(pools: Record<string, PoolInputs>) {
  return Object.keys(pools)
    .sort()
    .map((k) => [k, pools[k].weight, [...(pools[k].endpoints ?? [])]]);
}

function getJson<T>(port: number, p: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: p, timeout: 1000, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

// Runs Cutover for tests: a real server process (`node dist/server/main.js`)
// on a fresh data dir, with an API client bound to its admin token.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../../server/engine/toolchain";
import { request, type Reply } from "./http";
import { tempDir } from "./temp-dir";
import { waitFor } from "./wait-for";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

export interface RunningServer {
  url: string;
  dataDir: string;
  process: ChildProcess;
  log: string[];
  /** Resolves when the server process has exited (however it ended). */
  exited: Promise<void>;
  api(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<Reply & { json: any }>;
  /** Deletes every environment (fleets outlive the server by design), then stops the server. */
  stop(): Promise<void>;
  kill(): Promise<void>;
  /** SIGTERM, leaving environments in place (a graceful restart). */
  terminate(): Promise<void>;
}

/**
 * Starts a server and waits until it has recovered (`/healthz` 200), or
 * only until it listens with `waitReady: false` (a server that a fault
 * hook kills during recovery never gets ready). With `tokenFile` the
 * server makes its own admin token file, as on a first start, and the
 * client uses that token.
 */
export async function startServer(opts: { dataDir?: string; env?: Record<string, string>; waitReady?: boolean; tokenFile?: boolean } = {}): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? tempDir("server");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CUTOVER_PORT: "0",
    CUTOVER_DATA_DIR: dataDir,
    CUTOVER_ADMIN_TOKEN: ADMIN_TOKEN,
    CUTOVER_LOG_LEVEL: "info",
    ...opts.env,
  };
  if (opts.tokenFile) delete env.CUTOVER_ADMIN_TOKEN;
  const child = spawn(process.execPath, [path.join(projectRoot, "dist", "server", "main.js")], { env, stdio: ["ignore", "pipe", "pipe"] });
  const log: string[] = [];
  let url = "";
  const onLine = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
      log.push(line);
      try {
        const entry = JSON.parse(line);
        if (entry.msg === "cutover listening") url = entry.url;
      } catch {
        // not JSON
      }
    }
  };
  child.stdout!.on("data", onLine);
  child.stderr!.on("data", onLine);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const outcome = await waitFor("the server to listen", () => url || (child.exitCode !== null || child.signalCode !== null ? "exited" : ""), 20_000);
  if (outcome === "exited" && opts.waitReady !== false) throw new Error(`the server exited before listening:\n${log.join("\n")}`);
  if (opts.waitReady !== false && outcome !== "exited") {
    await waitFor(
      "recovery to finish",
      async () => (child.exitCode !== null ? Promise.reject(new Error(`server exited: ${log.slice(-5).join("\n")}`)) : (await request(`${url}/healthz`)).status === 200),
      120_000,
      100,
    );
  }
  const adminToken = opts.tokenFile && outcome !== "exited" ? readFileSync(path.join(dataDir, "admin-token"), "utf8").trim() : ADMIN_TOKEN;

  const server: RunningServer = {
    url,
    dataDir,
    process: child,
    log,
    exited,
    async api(method, p, body, headers = {}) {
      const reply = await request(`${url}${p}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      let json: unknown;
      try {
        json = reply.body ? JSON.parse(reply.body) : undefined;
      } catch {
        json = undefined;
      }
      return { ...reply, json };
    },
    async stop() {
      if (child.exitCode === null) {
        await deleteAllEnvironments(server).catch((err) => console.warn(`cleanup: ${err}`));
        child.kill("SIGTERM");
      }
      await exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
    async terminate() {
      child.kill("SIGTERM");
      await exited;
    },
  };
  return server;
}

export const TERMINAL = ["succeeded", "rolled_back", "failed", "cancelled"];

/** Waits for a deployment to reach a state (or any end, with "terminal"). */
export async function waitForDeployment(server: RunningServer, id: string, state: string | "terminal", timeoutMs = 120_000) {
  const d = await waitFor(
    `deployment ${id} to be ${state}`,
    async () => {
      const d = (await server.api("GET", `/v1/deployments/${id}`)).json;
      return d.state === state || TERMINAL.includes(d.state) ? d : undefined;
    },
    timeoutMs,
    100,
  );
  if (state !== "terminal" && d.state !== state) {
    throw new Error(`deployment ${id} ended ${d.state} instead of reaching ${state}: ${JSON.stringify(d.error)}`);
  }
  return d;
}

export async function waitForEnvironment(server: RunningServer, name: string, status: string, timeoutMs = 60_000) {
  const env = await waitFor(
    `environment ${name} to be ${status}`,
    async () => {
      const r = await server.api("GET", `/v1/environments/${name}`);
      return r.json?.status === status || r.json?.status === "failed" ? r.json : undefined;
    },
    timeoutMs,
    100,
  );
  if (env.status !== status) throw new Error(`environment ${name} is ${env.status}: ${JSON.stringify(env.error)}`);
  return env;
}

async function deleteAllEnvironments(server: RunningServer): Promise<void> {
  const { environments } = (await server.api("GET", "/v1/environments")).json as { environments: { name: string }[] };
  await Promise.all(environments.map((e) => server.api("DELETE", `/v1/environments/${e.name}`)));
  await waitFor("every environment to be deleted", async () => (await server.api("GET", "/v1/environments")).json.environments.length === 0, 180_000, 200).catch(
    async (err) => {
      const left = (await server.api("GET", "/v1/environments")).json.environments as { name: string; status: string; error?: unknown }[];
      throw new Error(`${String(err)}; left: ${JSON.stringify(left.map((e) => ({ name: e.name, status: e.status, error: e.error })))}`);
    },
  );
}

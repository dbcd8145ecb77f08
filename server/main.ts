// Starts the Cutover API: configuration from the environment, one server
// per data directory, recovery of interrupted work, then requests.
import "../infra/compile-cache";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { identify, isAlive, type ProcessIdentity } from "../infra/local/runtime";
import { loadConfig } from "./config";
import { createServices } from "./composition-root";
import { createLogger } from "./logger";

/** Within the 30 s a supervisor (systemd, Kubernetes) usually allows before SIGKILL. */
const SHUTDOWN_GRACE_MS = 25_000;

function claimDataDir(dataDir: string): void {
  const file = path.join(dataDir, "server.pid");
  if (existsSync(file)) {
    const holder = JSON.parse(readFileSync(file, "utf8")) as ProcessIdentity;
    if (holder.pid !== process.pid && isAlive(holder)) {
      throw new Error(`another Cutover server (pid ${holder.pid}) is using ${dataDir}`);
    }
  }
  writeFileSync(file, JSON.stringify(identify(process.pid)), { mode: 0o600 });
}

/** Everything Cutover writes (journal, state, tokens, runtime files) is for its own user only. */
function restrictDataDir(dataDir: string): void {
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  for (const file of readdirSync(dataDir)) {
    if (file.startsWith("cutover.db")) chmodSync(path.join(dataDir, file), 0o600);
  }
}

/**
 * Connections the kernel keeps waiting for the API to accept (capped by
 * net.core.somaxconn). Node's default, 511, fills in two seconds at a
 * portal's 250 connections a second if the API is starved that long; past
 * it the kernel drops new connections' SYNs and each client waits out
 * TCP's retransmission back-off (1, 3, 7, 15… seconds) however soon the
 * API is back.
 */
const LISTEN_BACKLOG = 4096;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  restrictDataDir(config.dataDir);
  claimDataDir(config.dataDir);
  const services = await createServices({ config, logger });
  if (services.adminTokenFile) {
    logger.info({ file: services.adminTokenFile }, "admin token is in this file (mode 0600); set CUTOVER_ADMIN_TOKEN to choose your own");
  }
  const server = services.app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    logger.info({ url: `http://${config.host}:${port}`, dataDir: config.dataDir }, "cutover listening");
  });
  server.on("error", (err) => {
    logger.fatal({ err }, "cannot listen");
    process.exit(1);
  });
  const startedAt = Date.now();
  services.start().then(
    () => logger.info({ seconds: (Date.now() - startedAt) / 1000 }, "recovery complete"),
    (err) => logger.error({ err }, "recovery failed"),
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: no new API calls; running deployments stop at a safe point; fleets and load balancers keep serving");
    server.close();
    server.closeAllConnections();
    services.shutdown(SHUTDOWN_GRACE_MS).then(
      (clean) => {
        logger.info({ clean }, clean ? "stopped" : "stopped before every deployment reached a safe point; the next start recovers them");
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err) => {
  process.stderr.write(`cutover: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

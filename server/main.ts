// Starts the Cutover API: configuration from the environment, one server
// per data directory, recovery of interrupted work, then requests.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { identify, isAlive, type ProcessIdentity } from "../infra/local/provider/process-identity";
import { loadConfig } from "./config";
import { createServices } from "./composition-root";
import { createLogger } from "./logger";

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

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  claimDataDir(config.dataDir);
  const services = createServices({ config, logger });
  if (services.adminTokenFile) {
    logger.info({ file: services.adminTokenFile }, "admin token is in this file (mode 0600); set CUTOVER_ADMIN_TOKEN to choose your own");
  }
  const server = services.app.listen(config.port, config.host, () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    logger.info({ url: `http://${config.host}:${port}`, dataDir: config.dataDir }, "cutover listening");
  });
  server.on("error", (err) => {
    logger.fatal({ err }, "cannot listen");
    process.exit(1);
  });
  services.recover().then(
    () => logger.info("recovery complete"),
    (err) => logger.error({ err }, "recovery failed"),
  );
  const shutdown = (signal: string) => {
    logger.info({ signal }, "shutting down; fleets and load balancers keep serving");
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err) => {
  process.stderr.write(`cutover: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

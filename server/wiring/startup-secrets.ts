// What the service needs before anything is wired: the state passphrase
// and the admin token (the operator's, or generated on first start and
// kept 0600 in the data directory), and this process's CPU priority.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TokenService } from "../auth/token-service";
import type { Config } from "../config";

/** The state passphrase: the operator's, or one generated on first start and kept 0600. */
export function statePassphrase(config: Config): string {
  if (config.pulumiPassphrase) return config.pulumiPassphrase;
  const file = path.join(config.dataDir, "pulumi-passphrase");
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  return readFileSync(file, "utf8").trim();
}

/** The admin token: the operator's, or the one generated on first start (with the file that holds it). */
export function adminToken(config: Config): { token: string; file?: string } {
  if (config.adminToken) return { token: config.adminToken };
  const boot = TokenService.bootstrapAdminToken(config.dataDir);
  return { token: boot.token, file: boot.file };
}

/** This process's CPU priority (nice): the local target's fleets and balancers run at it, not at the engine's. */
export function ownNiceness(): number {
  try {
    return os.getPriority();
  } catch {
    return 0;
  }
}

// Authentication and authorization: bearer tokens with a role and an
// optional environment scope. Tokens are random, shown once, stored hashed.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AuthenticationError, ForbiddenError, NotFoundError } from "../errors";
import type { Role, TokenRecord, TokenStore } from "../store/token-store";

export interface Principal {
  id: string;
  name: string;
  role: Role;
  environments?: string[];
}

const RANK: Record<Role, number> = { viewer: 0, deployer: 1, admin: 2 };
const hash = (token: string) => createHash("sha256").update(token).digest("hex");
const newToken = () => `cut_${randomBytes(24).toString("base64url")}`;

export class TokenService {
  private readonly adminHash?: Buffer;

  constructor(
    private readonly store: TokenStore,
    adminToken: string | undefined,
  ) {
    if (adminToken) this.adminHash = Buffer.from(hash(adminToken), "hex");
  }

  /**
   * The embedded default: with no CUTOVER_ADMIN_TOKEN, an admin token is
   * made on first start and kept 0600 in the data dir. Returns its path.
   */
  static bootstrapAdminToken(dataDir: string): { token: string; file: string; created: boolean } {
    const file = path.join(dataDir, "admin-token");
    if (existsSync(file)) return { token: readFileSync(file, "utf8").trim(), file, created: false };
    const token = newToken();
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
    return { token, file, created: true };
  }

  authenticate(header: string | undefined): Principal {
    if (!header) throw new AuthenticationError("unauthenticated", "send an API token as `Authorization: Bearer <token>`");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new AuthenticationError("invalid_authorization", "the Authorization header must be `Bearer <token>`");
    const digest = hash(match[1]);
    if (this.adminHash && timingSafeEqual(this.adminHash, Buffer.from(digest, "hex"))) {
      return { id: "admin", name: "admin", role: "admin" };
    }
    const record = this.store.byHash(digest);
    if (!record) throw new AuthenticationError("invalid_token", "the API token is not valid (unknown or revoked)");
    return { id: record.id, name: record.name, role: record.role, environments: record.environments };
  }

  /** Throws unless the principal holds at least `role`, and, for an environment, has it in scope. */
  authorize(principal: Principal, role: Role, environment?: string): void {
    if (RANK[principal.role] < RANK[role]) {
      throw new ForbiddenError("insufficient_role", `this needs the ${role} role; the token has ${principal.role}`, {
        required: role,
        actual: principal.role,
      });
    }
    if (environment !== undefined && !inScope(principal, environment)) {
      throw new ForbiddenError("environment_out_of_scope", `the token is not allowed to act on environment ${environment}`, {
        environment,
      });
    }
  }

  canSee(principal: Principal, environment: string): boolean {
    return inScope(principal, environment);
  }

  create(input: { name: string; role: Role; environments?: string[] }): { token: string; record: TokenRecord } {
    const token = newToken();
    const record: TokenRecord = {
      id: `tok_${randomBytes(8).toString("hex")}`,
      name: input.name,
      role: input.role,
      environments: input.environments,
      createdAt: new Date().toISOString(),
    };
    this.store.insert(record, hash(token));
    return { token, record };
  }

  list(): TokenRecord[] {
    return this.store.list();
  }

  revoke(id: string): void {
    if (!this.store.revoke(id)) throw new NotFoundError("token_not_found", `no active token ${id}`);
  }
}

function inScope(principal: Principal, environment: string): boolean {
  if (!principal.environments) return true;
  return principal.environments.some((p) => (p.endsWith("*") ? environment.startsWith(p.slice(0, -1)) : p === environment));
}

// Authentication and authorization: bearer tokens with a role and an
// optional environment scope. Tokens are random, shown once, stored hashed.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AuthenticationError, ForbiddenError, NotFoundError } from "../errors";

/** viewer < deployer < approver < admin; `metrics` may only scrape /metrics, `flags-reader` only evaluate flags. */
export type Role = "viewer" | "deployer" | "approver" | "admin" | "metrics" | "flags-reader";

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  /** Environment names or `prefix-*` patterns the token is limited to; absent means all. */
  environments?: string[];
  /** Who holds the token (e.g. an email): four eyes compare people, across tokens, chat identities and schedules. */
  person?: string;
  createdAt: string;
  revokedAt?: string;
}

/** Where tokens are kept: only their hashes. */
export interface TokenRepository {
  insert(t: TokenRecord, hash: string): Promise<void>;
  byHash(hash: string): Promise<TokenRecord | undefined>;
  list(): Promise<TokenRecord[]>;
  revoke(id: string): Promise<boolean>;
}

export interface Principal {
  id: string;
  name: string;
  role: Role;
  environments?: string[];
  person?: string;
}

// `metrics` and `flags-reader` sit outside the ladder: each grants one thing and nothing else.
const RANK: Record<Role, number> = { metrics: -1, "flags-reader": -1, viewer: 0, deployer: 1, approver: 2, admin: 3 };
/** How long a token, once looked up, is trusted without asking the store again (revocation here drops it at once). */
const PRINCIPAL_TTL_MS = 5000;
const ADMIN: Principal = { id: "admin", name: "admin", role: "admin", person: "admin" };
const principalOfRecord = (r: TokenRecord): Principal => ({
  id: r.id,
  name: r.name,
  role: r.role,
  ...(r.environments ? { environments: r.environments } : {}),
  ...(r.person ? { person: r.person } : {}),
});
const hash = (token: string) => createHash("sha256").update(token).digest("hex");
const newToken = () => `cut_${randomBytes(24).toString("base64url")}`;

export class TokenService {
  private readonly adminHash?: Buffer;
  /** Looked-up tokens by hash, so a hot endpoint (flag evaluation) does no store read per request. */
  private readonly recent = new Map<string, { record: TokenRecord; until: number }>();

  constructor(
    private readonly store: TokenRepository,
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

  async authenticate(header: string | undefined): Promise<Principal> {
    if (!header) throw new AuthenticationError("unauthenticated", "send an API token as `Authorization: Bearer <token>`");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new AuthenticationError("invalid_authorization", "the Authorization header must be `Bearer <token>`");
    const digest = hash(match[1]);
    if (this.adminHash && timingSafeEqual(this.adminHash, Buffer.from(digest, "hex"))) {
      return ADMIN;
    }
    const cached = this.recent.get(digest);
    let record = cached && cached.until > Date.now() ? cached.record : undefined;
    if (!record) {
      record = await this.store.byHash(digest);
      if (!record) throw new AuthenticationError("invalid_token", "the API token is not valid (unknown or revoked)");
      if (this.recent.size >= 10_000) this.recent.clear();
      this.recent.set(digest, { record, until: Date.now() + PRINCIPAL_TTL_MS });
    }
    return principalOfRecord(record);
  }

  /** The principal a token id stands for now (a schedule acts as its creator); undefined once revoked. */
  async principalById(id: string): Promise<Principal | undefined> {
    if (id === ADMIN.id) return this.adminHash ? ADMIN : undefined;
    const record = (await this.store.list()).find((t) => t.id === id && !t.revokedAt);
    return record && principalOfRecord(record);
  }

  /** Throws unless the principal holds at least `role`, and, for an environment, has it in scope. */
  authorize(principal: Principal, role: Role, environment?: string): void {
    if (role === "metrics") return this.authorizeMetrics(principal);
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

  /** /metrics names every environment: a `metrics` token or an unscoped admin may read it. */
  private authorizeMetrics(principal: Principal): void {
    if (principal.role === "metrics" || (principal.role === "admin" && !principal.environments)) return;
    throw new ForbiddenError("insufficient_role", "/metrics needs a token with the metrics role (or an unscoped admin token)", {
      required: "metrics",
      actual: principal.role,
    });
  }

  /** Flag evaluation: a `flags-reader` token, or any token that may read the environment. */
  authorizeFlagReads(principal: Principal, environment: string): void {
    if (principal.role === "metrics") {
      throw new ForbiddenError("insufficient_role", "evaluating flags needs a flags-reader token (or viewer and above)", { required: "flags-reader", actual: principal.role });
    }
    if (!inScope(principal, environment)) {
      throw new ForbiddenError("environment_out_of_scope", `the token is not allowed to read flags of environment ${environment}`, { environment });
    }
  }

  canSee(principal: Principal, environment: string): boolean {
    return inScope(principal, environment);
  }

  /**
   * Mints a token for `creator`: its role may be at most the creator's and
   * its scope a subset of the creator's, so a scoped admin cannot widen its
   * own reach through a token it makes.
   */
  async create(creator: Principal, input: { name: string; role: Role; environments?: string[]; person?: string }): Promise<{ token: string; record: TokenRecord }> {
    this.checkMintable(creator, input);
    const token = newToken();
    const record: TokenRecord = {
      id: `tok_${randomBytes(8).toString("hex")}`,
      name: input.name,
      role: input.role,
      environments: input.environments,
      ...(input.person ? { person: input.person } : {}),
      createdAt: new Date().toISOString(),
    };
    await this.store.insert(record, hash(token));
    return { token, record };
  }

  /** The tokens within the caller's reach (all of them for an unscoped admin). */
  async list(caller: Principal): Promise<TokenRecord[]> {
    return (await this.store.list()).filter((t) => covers(caller, t.environments));
  }

  async revoke(caller: Principal, id: string): Promise<void> {
    const record = (await this.store.list()).find((t) => t.id === id && !t.revokedAt);
    if (!record || !covers(caller, record.environments) || !(await this.store.revoke(id))) {
      throw new NotFoundError("token_not_found", `no active token ${id}`, { token: id });
    }
    for (const [digest, entry] of this.recent) if (entry.record.id === id) this.recent.delete(digest);
  }

  /** Whether every environment of a scope lies within the principal's (an unscoped principal covers all). */
  covers(principal: Principal, scope: string[] | undefined): boolean {
    return covers(principal, scope);
  }

  /** Throws unless `creator` may grant this role and scope (to a token or a chat identity). */
  assertMintable(creator: Principal, input: { role: Role; environments?: string[] }): void {
    this.checkMintable(creator, input);
  }

  private checkMintable(creator: Principal, input: { role: Role; environments?: string[] }): void {
    const roleOk = input.role === "metrics" ? creator.role === "admin" && !creator.environments : RANK[input.role] <= RANK[creator.role];
    if (!roleOk) {
      throw new ForbiddenError("token_role_exceeds_own", `a ${creator.role} token cannot create a ${input.role} token`, {
        requested: input.role,
        own: creator.role,
      });
    }
    if (!covers(creator, input.environments)) {
      throw new ForbiddenError("token_scope_exceeds_own", "a token's environments must lie within the scope of the token that creates it", {
        requested: input.environments ?? "all",
        own: creator.environments,
      });
    }
  }
}

/** Whether every environment a scope names (all, when absent) lies within the principal's scope. */
function covers(principal: Principal, scope: string[] | undefined): boolean {
  if (!principal.environments) return true;
  if (!scope) return false;
  return scope.every((p) =>
    principal.environments!.some((own) => (own.endsWith("*") ? p.startsWith(own.slice(0, -1)) : !p.endsWith("*") && p === own)),
  );
}

function inScope(principal: Principal, environment: string): boolean {
  if (!principal.environments) return true;
  return principal.environments.some((p) => (p.endsWith("*") ? environment.startsWith(p.slice(0, -1)) : p === environment));
}

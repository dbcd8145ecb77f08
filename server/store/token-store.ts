// API tokens: only a SHA-256 hash of each token is stored.
import type { Db } from "./database";

/** viewer < deployer < admin; `metrics` may only scrape /metrics. */
export type Role = "viewer" | "deployer" | "admin" | "metrics";

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  /** Environment names or `prefix-*` patterns the token is limited to; absent means all. */
  environments?: string[];
  createdAt: string;
  revokedAt?: string;
}

interface Row {
  id: string;
  name: string;
  role: string;
  environments: string | null;
  created_at: string;
  revoked_at: string | null;
}

const fromRow = (r: Row): TokenRecord => ({
  id: r.id,
  name: r.name,
  role: r.role as Role,
  environments: r.environments ? JSON.parse(r.environments) : undefined,
  createdAt: r.created_at,
  revokedAt: r.revoked_at ?? undefined,
});

export class TokenStore {
  constructor(private readonly db: Db) {}

  insert(t: TokenRecord, hash: string): void {
    this.db
      .prepare("INSERT INTO tokens (id, name, hash, role, environments, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(t.id, t.name, hash, t.role, t.environments ? JSON.stringify(t.environments) : null, t.createdAt);
  }

  byHash(hash: string): TokenRecord | undefined {
    const row = this.db.prepare("SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL").get(hash) as Row | undefined;
    return row && fromRow(row);
  }

  list(): TokenRecord[] {
    return (this.db.prepare("SELECT * FROM tokens ORDER BY created_at").all() as Row[]).map(fromRow);
  }

  revoke(id: string): boolean {
    return this.db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(new Date().toISOString(), id).changes === 1;
  }
}

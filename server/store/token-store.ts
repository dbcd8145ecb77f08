// API tokens: only a SHA-256 hash of each token is stored.
import type { Selectable } from "kysely";
import type { TokenRecord, TokenRepository, Role } from "../auth/token-service";
import type { JournalDb } from "./database";
import type { TokensTable } from "./schema";

const fromRow = (r: Selectable<TokensTable>): TokenRecord => ({
  id: r.id,
  name: r.name,
  role: r.role as Role,
  environments: r.environments ? JSON.parse(r.environments) : undefined,
  ...(r.person ? { person: r.person } : {}),
  createdAt: r.created_at,
  revokedAt: r.revoked_at ?? undefined,
});

export class TokenStore implements TokenRepository {
  constructor(private readonly db: JournalDb) {}

  async insert(t: TokenRecord, hash: string): Promise<void> {
    await this.db
      .insertInto("tokens")
      .values({ id: t.id, name: t.name, hash, role: t.role, environments: t.environments ? JSON.stringify(t.environments) : null, created_at: t.createdAt, revoked_at: null, person: t.person ?? null })
      .execute();
  }

  async byHash(hash: string): Promise<TokenRecord | undefined> {
    const row = await this.db.selectFrom("tokens").selectAll().where("hash", "=", hash).where("revoked_at", "is", null).executeTakeFirst();
    return row && fromRow(row);
  }

  async list(): Promise<TokenRecord[]> {
    return (await this.db.selectFrom("tokens").selectAll().orderBy("created_at").execute()).map(fromRow);
  }

  async revoke(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable("tokens")
      .set({ revoked_at: new Date().toISOString() })
      .where("id", "=", id)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}

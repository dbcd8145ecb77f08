// Environment leases in the journal. Expiry is judged by the database's
// clock on Postgres, so replicas on different machines agree on it.
import { sql, type Transaction } from "kysely";
import { currentFence, FencedOffError } from "../deployments/fencing";
import type { Lease, LeaseRepository } from "../deployments/ports";
import type { JournalDb } from "./database";
import type { Dialect, JournalSchema } from "./schema";

export class LeaseStore implements LeaseRepository {
  constructor(
    private readonly db: JournalDb,
    private readonly dialect: Dialect,
  ) {}

  private now() {
    return this.dialect === "postgres" ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint` : sql<number>`${Date.now()}`;
  }

  async acquire(environment: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    const expires = sql<number>`${this.now()} + ${ttlMs}`;
    const row = await this.db
      .insertInto("leases")
      .values({ environment, holder, token: 1, expires_at: expires })
      .onConflict((oc) =>
        oc
          .column("environment")
          .doUpdateSet({ holder, token: sql<number>`leases.token + 1`, expires_at: expires })
          .where((eb) => eb.or([eb("leases.expires_at", "<", this.now()), eb("leases.holder", "=", holder)])),
      )
      .returning(["environment", "holder", "token"])
      .executeTakeFirst();
    return row && { environment: row.environment, holder: row.holder, token: Number(row.token) };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const result = await this.db
      .updateTable("leases")
      .set({ expires_at: sql<number>`${this.now()} + ${ttlMs}` })
      .where("environment", "=", lease.environment)
      .where("holder", "=", lease.holder)
      .where("token", "=", lease.token)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async release(lease: Lease): Promise<void> {
    await this.db
      .updateTable("leases")
      .set({ expires_at: 0 })
      .where("environment", "=", lease.environment)
      .where("holder", "=", lease.holder)
      .where("token", "=", lease.token)
      .execute();
  }

  async current(environment: string): Promise<(Lease & { expiresAt: number }) | undefined> {
    const row = await this.db.selectFrom("leases").selectAll().where("environment", "=", environment).executeTakeFirst();
    return row && { environment: row.environment, holder: row.holder, token: Number(row.token), expiresAt: Number(row.expires_at) };
  }
}

/**
 * Runs a journal write of `environment`'s records; inside fenced work it
 * first checks, in the same transaction, that the lease still carries the
 * work's token (holding the lease row shared on Postgres, so a takeover
 * waits for the write to commit).
 */
export async function fencedWrite<T>(db: JournalDb, dialect: Dialect, environment: string, write: (trx: Transaction<JournalSchema>) => Promise<T>): Promise<T> {
  const fence = currentFence();
  if (!fence || fence.environment !== environment) return db.transaction().execute(write);
  return db.transaction().execute(async (trx) => {
    const lease = await trx
      .selectFrom("leases")
      .select("token")
      .where("environment", "=", environment)
      .$if(dialect === "postgres", (q) => q.forShare())
      .executeTakeFirst();
    if (!lease || Number(lease.token) !== fence.token) throw new FencedOffError(fence);
    return write(trx);
  });
}

// Stored responses to POSTs made with an Idempotency-Key, per principal.
// The primary key makes a key unique across every replica sharing the journal.
import type { IdempotencyRepository, StoredResponse } from "../http/idempotency";
import type { JournalDb } from "./database";

export class IdempotencyStore implements IdempotencyRepository {
  constructor(private readonly db: JournalDb) {}

  async claim(principal: string, key: string, r: { method: string; path: string; requestHash: string }): Promise<boolean> {
    const result = await this.db
      .insertInto("idempotency_keys")
      .values({ principal, key, method: r.method, path: r.path, request_hash: r.requestHash, status: 0, body: "null", created_at: new Date().toISOString() })
      .onConflict((oc) => oc.columns(["principal", "key"]).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async get(principal: string, key: string): Promise<StoredResponse | undefined> {
    const row = await this.db
      .selectFrom("idempotency_keys")
      .select(["method", "path", "request_hash", "status", "body", "created_at"])
      .where("principal", "=", principal)
      .where("key", "=", key)
      .executeTakeFirst();
    return (
      row && { method: row.method, path: row.path, requestHash: row.request_hash, status: Number(row.status), body: JSON.parse(row.body), createdAt: row.created_at }
    );
  }

  async complete(principal: string, key: string, r: { status: number; body: unknown }): Promise<void> {
    await this.db
      .updateTable("idempotency_keys")
      .set({ status: r.status, body: JSON.stringify(r.body) })
      .where("principal", "=", principal)
      .where("key", "=", key)
      .execute();
  }

  async release(principal: string, key: string): Promise<void> {
    await this.db.deleteFrom("idempotency_keys").where("principal", "=", principal).where("key", "=", key).where("status", "=", 0).execute();
  }

  /** Keys older than the retention window are forgotten. */
  async prune(olderThan: Date): Promise<void> {
    await this.db.deleteFrom("idempotency_keys").where("created_at", "<", olderThan.toISOString()).execute();
  }
}

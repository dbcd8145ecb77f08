// Stored responses to POSTs made with an Idempotency-Key, per principal.
import type { Db } from "./database";

export interface StoredResponse {
  method: string;
  path: string;
  requestHash: string;
  status: number;
  body: unknown;
}

export class IdempotencyStore {
  constructor(private readonly db: Db) {}

  get(principal: string, key: string): StoredResponse | undefined {
    const row = this.db
      .prepare("SELECT method, path, request_hash, status, body FROM idempotency_keys WHERE principal = ? AND key = ?")
      .get(principal, key) as { method: string; path: string; request_hash: string; status: number; body: string } | undefined;
    return row && { method: row.method, path: row.path, requestHash: row.request_hash, status: row.status, body: JSON.parse(row.body) };
  }

  put(principal: string, key: string, r: StoredResponse): void {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO idempotency_keys (principal, key, method, path, request_hash, status, body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(principal, key, r.method, r.path, r.requestHash, r.status, JSON.stringify(r.body), new Date().toISOString());
  }

  /** Keys older than the retention window are forgotten. */
  prune(olderThan: Date): void {
    this.db.prepare("DELETE FROM idempotency_keys WHERE created_at < ?").run(olderThan.toISOString());
  }
}

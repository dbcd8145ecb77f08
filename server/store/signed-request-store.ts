// Signed chat requests already acted on, shared by every replica: the
// first to record a request's key acts on it, a replay within the
// signature's validity finds the key and acts on nothing.
import { createHash } from "node:crypto";
import type { ReplayGuard } from "../chatops/ports";
import type { JournalDb } from "./database";

/** Keys outlive the five minutes a Slack signature is accepted for, with room for clock skew. */
const KEEP_MS = 15 * 60_000;

export class SignedRequestStore implements ReplayGuard {
  private lastPrune = 0;

  constructor(private readonly db: JournalDb) {}

  async firstSeen(keys: string[]): Promise<boolean> {
    await this.prune();
    const now = new Date().toISOString();
    let first = true;
    // Every key is recorded (a signature and a trigger id each catch a replay on their own).
    for (const key of keys) {
      const digest = createHash("sha256").update(key).digest("hex");
      const result = await this.db
        .insertInto("signed_requests")
        .values({ key: digest, seen_at: now })
        .onConflict((oc) => oc.column("key").doNothing())
        .executeTakeFirst();
      if (Number(result.numInsertedOrUpdatedRows ?? 0) !== 1) first = false;
    }
    return first;
  }

  private async prune(): Promise<void> {
    if (Date.now() - this.lastPrune < 60_000) return;
    this.lastPrune = Date.now();
    await this.db.deleteFrom("signed_requests").where("seen_at", "<", new Date(Date.now() - KEEP_MS).toISOString()).execute();
  }
}

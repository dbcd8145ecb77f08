// Flags and their history. On Postgres every change is announced on the
// cutover_flags channel in the same transaction, so each replica drops its
// cached copy of that environment's flags as soon as the change commits.
import type { Selectable } from "kysely";
import type { Flag, FlagChange } from "../flags/flag-model";
import type { FlagRepository } from "../flags/ports";
import type { JournalDb } from "./database";
import { sql } from "./migrations";
import type { Dialect, FlagHistoryTable } from "./schema";

export const FLAGS_CHANNEL = "cutover_flags";

const changeFromRow = (r: Selectable<FlagHistoryTable>): FlagChange => ({
  id: Number(r.id),
  environment: r.environment,
  key: r.key,
  version: r.version,
  action: r.action as FlagChange["action"],
  actor: JSON.parse(r.actor),
  at: r.at,
  changed: JSON.parse(r.changed),
  ...(r.flag ? { flag: JSON.parse(r.flag) as Flag } : {}),
  ...(r.reason ? { reason: r.reason } : {}),
});

export class FlagStore implements FlagRepository {
  constructor(
    private readonly db: JournalDb,
    private readonly dialect: Dialect,
  ) {}

  async list(environment: string): Promise<Flag[]> {
    const rows = await this.db.selectFrom("flags").select("body").where("environment", "=", environment).orderBy("key").execute();
    return rows.map((r) => JSON.parse(r.body) as Flag);
  }

  async get(environment: string, key: string): Promise<Flag | undefined> {
    const row = await this.db.selectFrom("flags").select("body").where("environment", "=", environment).where("key", "=", key).executeTakeFirst();
    return row ? (JSON.parse(row.body) as Flag) : undefined;
  }

  async save(flag: Flag, change: Omit<FlagChange, "id">, expectedVersion: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const values = { body: JSON.stringify(flag), version: flag.version, updated_at: flag.updatedAt };
      if (expectedVersion === 0) {
        const inserted = await trx
          .insertInto("flags")
          .values({ environment: flag.environment, key: flag.key, ...values })
          .onConflict((oc) => oc.columns(["environment", "key"]).doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return false;
      } else {
        const updated = await trx
          .updateTable("flags")
          .set(values)
          .where("environment", "=", flag.environment)
          .where("key", "=", flag.key)
          .where("version", "=", expectedVersion)
          .executeTakeFirst();
        if (Number(updated.numUpdatedRows) === 0) return false;
      }
      await this.record(trx, change);
      return true;
    });
  }

  async remove(environment: string, key: string, change: Omit<FlagChange, "id">, expectedVersion: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const deleted = await trx.deleteFrom("flags").where("environment", "=", environment).where("key", "=", key).where("version", "=", expectedVersion).executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0) return false;
      await this.record(trx, change);
      return true;
    });
  }

  async history(environment: string, key: string, limit: number): Promise<FlagChange[]> {
    const rows = await this.db
      .selectFrom("flag_history")
      .selectAll()
      .where("environment", "=", environment)
      .where("key", "=", key)
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map(changeFromRow);
  }

  private async record(trx: JournalDb, change: Omit<FlagChange, "id">): Promise<void> {
    await trx
      .insertInto("flag_history")
      .values({
        environment: change.environment,
        key: change.key,
        version: change.version,
        action: change.action,
        actor: JSON.stringify(change.actor),
        changed: JSON.stringify(change.changed),
        flag: change.flag ? JSON.stringify(change.flag) : null,
        reason: change.reason ?? null,
        at: change.at,
      })
      .execute();
    if (this.dialect === "postgres") await sql`select pg_notify(${FLAGS_CHANNEL}, ${change.environment})`.execute(trx);
  }
}

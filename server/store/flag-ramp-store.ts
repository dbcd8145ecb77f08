// Flag ramps: one row each, the ramp as a JSON document beside the state
// and due time the runners claim by. A claim is taken only if nobody took
// it since the row was read, so one replica takes each step.
import type { FlagRamp } from "../flags/flag-ramp";
import type { FlagRampRepository } from "../flags/flag-ramp-ports";
import type { JournalDb } from "./database";

export class FlagRampStore implements FlagRampRepository {
  constructor(private readonly db: JournalDb) {}

  async insert(ramp: FlagRamp, dueAt: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const open = await trx
        .selectFrom("flag_ramps")
        .select("id")
        .where("environment", "=", ramp.environment)
        .where("key", "=", ramp.key)
        .where("state", "in", ["running", "paused"])
        .executeTakeFirst();
      if (open) return false;
      await trx
        .insertInto("flag_ramps")
        .values({ id: ramp.id, environment: ramp.environment, key: ramp.key, body: JSON.stringify(ramp), state: ramp.state, due_at: dueAt, claimed_by: null, claimed_until: null, created_at: ramp.createdAt })
        .execute();
      return true;
    });
  }

  async get(id: string): Promise<FlagRamp | undefined> {
    const row = await this.db.selectFrom("flag_ramps").select("body").where("id", "=", id).executeTakeFirst();
    return row ? (JSON.parse(row.body) as FlagRamp) : undefined;
  }

  async list(environment: string, key: string): Promise<FlagRamp[]> {
    const rows = await this.db.selectFrom("flag_ramps").select("body").where("environment", "=", environment).where("key", "=", key).orderBy("created_at", "desc").execute();
    return rows.map((r) => JSON.parse(r.body) as FlagRamp);
  }

  async claimDue(now: Date, until: Date, claimer: string): Promise<FlagRamp | undefined> {
    const at = now.toISOString();
    const due = await this.db
      .selectFrom("flag_ramps")
      .select(["id", "body", "claimed_until"])
      .where("state", "=", "running")
      .where("due_at", "<=", at)
      .where((eb) => eb.or([eb("claimed_until", "is", null), eb("claimed_until", "<", at)]))
      .orderBy("due_at")
      .limit(5)
      .execute();
    for (const row of due) {
      const result = await this.db
        .updateTable("flag_ramps")
        .set({ claimed_by: claimer, claimed_until: until.toISOString() })
        .where("id", "=", row.id)
        .where((eb) => (row.claimed_until === null ? eb("claimed_until", "is", null) : eb("claimed_until", "=", row.claimed_until)))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) return JSON.parse(row.body) as FlagRamp;
    }
    return undefined;
  }

  async save(ramp: FlagRamp, dueAt: string | null, claimer: string): Promise<boolean> {
    const result = await this.db
      .updateTable("flag_ramps")
      .set({ body: JSON.stringify(ramp), state: ramp.state, due_at: dueAt, claimed_by: null, claimed_until: null })
      .where("id", "=", ramp.id)
      .where("claimed_by", "=", claimer)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async claim(id: string, now: Date, until: Date, claimer: string): Promise<{ ramp: FlagRamp; dueAt: string | null } | undefined> {
    const at = now.toISOString();
    const result = await this.db
      .updateTable("flag_ramps")
      .set({ claimed_by: claimer, claimed_until: until.toISOString() })
      .where("id", "=", id)
      .where((eb) => eb.or([eb("claimed_until", "is", null), eb("claimed_until", "<", at)]))
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return undefined;
    const row = await this.db.selectFrom("flag_ramps").select(["body", "due_at"]).where("id", "=", id).executeTakeFirstOrThrow();
    return { ramp: JSON.parse(row.body) as FlagRamp, dueAt: row.due_at };
  }
}

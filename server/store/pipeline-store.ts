// Pipelines in the journal: declared (and replaced) whole.
import type { Hold, Pipeline } from "../releases/pipeline";
import type { AnnouncementRepository, PipelineRepository } from "../releases/ports";
import type { JournalDb } from "./database";

export class PipelineStore implements PipelineRepository {
  constructor(private readonly db: JournalDb) {}

  async put(p: Pipeline): Promise<boolean> {
    const body = JSON.stringify(p);
    const inserted = await this.db
      .insertInto("pipelines")
      .values({ name: p.name, body, updated_at: p.updatedAt })
      .onConflict((oc) => oc.column("name").doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return true;
    await this.db.updateTable("pipelines").set({ body, updated_at: p.updatedAt }).where("name", "=", p.name).execute();
    return false;
  }

  async get(name: string): Promise<Pipeline | undefined> {
    const row = await this.db.selectFrom("pipelines").select("body").where("name", "=", name).executeTakeFirst();
    return row && (JSON.parse(row.body) as Pipeline);
  }

  async list(): Promise<Pipeline[]> {
    return (await this.db.selectFrom("pipelines").select("body").orderBy("name").execute()).map((r) => JSON.parse(r.body) as Pipeline);
  }

  async setHold(name: string, stage: string, hold: Hold | undefined): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom("pipelines").select("body").where("name", "=", name).executeTakeFirst();
      if (!row) return;
      const p = JSON.parse(row.body) as Pipeline;
      const holds = { ...p.holds };
      if (hold) holds[stage] = hold;
      else delete holds[stage];
      const next: Pipeline = { ...p, ...(Object.keys(holds).length ? { holds } : {}) };
      if (!Object.keys(holds).length) delete next.holds;
      await tx.updateTable("pipelines").set({ body: JSON.stringify(next) }).where("name", "=", name).execute();
    });
  }
}

/** Announcements made once: the first to record a key makes it, on any replica, after any restart. */
export class AnnouncementStore implements AnnouncementRepository {
  constructor(private readonly db: JournalDb) {}

  async once(key: string): Promise<boolean> {
    const inserted = await this.db
      .insertInto("announcements")
      .values({ key, at: new Date().toISOString() })
      .onConflict((oc) => oc.column("key").doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
  }
}

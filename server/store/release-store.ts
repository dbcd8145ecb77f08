// Releases in the journal: written once, one per version, never updated.
import type { Release } from "../releases/release";
import type { ReleaseRepository } from "../releases/ports";
import type { JournalDb } from "./database";

export class ReleaseStore implements ReleaseRepository {
  constructor(private readonly db: JournalDb) {}

  async insert(r: Release): Promise<boolean> {
    const result = await this.db
      .insertInto("releases")
      .values({ id: r.id, version: r.version, digest: r.digest, body: JSON.stringify(r), created_at: r.createdAt })
      .onConflict((oc) => oc.column("version").doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async get(id: string): Promise<Release | undefined> {
    const row = await this.db.selectFrom("releases").select("body").where("id", "=", id).executeTakeFirst();
    return row && (JSON.parse(row.body) as Release);
  }

  async byVersion(version: string): Promise<Release | undefined> {
    const row = await this.db.selectFrom("releases").select("body").where("version", "=", version).executeTakeFirst();
    return row && (JSON.parse(row.body) as Release);
  }

  async list(opts: { limit: number; before?: string }): Promise<Release[]> {
    let q = this.db.selectFrom("releases").select("body").orderBy("created_at", "desc").orderBy("id", "desc").limit(opts.limit);
    if (opts.before) q = q.where("created_at", "<", opts.before);
    return (await q.execute()).map((row) => JSON.parse(row.body) as Release);
  }
}

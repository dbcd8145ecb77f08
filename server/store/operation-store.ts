// Environment operations (refresh) in the environment's lane, in the order they were asked for.
import type { Operation, OperationRepository } from "../environments/ports";
import type { JournalDb } from "./database";

export class OperationStore implements OperationRepository {
  constructor(private readonly db: JournalDb) {}

  async insert(op: Operation): Promise<void> {
    await this.db
      .insertInto("operations")
      .values({ id: op.id, environment: op.environment, kind: op.kind, state: op.state, body: JSON.stringify(op), created_at: op.createdAt, updated_at: op.updatedAt })
      .execute();
  }

  async get(id: string): Promise<Operation | undefined> {
    const row = await this.db.selectFrom("operations").select("body").where("id", "=", id).executeTakeFirst();
    return row && (JSON.parse(row.body) as Operation);
  }

  async save(op: Operation): Promise<void> {
    op.updatedAt = new Date().toISOString();
    await this.db.updateTable("operations").set({ state: op.state, body: JSON.stringify(op), updated_at: op.updatedAt }).where("id", "=", op.id).execute();
  }

  async next(environment: string): Promise<Operation | undefined> {
    const row = await this.db
      .selectFrom("operations")
      .select("body")
      .where("environment", "=", environment)
      .where("state", "in", ["queued", "running"])
      .orderBy("seq")
      .limit(1)
      .executeTakeFirst();
    return row && (JSON.parse(row.body) as Operation);
  }

  async pendingEnvironments(): Promise<string[]> {
    const rows = await this.db.selectFrom("operations").select("environment").distinct().where("state", "in", ["queued", "running"]).execute();
    return rows.map((r) => r.environment);
  }

  async failPending(environment: string, error: { code: string; message: string }): Promise<Operation[]> {
    const rows = await this.db.selectFrom("operations").select("body").where("environment", "=", environment).where("state", "in", ["queued", "running"]).execute();
    const failed: Operation[] = [];
    for (const op of rows.map((r) => JSON.parse(r.body) as Operation)) {
      const at = new Date().toISOString();
      const body = JSON.stringify({ ...op, state: "failed", error, updatedAt: at });
      const result = await this.db
        .updateTable("operations")
        .set({ state: "failed", body, updated_at: at })
        .where("id", "=", op.id)
        .where("state", "in", ["queued", "running"])
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) failed.push({ ...op, state: "failed", error, updatedAt: at });
    }
    return failed;
  }
}

// The audit log's table: one row per action, newest read first.
import type { Selectable } from "kysely";
import type { AuditEntry, AuditQuery, AuditRepository } from "../audit/audit-log";
import type { JournalDb } from "./database";
import type { AuditLogTable } from "./schema";

const fromRow = (r: Selectable<AuditLogTable>): AuditEntry => ({
  id: Number(r.id),
  at: r.at,
  actor: JSON.parse(r.actor),
  action: r.action,
  ...(r.environment ? { environment: r.environment } : {}),
  ...(r.subject ? { subject: r.subject } : {}),
  data: JSON.parse(r.data),
});

export class AuditStore implements AuditRepository {
  constructor(private readonly db: JournalDb) {}

  async append(e: Omit<AuditEntry, "id" | "at">): Promise<AuditEntry> {
    const at = new Date().toISOString();
    const row = await this.db
      .insertInto("audit_log")
      .values({
        at,
        // Keys in a fixed order, so the actor's kind can be matched as a prefix.
        actor: JSON.stringify({ kind: e.actor.kind, id: e.actor.id, name: e.actor.name, ...(e.actor.provider ? { provider: e.actor.provider } : {}) }),
        action: e.action,
        environment: e.environment ?? null,
        subject: e.subject ?? null,
        data: JSON.stringify(e.data),
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return { ...e, id: Number(row.id), at };
  }

  async list(q: AuditQuery): Promise<AuditEntry[]> {
    let query = this.db.selectFrom("audit_log").selectAll().orderBy("id", "desc").limit(q.limit);
    if (q.environment) query = query.where("environment", "=", q.environment);
    if (q.action) query = query.where("action", "=", q.action);
    if (q.before) query = query.where("id", "<", q.before);
    // The actor is a JSON document; its kind is the first key, written by append() above.
    if (q.actorKind) query = query.where("actor", "like", `{"kind":"${q.actorKind}"%`);
    return (await query.execute()).map(fromRow);
  }
}

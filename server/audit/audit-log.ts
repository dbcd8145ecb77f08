// The audit log: who did what, through which caller (API token, chat,
// schedule), to which environment. Entries are appended, never changed.
import type { Actor } from "../deployments/model";

export interface AuditEntry {
  id: number;
  at: string;
  actor: Actor;
  /** A stable dotted name: `deployment.create`, `deployment.promote`, `chat.identity.link`, … */
  action: string;
  environment?: string;
  /** What was acted on: a deployment, schedule, webhook or identity id. */
  subject?: string;
  data: Record<string, unknown>;
}

export interface AuditQuery {
  environment?: string;
  /** Only entries of this caller kind (`token`, `chat`, `schedule`, `system`). */
  actorKind?: Actor["kind"];
  action?: string;
  /** Entries with an id below this (the previous page's last id). */
  before?: number;
  limit: number;
}

export interface AuditRepository {
  append(entry: Omit<AuditEntry, "id" | "at">): Promise<AuditEntry>;
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEntry[]>;
}

/** The actor an API token acts as. */
export const tokenActor = (principal: { id: string; name: string; person?: string }): Actor => ({
  kind: "token",
  id: principal.id,
  name: principal.name,
  person: principal.person ?? `token:${principal.id}`,
});

// Opens the journal: the embedded SQLite file under the data dir by
// default, or a shared PostgreSQL database when a postgres:// URL is given.
// Either way it is migrated to the latest version before it is used.
import path from "node:path";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { migrateToLatest } from "./migrations";
import type { Dialect, JournalSchema } from "./schema";
import { NodeSqliteDatabase } from "./sqlite/node-sqlite-database";

export type JournalDb = Kysely<JournalSchema>;

export interface Journal {
  db: JournalDb;
  dialect: Dialect;
  /** Where the journal lives, with any password removed, for logs. */
  location: string;
  close(): Promise<void>;
}

export interface JournalLocation {
  dataDir: string;
  /** `postgres://…` selects PostgreSQL; absent means the SQLite file in the data dir. */
  databaseUrl?: string;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//.test(url);
}

/** A URL with its password replaced, safe to log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "[unparseable url]";
  }
}

export async function openJournal(where: JournalLocation): Promise<Journal> {
  let journal: Journal;
  if (isPostgresUrl(where.databaseUrl)) {
    const pool = new pg.Pool({ connectionString: where.databaseUrl, max: 10, idleTimeoutMillis: 30_000 });
    // A broken idle connection must not take the process down; the pool replaces it.
    pool.on("error", () => undefined);
    const db = new Kysely<JournalSchema>({ dialect: new PostgresDialect({ pool }) });
    journal = { db, dialect: "postgres", location: redactUrl(where.databaseUrl), close: () => db.destroy() };
  } else {
    const file = path.join(where.dataDir, "cutover.db");
    const database = new NodeSqliteDatabase(file);
    const db = new Kysely<JournalSchema>({ dialect: new SqliteDialect({ database }) });
    journal = { db, dialect: "sqlite", location: file, close: () => db.destroy() };
  }
  try {
    await migrateToLatest(journal.db as Kysely<unknown>, journal.dialect);
  } catch (err) {
    await journal.close().catch(() => undefined);
    throw err;
  }
  return journal;
}

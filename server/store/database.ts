// The journal's SQLite file: opened in WAL mode, migrated forward at start.
import Database from "better-sqlite3";

export type Db = Database.Database;

const MIGRATIONS: string[] = [
  `CREATE TABLE environments (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     status TEXT NOT NULL,
     active_color TEXT,
     live_version TEXT,
     live_artifact TEXT,
     previous_version TEXT,
     previous_artifact TEXT,
     weights TEXT NOT NULL,
     fleets TEXT NOT NULL,
     traffic TEXT,
     error TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE deployments (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     environment TEXT NOT NULL,
     body TEXT NOT NULL,
     state TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE INDEX deployments_by_environment ON deployments (environment, seq);
   CREATE INDEX deployments_by_state ON deployments (state);
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     deployment_id TEXT NOT NULL,
     environment TEXT NOT NULL,
     type TEXT NOT NULL,
     at TEXT NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX events_by_deployment ON events (deployment_id, id);
   CREATE TABLE idempotency_keys (
     principal TEXT NOT NULL,
     key TEXT NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     request_hash TEXT NOT NULL,
     status INTEGER NOT NULL,
     body TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (principal, key)
   );
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL,
     environments TEXT,
     created_at TEXT NOT NULL,
     revoked_at TEXT
   );`,
  `ALTER TABLE environments ADD COLUMN traffic_intent TEXT;`,
];

export function openDatabase(file: string): Db {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  const current = db.pragma("user_version", { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

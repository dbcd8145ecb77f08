// Versioned migrations of the journal, one list for both dialects. They run
// at start-up under Kysely's migration lock (a Postgres advisory lock), so
// several replicas starting at once apply each migration exactly once.
// The first migration creates only what is missing: journals made before
// migrations were versioned this way already hold these tables.
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";
import { expiryOf, type EnvironmentSpec } from "../deployments/model";
import type { Dialect, JournalSchema } from "./schema";
import { earlyMigrations } from "./migrations-early";

function migrations(dialect: Dialect): Record<string, Migration> {
  const serial = dialect === "postgres" ? "bigserial" : "integer";
  const autoIncrement = dialect === "sqlite";
  return {
    ...earlyMigrations(dialect),
    "0005_gate_decisions": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("deployment_requests").addColumn("gate", "text").execute();
        await db.schema.alterTable("deployment_requests").addColumn("actor", "text").execute();
        await db.schema.alterTable("webhook_deliveries").addColumn("claimed_by", "text").execute();
      },
    },
    // Feature flags per environment, every change of them, and their ramps.
    "0006_flags": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("flags")
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("flags_pk", ["environment", "key"])
          .execute();
        await db.schema
          .createTable("flag_history")
          .addColumn("id", serial, (c) => (autoIncrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("changed", "text", (c) => c.notNull())
          .addColumn("flag", "text")
          .addColumn("reason", "text")
          .addColumn("at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("flag_history_by_flag").on("flag_history").columns(["environment", "key", "id"]).execute();
        await db.schema
          .createTable("flag_ramps")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("due_at", "text")
          .addColumn("claimed_by", "text")
          .addColumn("claimed_until", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("flag_ramps_due").on("flag_ramps").columns(["state", "due_at"]).execute();
      },
    },
    "0007_traffic_unrecorded": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("environments").addColumn("traffic_unrecorded", "text").execute();
      },
    },
    "0008_people_and_replays": {
      async up(db: Kysely<unknown>) {
        // The person behind a token or a chat identity, so four eyes compare people, not credentials.
        await db.schema.alterTable("tokens").addColumn("person", "text").execute();
        await db.schema.alterTable("chat_identities").addColumn("person", "text").execute();
        // Signed chat requests already acted on, kept for as long as their signature is valid.
        await db.schema
          .createTable("signed_requests")
          .addColumn("key", "text", (c) => c.primaryKey())
          .addColumn("seen_at", "text", (c) => c.notNull())
          .execute();
      },
    },
    // The scheduler's reads on each tick find what is due through an index: environments whose ttl ran out,
    // runs still going, operations waiting. An environment's expiry is kept beside it, filled here for those made before.
    "0009_due_queries": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("environments").addColumn("expires_at", "text").execute();
        await db.schema.createIndex("environments_expiry").on("environments").column("expires_at").execute();
        await db.schema.createIndex("schedule_runs_by_state").on("schedule_runs").columns(["state", "schedule_id"]).execute();
        await db.schema.createIndex("operations_by_state").on("operations").columns(["state", "environment"]).execute();
        const journal = db as Kysely<Pick<JournalSchema, "environments">>;
        for (const row of await journal.selectFrom("environments").select(["name", "spec", "created_at"]).execute()) {
          const expiresAt = expiryOf({ spec: JSON.parse(row.spec) as EnvironmentSpec, createdAt: row.created_at });
          if (expiresAt) await journal.updateTable("environments").set({ expires_at: expiresAt }).where("name", "=", row.name).execute();
        }
      },
    },
    // Releases: recorded once, never changed; one per version.
    "0010_releases": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("releases")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("version", "text", (c) => c.notNull().unique())
          .addColumn("digest", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("releases_by_time").on("releases").columns(["created_at", "id"]).execute();
      },
    },
    // Pipelines: the stages a release travels through.
    "0011_pipelines": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("pipelines")
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
      },
    },
    // What was announced once (a release eligible for a stage), whichever replica saw it first.
    "0012_announcements": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("announcements")
          .addColumn("key", "text", (c) => c.primaryKey())
          .addColumn("at", "text", (c) => c.notNull())
          .execute();
      },
    },
    // An environment's maintenance, carried by every traffic change while it is on.
    "0013_maintenance": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("environments").addColumn("maintenance", "text").execute();
      },
    },
  };
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** The migrations' names, in the order they apply. */
export const MIGRATION_NAMES = Object.keys(migrations("sqlite"));

/** Applies every pending migration; throws with the failing one's name. */
export async function migrateToLatest(db: Kysely<unknown>, dialect: Dialect): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new StaticProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error) throw new Error(`journal migration ${failed?.migrationName ?? ""} failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

export { sql };

// Versioned migrations of the journal, one list for both dialects. They run
// at start-up under Kysely's migration lock (a Postgres advisory lock), so
// several replicas starting at once apply each migration exactly once.
// The first migration creates only what is missing: journals made before
// migrations were versioned this way already hold these tables.
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";
import type { Dialect } from "./schema";

function migrations(dialect: Dialect): Record<string, Migration> {
  const serial = dialect === "postgres" ? "bigserial" : "integer";
  const autoIncrement = dialect === "sqlite";
  return {
    "0001_journal": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("environments")
          .ifNotExists()
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("spec", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("active_color", "text")
          .addColumn("live_version", "text")
          .addColumn("live_artifact", "text")
          .addColumn("previous_version", "text")
          .addColumn("previous_artifact", "text")
          .addColumn("weights", "text", (c) => c.notNull())
          .addColumn("fleets", "text", (c) => c.notNull())
          .addColumn("traffic", "text")
          .addColumn("error", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .addColumn("traffic_intent", "text")
          .execute();
        await db.schema
          .createTable("deployments")
          .ifNotExists()
          .addColumn("seq", serial, (c) => (autoIncrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn("id", "text", (c) => c.notNull().unique())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("deployments_by_environment").ifNotExists().on("deployments").columns(["environment", "seq"]).execute();
        await db.schema.createIndex("deployments_by_state").ifNotExists().on("deployments").column("state").execute();
        await db.schema
          .createTable("events")
          .ifNotExists()
          .addColumn("id", serial, (c) => (autoIncrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn("deployment_id", "text", (c) => c.notNull())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("data", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("events_by_deployment").ifNotExists().on("events").columns(["deployment_id", "id"]).execute();
        await db.schema
          .createTable("idempotency_keys")
          .ifNotExists()
          .addColumn("principal", "text", (c) => c.notNull())
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("method", "text", (c) => c.notNull())
          .addColumn("path", "text", (c) => c.notNull())
          .addColumn("request_hash", "text", (c) => c.notNull())
          .addColumn("status", "integer", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("idempotency_keys_pk", ["principal", "key"])
          .execute();
        await db.schema
          .createTable("tokens")
          .ifNotExists()
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("hash", "text", (c) => c.notNull().unique())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("environments", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("revoked_at", "text")
          .execute();
      },
    },
    "0002_leases": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("leases")
          .ifNotExists()
          .addColumn("environment", "text", (c) => c.primaryKey())
          .addColumn("holder", "text", (c) => c.notNull())
          .addColumn("token", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .execute();
      },
    },
    "0003_deployment_requests": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("deployment_requests")
          .ifNotExists()
          .addColumn("id", serial, (c) => (autoIncrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn("deployment_id", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("reason", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("deployment_requests_by_deployment").ifNotExists().on("deployment_requests").columns(["deployment_id", "id"]).execute();
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

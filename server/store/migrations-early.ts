// The journal's first migrations (0001 to 0004): environments, deployments
// and their events, leases, deployment requests, and the callers (tokens,
// audit, chat, webhooks, schedules). migrations.ts lists them with the rest.
import type { Kysely, Migration } from "kysely";
import type { Dialect } from "./schema";

export function earlyMigrations(dialect: Dialect): Record<string, Migration> {
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
    // Chat identities and the audit log, schedules and their runs, queued environment operations, outgoing webhooks and their deliveries.
    "0004_callers": {
      async up(db: Kysely<unknown>) {
        const id = (c: any) => (autoIncrement ? c.primaryKey().autoIncrement() : c.primaryKey());
        await db.schema
          .createTable("chat_identities")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("provider", "text", (c) => c.notNull())
          .addColumn("team", "text", (c) => c.notNull())
          .addColumn("user_id", "text", (c) => c.notNull())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("environments", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addUniqueConstraint("chat_identities_user", ["provider", "team", "user_id"])
          .execute();
        await db.schema
          .createTable("chat_threads")
          .addColumn("id", serial, id)
          .addColumn("deployment_id", "text", (c) => c.notNull())
          .addColumn("provider", "text", (c) => c.notNull())
          .addColumn("response_url", "text")
          .addColumn("channel", "text")
          .addColumn("message_ts", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("chat_threads_by_deployment").on("chat_threads").column("deployment_id").execute();
        await db.schema
          .createTable("audit_log")
          .addColumn("id", serial, id)
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("environment", "text")
          .addColumn("subject", "text")
          .addColumn("data", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("audit_log_by_environment").on("audit_log").columns(["environment", "id"]).execute();
        await db.schema
          .createTable("schedules")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("cron", "text", (c) => c.notNull())
          .addColumn("timezone", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("paused", "integer", (c) => c.notNull())
          .addColumn("next_run_at", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("schedules_due").on("schedules").columns(["paused", "next_run_at"]).execute();
        await db.schema
          .createTable("schedule_runs")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("schedule_id", "text", (c) => c.notNull())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("scheduled_at", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("operation_id", "text")
          .addColumn("started_at", "text")
          .addColumn("finished_at", "text")
          .addColumn("error", "text")
          .addColumn("data", "text", (c) => c.notNull())
          .addUniqueConstraint("schedule_runs_once", ["schedule_id", "scheduled_at"])
          .execute();
        await db.schema.createIndex("schedule_runs_by_operation").on("schedule_runs").column("operation_id").execute();
        await db.schema
          .createTable("operations")
          .addColumn("seq", serial, id)
          .addColumn("id", "text", (c) => c.notNull().unique())
          .addColumn("environment", "text", (c) => c.notNull())
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("operations_by_environment").on("operations").columns(["environment", "state", "seq"]).execute();
        await db.schema.alterTable("environments").addColumn("drift", "text").execute();
        await db.schema
          .createTable("webhooks")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("url", "text", (c) => c.notNull())
          .addColumn("format", "text", (c) => c.notNull())
          .addColumn("events", "text", (c) => c.notNull())
          .addColumn("environments", "text")
          .addColumn("secret", "text", (c) => c.notNull())
          .addColumn("description", "text")
          .addColumn("disabled_at", "text")
          .addColumn("disabled_reason", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("webhook_deliveries")
          .addColumn("seq", serial, id)
          .addColumn("id", "text", (c) => c.notNull().unique())
          .addColumn("webhook_id", "text", (c) => c.notNull())
          .addColumn("event_type", "text", (c) => c.notNull())
          .addColumn("payload", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("attempts", "integer", (c) => c.notNull())
          .addColumn("next_attempt_at", "text")
          .addColumn("claimed_until", "text")
          .addColumn("last_status", "integer")
          .addColumn("last_error", "text")
          .addColumn("attempt_log", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("delivered_at", "text")
          .execute();
        await db.schema.createIndex("webhook_deliveries_due").on("webhook_deliveries").columns(["state", "next_attempt_at"]).execute();
        await db.schema.createIndex("webhook_deliveries_by_webhook").on("webhook_deliveries").columns(["webhook_id", "seq"]).execute();
      },
    },
    // A person's decision at a gate travels as a request: which gate, and who decided.
    // A delivery's claim names the replica that holds it, so a restarted replica frees its own claims at once.
  };
}

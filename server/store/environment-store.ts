// Environments in the journal, through Kysely: one implementation for
// SQLite and PostgreSQL. Each row keeps when its ttl runs out beside the
// spec, so the expired ones are found through an index.
import type { Selectable } from "kysely";
import { expiryOf, type Environment } from "../deployments/model";
import type { EnvironmentRepository } from "../deployments/ports";
import type { JournalDb } from "./database";
import { FLAGS_CHANNEL } from "./flag-store";
import { fencedWrite } from "./lease-store";
import { sql } from "./migrations";
import type { Dialect, EnvironmentsTable } from "./schema";
import type { EnvironmentChange } from "../deployments/environment-changes";

type Row = Selectable<EnvironmentsTable>;

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
const parse = <T>(v: string | null): T | undefined => (v === null ? undefined : (JSON.parse(v) as T));

function fromRow(r: Row): Environment {
  return {
    name: r.name,
    spec: JSON.parse(r.spec),
    status: r.status as Environment["status"],
    activeColor: (r.active_color ?? undefined) as Environment["activeColor"],
    liveVersion: r.live_version ?? undefined,
    liveArtifact: parse(r.live_artifact),
    previousVersion: r.previous_version ?? undefined,
    previousArtifact: parse(r.previous_artifact),
    weights: JSON.parse(r.weights),
    fleets: JSON.parse(r.fleets),
    traffic: parse(r.traffic),
    trafficIntent: parse(r.traffic_intent),
    trafficUnrecorded: parse(r.traffic_unrecorded),
    error: parse(r.error),
    drift: parse(r.drift),
    maintenance: parse(r.maintenance),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toRow(env: Environment): Row {
  return {
    name: env.name,
    spec: JSON.stringify(env.spec),
    status: env.status,
    active_color: env.activeColor ?? null,
    live_version: env.liveVersion ?? null,
    live_artifact: json(env.liveArtifact),
    previous_version: env.previousVersion ?? null,
    previous_artifact: json(env.previousArtifact),
    weights: JSON.stringify(env.weights),
    fleets: JSON.stringify(env.fleets),
    traffic: json(env.traffic),
    traffic_intent: json(env.trafficIntent),
    traffic_unrecorded: json(env.trafficUnrecorded),
    error: json(env.error),
    drift: json(env.drift),
    maintenance: json(env.maintenance),
    expires_at: expiryOf(env) ?? null,
    created_at: env.createdAt,
    updated_at: env.updatedAt,
  };
}

export class EnvironmentStore implements EnvironmentRepository {
  constructor(
    private readonly db: JournalDb,
    private readonly dialect: Dialect,
  ) {}

  async get(name: string): Promise<Environment | undefined> {
    const row = await this.db.selectFrom("environments").selectAll().where("name", "=", name).executeTakeFirst();
    return row && fromRow(row);
  }

  async list(): Promise<Environment[]> {
    return (await this.db.selectFrom("environments").selectAll().orderBy("name").execute()).map(fromRow);
  }

  /** Environments ready or failed whose ttl has run out by `now`. */
  async expired(now: Date): Promise<Environment[]> {
    const rows = await this.db
      .selectFrom("environments")
      .selectAll()
      .where("expires_at", "<=", now.toISOString())
      .where("status", "in", ["ready", "failed"])
      .orderBy("expires_at")
      .execute();
    return rows.map(fromRow);
  }

  /** Which of the names are environments, in one query. */
  async existing(names: string[]): Promise<Set<string>> {
    const unique = [...new Set(names)];
    if (unique.length === 0) return new Set();
    const rows = await this.db.selectFrom("environments").select("name").where("name", "in", unique).execute();
    return new Set(rows.map((r) => r.name));
  }

  async insert(env: Environment): Promise<boolean> {
    const result = await this.db
      .insertInto("environments")
      .values(toRow(env))
      .onConflict((oc) => oc.column("name").doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Reads, changes and writes the environment in one transaction (the row locked on Postgres). */
  async update(name: string, change: EnvironmentChange): Promise<Environment> {
    return fencedWrite(this.db, this.dialect, name, async (trx) => {
      const row = await trx
        .selectFrom("environments")
        .selectAll()
        .where("name", "=", name)
        .$if(this.dialect === "postgres", (q) => q.forUpdate())
        .executeTakeFirst();
      if (!row) throw new Error(`environment ${name} vanished from the journal`);
      const env = fromRow(row);
      change.apply(env);
      env.updatedAt = new Date().toISOString();
      const { name: _key, created_at: _created, ...fields } = toRow(env);
      await trx.updateTable("environments").set(fields).where("name", "=", name).execute();
      return env;
    });
  }

  /** Removes the environment with its feature flags and their ramps (their history stays, as the audit log does). */
  async remove(name: string): Promise<void> {
    await fencedWrite(this.db, this.dialect, name, async (trx) => {
      await trx.deleteFrom("environments").where("name", "=", name).execute();
      await trx.deleteFrom("flags").where("environment", "=", name).execute();
      await trx.deleteFrom("flag_ramps").where("environment", "=", name).execute();
      if (this.dialect === "postgres") await sql`select pg_notify(${FLAGS_CHANNEL}, ${name})`.execute(trx);
    });
  }
}

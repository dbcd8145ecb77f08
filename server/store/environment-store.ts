// Environments in the journal.
import type { Db } from "./database";
import type { Environment } from "../deployments/model";
import type { EnvironmentRepository } from "../deployments/ports";

interface Row {
  name: string;
  spec: string;
  status: string;
  active_color: string | null;
  live_version: string | null;
  live_artifact: string | null;
  previous_version: string | null;
  previous_artifact: string | null;
  weights: string;
  fleets: string;
  traffic: string | null;
  traffic_intent: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

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
    error: parse(r.error),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class EnvironmentStore implements EnvironmentRepository {
  constructor(private readonly db: Db) {}

  get(name: string): Environment | undefined {
    const row = this.db.prepare("SELECT * FROM environments WHERE name = ?").get(name) as Row | undefined;
    return row && fromRow(row);
  }

  list(): Environment[] {
    return (this.db.prepare("SELECT * FROM environments ORDER BY name").all() as Row[]).map(fromRow);
  }

  /** Inserts a new environment; false when the name is taken. */
  insert(env: Environment): boolean {
    const result = this.db
      .prepare(
        `INSERT OR IGNORE INTO environments (name, spec, status, weights, fleets, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(env.name, JSON.stringify(env.spec), env.status, JSON.stringify(env.weights), JSON.stringify(env.fleets), env.createdAt, env.updatedAt);
    return result.changes === 1;
  }

  /** Applies a change to the stored environment and returns the result. */
  update(name: string, change: (env: Environment) => void): Environment {
    return this.db.transaction(() => {
      const env = this.get(name);
      if (!env) throw new Error(`environment ${name} vanished from the journal`);
      change(env);
      env.updatedAt = new Date().toISOString();
      this.db
        .prepare(
          `UPDATE environments SET spec = ?, status = ?, active_color = ?, live_version = ?, live_artifact = ?,
             previous_version = ?, previous_artifact = ?, weights = ?, fleets = ?, traffic = ?, traffic_intent = ?, error = ?, updated_at = ?
           WHERE name = ?`,
        )
        .run(
          JSON.stringify(env.spec),
          env.status,
          env.activeColor ?? null,
          env.liveVersion ?? null,
          json(env.liveArtifact),
          env.previousVersion ?? null,
          json(env.previousArtifact),
          JSON.stringify(env.weights),
          JSON.stringify(env.fleets),
          json(env.traffic),
          json(env.trafficIntent),
          json(env.error),
          env.updatedAt,
          name,
        );
      return env;
    })();
  }

  remove(name: string): void {
    this.db.prepare("DELETE FROM environments WHERE name = ?").run(name);
  }
}

// Deployments and their events in the journal. A deployment is stored as
// one JSON document plus the columns that are queried.
import type { Db } from "./database";
import type { Deployment, DeploymentEvent, DeploymentState } from "../deployments/model";
import type { DeploymentRepository } from "../deployments/ports";
import { TERMINAL_STATES } from "../deployments/deployment-states";

interface EventRow {
  id: number;
  deployment_id: string;
  environment: string;
  type: string;
  at: string;
  data: string;
}

const fromEventRow = (r: EventRow): DeploymentEvent => ({
  id: r.id,
  deploymentId: r.deployment_id,
  environment: r.environment,
  type: r.type,
  at: r.at,
  data: JSON.parse(r.data),
});

const TERMINAL_LIST = TERMINAL_STATES.map((s) => `'${s}'`).join(", ");

export class DeploymentStore implements DeploymentRepository {
  constructor(private readonly db: Db) {}

  insert(d: Deployment): void {
    this.db
      .prepare("INSERT INTO deployments (id, environment, body, state, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(d.id, d.environment, JSON.stringify(d), d.state, d.createdAt);
  }

  save(d: Deployment): Deployment {
    d.updatedAt = new Date().toISOString();
    this.db.prepare("UPDATE deployments SET body = ?, state = ? WHERE id = ?").run(JSON.stringify(d), d.state, d.id);
    return d;
  }

  get(id: string): Deployment | undefined {
    const row = this.db.prepare("SELECT body FROM deployments WHERE id = ?").get(id) as { body: string } | undefined;
    return row && JSON.parse(row.body);
  }

  forEnvironment(environment: string, limit = 20): Deployment[] {
    const rows = this.db
      .prepare("SELECT body FROM deployments WHERE environment = ? ORDER BY seq DESC LIMIT ?")
      .all(environment, limit) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body));
  }

  /** Deployments not yet at an end, oldest first. */
  unfinished(environment?: string): Deployment[] {
    const rows = this.db
      .prepare(
        `SELECT body FROM deployments WHERE state NOT IN (${TERMINAL_LIST})
         ${environment ? "AND environment = ?" : ""} ORDER BY seq`,
      )
      .all(...(environment ? [environment] : [])) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body));
  }

  /** The most recent deployments of all environments, newest first, optionally by state. */
  list(opts: { environment?: string; state?: DeploymentState; limit: number }): Deployment[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.environment) {
      where.push("environment = ?");
      args.push(opts.environment);
    }
    if (opts.state) {
      where.push("state = ?");
      args.push(opts.state);
    }
    const rows = this.db
      .prepare(`SELECT body FROM deployments ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`)
      .all(...args, opts.limit) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body));
  }

  appendEvent(e: Omit<DeploymentEvent, "id">): DeploymentEvent {
    const result = this.db
      .prepare("INSERT INTO events (deployment_id, environment, type, at, data) VALUES (?, ?, ?, ?, ?)")
      .run(e.deploymentId, e.environment, e.type, e.at, JSON.stringify(e.data));
    return { ...e, id: Number(result.lastInsertRowid) };
  }

  events(deploymentId: string, afterId = 0, limit = 10_000): DeploymentEvent[] {
    const rows = this.db
      .prepare("SELECT * FROM events WHERE deployment_id = ? AND id > ? ORDER BY id LIMIT ?")
      .all(deploymentId, afterId, limit) as EventRow[];
    return rows.map(fromEventRow);
  }
}

// Deployments and their events in the journal. A deployment is stored as
// one JSON document plus the columns that are queried.
import { sql, type Selectable, type Transaction } from "kysely";
import type { Deployment, DeploymentEvent, DeploymentState } from "../deployments/model";
import type { DeploymentRepository } from "../deployments/ports";
import { TERMINAL_STATES } from "../deployments/deployment-states";
import type { JournalDb } from "./database";
import { fencedWrite } from "./lease-store";
import type { Dialect, EventsTable, JournalSchema } from "./schema";

const fromEventRow = (r: Selectable<EventsTable>): DeploymentEvent => ({
  id: Number(r.id),
  deploymentId: r.deployment_id,
  environment: r.environment,
  type: r.type,
  at: r.at,
  data: JSON.parse(r.data),
});

/** The Postgres channel on which event appends are announced, with the deployment id as payload. */
export const EVENTS_CHANNEL = "cutover_events";

const documents = (rows: { body: string }[]): Deployment[] => rows.map((r) => JSON.parse(r.body) as Deployment);

export class DeploymentStore implements DeploymentRepository {
  constructor(
    private readonly db: JournalDb,
    private readonly dialect: Dialect,
  ) {}

  async insert(d: Deployment): Promise<void> {
    await this.db
      .insertInto("deployments")
      .values({ id: d.id, environment: d.environment, body: JSON.stringify(d), state: d.state, created_at: d.createdAt })
      .execute();
  }

  async save(d: Deployment): Promise<Deployment> {
    await this.saveWithEvents(d, []);
    return d;
  }

  /** Saves the deployment and appends its events in one transaction: no reader sees the one without the other. */
  async saveWithEvents(d: Deployment, events: Omit<DeploymentEvent, "id">[]): Promise<DeploymentEvent[]> {
    d.updatedAt = new Date().toISOString();
    return fencedWrite(this.db, this.dialect, d.environment, async (trx) => {
      await trx.updateTable("deployments").set({ body: JSON.stringify(d), state: d.state }).where("id", "=", d.id).execute();
      return this.insertEvents(trx, events);
    });
  }

  async get(id: string): Promise<Deployment | undefined> {
    const row = await this.db.selectFrom("deployments").select("body").where("id", "=", id).executeTakeFirst();
    return row && (JSON.parse(row.body) as Deployment);
  }

  async forEnvironment(environment: string, limit = 20): Promise<Deployment[]> {
    return documents(
      await this.db.selectFrom("deployments").select("body").where("environment", "=", environment).orderBy("seq", "desc").limit(limit).execute(),
    );
  }

  /** Deployments not yet at an end, oldest first. */
  async unfinished(environment?: string): Promise<Deployment[]> {
    return documents(
      await this.db
        .selectFrom("deployments")
        .select("body")
        .where("state", "not in", [...TERMINAL_STATES])
        .$if(environment !== undefined, (q) => q.where("environment", "=", environment!))
        .orderBy("seq")
        .execute(),
    );
  }

  /** The most recent deployments, newest first, optionally of one environment or state. */
  async list(opts: { environment?: string; state?: DeploymentState; limit: number }): Promise<Deployment[]> {
    return documents(
      await this.db
        .selectFrom("deployments")
        .select("body")
        .$if(opts.environment !== undefined, (q) => q.where("environment", "=", opts.environment!))
        .$if(opts.state !== undefined, (q) => q.where("state", "=", opts.state!))
        .orderBy("seq", "desc")
        .limit(opts.limit)
        .execute(),
    );
  }

  async appendEvent(e: Omit<DeploymentEvent, "id">): Promise<DeploymentEvent> {
    const [event] = await fencedWrite(this.db, this.dialect, e.environment, (trx) => this.insertEvents(trx, [e]));
    return event;
  }

  private async insertEvents(trx: Transaction<JournalSchema>, events: Omit<DeploymentEvent, "id">[]): Promise<DeploymentEvent[]> {
    const stored: DeploymentEvent[] = [];
    for (const e of events) {
      const inserted = await trx
        .insertInto("events")
        .values({ deployment_id: e.deploymentId, environment: e.environment, type: e.type, at: e.at, data: JSON.stringify(e.data) })
        .returning("id")
        .executeTakeFirstOrThrow();
      stored.push({ ...e, id: Number(inserted.id) });
    }
    // Every replica listening hears of them once the transaction commits (live event streams).
    if (this.dialect === "postgres" && stored.length > 0) await sql`select pg_notify(${EVENTS_CHANNEL}, ${stored[0].deploymentId})`.execute(trx);
    return stored;
  }

  async countByState(): Promise<Partial<Record<DeploymentState, number>>> {
    const rows = await this.db.selectFrom("deployments").select(["state", (eb) => eb.fn.countAll<number>().as("count")]).groupBy("state").execute();
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.count)]));
  }

  async events(deploymentId: string, afterId = 0, limit = 10_000): Promise<DeploymentEvent[]> {
    const rows = await this.db
      .selectFrom("events")
      .selectAll()
      .where("deployment_id", "=", deploymentId)
      .where("id", ">", afterId)
      .orderBy("id")
      .limit(limit)
      .execute();
    return rows.map(fromEventRow);
  }
}

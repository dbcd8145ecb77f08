// Schedules and their runs. A firing is claimed by moving next_run_at on
// with a conditional update, and a run is unique per (schedule, time), so
// nothing fires twice across restarts or replicas.
import type { Selectable } from "kysely";
import type { RunRepository, RunState, Schedule, ScheduleRepository, ScheduleRun } from "../schedules/ports";
import type { JournalDb } from "./database";
import type { ScheduleRunsTable, SchedulesTable } from "./schema";

const scheduleOf = (r: Selectable<SchedulesTable>): Schedule => ({
  ...(JSON.parse(r.body) as Omit<Schedule, "id" | "environment" | "kind" | "cron" | "timezone" | "paused" | "nextRunAt" | "createdAt" | "updatedAt">),
  id: r.id,
  environment: r.environment,
  kind: r.kind as Schedule["kind"],
  cron: r.cron,
  timezone: r.timezone,
  paused: Number(r.paused) === 1,
  ...(r.next_run_at ? { nextRunAt: r.next_run_at } : {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const runOf = (r: Selectable<ScheduleRunsTable>): ScheduleRun => ({
  id: r.id,
  scheduleId: r.schedule_id,
  environment: r.environment,
  scheduledAt: r.scheduled_at,
  state: r.state as RunState,
  ...(r.operation_id ? { operationId: r.operation_id } : {}),
  ...(r.started_at ? { startedAt: r.started_at } : {}),
  ...(r.finished_at ? { finishedAt: r.finished_at } : {}),
  ...(r.error ? { error: JSON.parse(r.error) } : {}),
  data: JSON.parse(r.data),
});

export class ScheduleStore implements ScheduleRepository {
  constructor(private readonly db: JournalDb) {}

  async insert(s: Schedule): Promise<void> {
    const { id, environment, kind, cron, timezone, paused, nextRunAt, createdAt, updatedAt, ...body } = s;
    await this.db
      .insertInto("schedules")
      .values({ id, environment, kind, cron, timezone, body: JSON.stringify(body), paused: paused ? 1 : 0, next_run_at: nextRunAt ?? null, created_at: createdAt, updated_at: updatedAt })
      .execute();
  }

  async get(id: string): Promise<Schedule | undefined> {
    const row = await this.db.selectFrom("schedules").selectAll().where("id", "=", id).executeTakeFirst();
    return row && scheduleOf(row);
  }

  async list(environment?: string): Promise<Schedule[]> {
    let q = this.db.selectFrom("schedules").selectAll().orderBy("created_at");
    if (environment) q = q.where("environment", "=", environment);
    return (await q.execute()).map(scheduleOf);
  }

  async due(now: Date): Promise<Schedule[]> {
    const rows = await this.db.selectFrom("schedules").selectAll().where("paused", "=", 0).where("next_run_at", "<=", now.toISOString()).orderBy("next_run_at").execute();
    return rows.map(scheduleOf);
  }

  async advance(id: string, expected: string, next: string | undefined): Promise<boolean> {
    const result = await this.db
      .updateTable("schedules")
      .set({ next_run_at: next ?? null, updated_at: new Date().toISOString() })
      .where("id", "=", id)
      .where("next_run_at", "=", expected)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setPaused(id: string, paused: boolean, nextRunAt: string | undefined): Promise<void> {
    await this.db
      .updateTable("schedules")
      .set({ paused: paused ? 1 : 0, next_run_at: nextRunAt ?? null, updated_at: new Date().toISOString() })
      .where("id", "=", id)
      .execute();
  }

  async remove(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom("schedules").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async removeForEnvironment(environment: string): Promise<void> {
    await this.db.deleteFrom("schedules").where("environment", "=", environment).execute();
  }
}

export class RunStore implements RunRepository {
  constructor(private readonly db: JournalDb) {}

  async insert(r: ScheduleRun): Promise<boolean> {
    const result = await this.db
      .insertInto("schedule_runs")
      .values({
        id: r.id,
        schedule_id: r.scheduleId,
        environment: r.environment,
        scheduled_at: r.scheduledAt,
        state: r.state,
        operation_id: r.operationId ?? null,
        started_at: r.startedAt ?? null,
        finished_at: r.finishedAt ?? null,
        error: r.error ? JSON.stringify(r.error) : null,
        data: JSON.stringify(r.data),
      })
      .onConflict((oc) => oc.columns(["schedule_id", "scheduled_at"]).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Ends a running run; undefined when it had already ended. */
  async finish(id: string, state: RunState, error?: { code: string; message: string }): Promise<ScheduleRun | undefined> {
    const result = await this.db
      .updateTable("schedule_runs")
      .set({ state, finished_at: new Date().toISOString(), error: error ? JSON.stringify(error) : null })
      .where("id", "=", id)
      .where("state", "=", "running")
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return undefined;
    const row = await this.db.selectFrom("schedule_runs").selectAll().where("id", "=", id).executeTakeFirst();
    return row && runOf(row);
  }

  async setOperation(id: string, operationId: string): Promise<void> {
    await this.db.updateTable("schedule_runs").set({ operation_id: operationId }).where("id", "=", id).execute();
  }

  async forSchedule(scheduleId: string, limit: number): Promise<ScheduleRun[]> {
    const rows = await this.db.selectFrom("schedule_runs").selectAll().where("schedule_id", "=", scheduleId).orderBy("scheduled_at", "desc").limit(limit).execute();
    return rows.map(runOf);
  }

  async running(scheduleId?: string): Promise<ScheduleRun[]> {
    let q = this.db.selectFrom("schedule_runs").selectAll().where("state", "=", "running");
    if (scheduleId) q = q.where("schedule_id", "=", scheduleId);
    return (await q.execute()).map(runOf);
  }

  async byOperation(operationId: string): Promise<ScheduleRun[]> {
    return (await this.db.selectFrom("schedule_runs").selectAll().where("operation_id", "=", operationId).execute()).map(runOf);
  }
}

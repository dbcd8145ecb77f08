// Schedules as callers manage them: create (the expression and zone are
// checked, and the first time computed in UTC), list, pause, resume,
// delete, and the runs each one made.
import { randomBytes } from "node:crypto";
import type { EnvironmentRepository } from "../deployments/ports";
import type { Actor } from "../deployments/model";
import { NotFoundError } from "../errors";
import { checkCronInput, nextRun } from "./cron";
import type { RunRepository, Schedule, ScheduleRepository, ScheduleRun } from "./ports";

/** What a caller chooses of a schedule; the rest (id, next run, times) is Cutover's. */
export type ScheduleInput = Pick<Schedule, "kind" | "cron" | "timezone" | "startingDeadline" | "onDrift" | "deployment" | "maintenance">;

export class ScheduleService {
  constructor(
    private readonly schedules: ScheduleRepository,
    private readonly history: RunRepository,
    private readonly environments: EnvironmentRepository,
  ) {}

  async create(environment: string, input: ScheduleInput, by?: Actor): Promise<Schedule> {
    if (!(await this.environments.get(environment))) throw new NotFoundError("environment_not_found", `no environment named ${environment}`, { environment });
    checkCronInput(input.cron, input.timezone, { cron: input.cron, timezone: input.timezone });
    const now = new Date();
    const schedule: Schedule = {
      id: `sch_${randomBytes(8).toString("hex")}`,
      environment,
      kind: input.kind,
      cron: input.cron,
      timezone: input.timezone,
      startingDeadline: input.startingDeadline,
      ...(input.onDrift ? { onDrift: input.onDrift } : {}),
      ...(input.deployment ? { deployment: input.deployment } : {}),
      ...(input.maintenance ? { maintenance: input.maintenance } : {}),
      paused: false,
      nextRunAt: nextRun(input.cron, input.timezone, now)?.toISOString(),
      ...(by ? { createdBy: by } : {}),
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    await this.schedules.insert(schedule);
    return schedule;
  }

  list(environment: string): Promise<Schedule[]> {
    return this.schedules.list(environment);
  }

  async get(id: string): Promise<Schedule> {
    const s = await this.schedules.get(id);
    if (!s) throw new NotFoundError("schedule_not_found", `no schedule with id ${id}`, { schedule: id });
    return s;
  }

  async pause(id: string): Promise<Schedule> {
    const s = await this.get(id);
    await this.schedules.setPaused(id, true, s.nextRunAt);
    return this.get(id);
  }

  /** Resumes from now: times that passed while paused are not made up. */
  async resume(id: string): Promise<Schedule> {
    const s = await this.get(id);
    await this.schedules.setPaused(id, false, nextRun(s.cron, s.timezone, new Date())?.toISOString());
    return this.get(id);
  }

  async remove(id: string): Promise<Schedule> {
    const s = await this.get(id);
    await this.schedules.remove(id);
    return s;
  }

  async runs(id: string, limit: number): Promise<ScheduleRun[]> {
    await this.get(id);
    return this.history.forSchedule(id, limit);
  }
}

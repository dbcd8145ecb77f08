// Schedules and their runs as the domain sees them, with the storage they
// need.
import type { Actor, Strategy } from "../deployments/model";

/** A deploy schedule's deployment: a version, and optionally a strategy. */
export interface DeploymentRequestBody {
  version: string;
  strategy?: Strategy;
}

export type ScheduleKind = "refresh" | "repave" | "deploy" | "destroy" | "maintenance";

/** A maintenance schedule's change: on (and how: durations as written), or off. */
export interface ScheduledMaintenance {
  on: boolean;
  mode?: "page" | "hold";
  retryAfter?: string;
  holdTimeout?: string;
  message?: string;
}

export interface Schedule {
  id: string;
  environment: string;
  kind: ScheduleKind;
  cron: string;
  timezone: string;
  /** A run may start this long after its time (after downtime); later it is recorded missed. */
  startingDeadline: string;
  /** refresh: what drift leads to. */
  onDrift?: "report" | "repave";
  /** deploy: what to deploy. */
  deployment?: DeploymentRequestBody;
  /** maintenance: on or off. */
  maintenance?: ScheduledMaintenance;
  paused: boolean;
  /** UTC; absent when the expression has no further time. */
  nextRunAt?: string;
  createdBy?: Actor;
  createdAt: string;
  updatedAt: string;
}

export type RunState = "running" | "succeeded" | "failed" | "missed" | "skipped";

export interface ScheduleRun {
  id: string;
  scheduleId: string;
  environment: string;
  scheduledAt: string;
  state: RunState;
  /** The deployment or operation it started. */
  operationId?: string;
  startedAt?: string;
  finishedAt?: string;
  error?: { code: string; message: string };
  data: Record<string, unknown>;
}

export interface ScheduleRepository {
  insert(s: Schedule): Promise<void>;
  get(id: string): Promise<Schedule | undefined>;
  list(environment?: string): Promise<Schedule[]>;
  /** Unpaused schedules whose next run is at or before `now`. */
  due(now: Date): Promise<Schedule[]>;
  /** Moves next_run_at on only if it still is `expected`: the claim of one firing. */
  advance(id: string, expected: string, next: string | undefined): Promise<boolean>;
  setPaused(id: string, paused: boolean, nextRunAt: string | undefined): Promise<void>;
  remove(id: string): Promise<boolean>;
  removeForEnvironment(environment: string): Promise<void>;
}

export interface RunRepository {
  /** False when the schedule already has a run at that time. */
  insert(run: ScheduleRun): Promise<boolean>;
  finish(id: string, state: RunState, error?: { code: string; message: string }): Promise<ScheduleRun | undefined>;
  forSchedule(scheduleId: string, limit: number): Promise<ScheduleRun[]>;
  running(scheduleId?: string): Promise<ScheduleRun[]>;
  byOperation(operationId: string): Promise<ScheduleRun[]>;
  setOperation(id: string, operationId: string): Promise<void>;
}

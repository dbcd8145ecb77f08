// Fires schedules and expires environments on the clock. Each tick claims
// due firings (a conditional move of next_run_at, then a run unique per
// schedule and time), so a firing happens once across restarts and
// replicas. A run's outcome follows the deployment or refresh it started,
// from the domain's events and, in case those were missed (a crash, another
// replica), from the journal on each tick. A tick reads only what is due,
// through the journal's indexes, never every environment or schedule.
import { randomBytes } from "node:crypto";
import type { AuditRepository } from "../audit/audit-log";
import { scheduleAction, type Authorization } from "../auth/authorization";
import type { Principal } from "../auth/token-service";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { DeploymentService } from "../deployments/deployment-service";
import { isTerminal } from "../deployments/deployment-states";
import { parseDuration } from "../../infra/duration";
import type { Actor } from "../deployments/model";
import type { DeploymentRepository, EnvironmentRepository } from "../deployments/ports";
import type { EnvironmentRefresh } from "../environments/environment-refresh";
import { maintenanceRequest, type EnvironmentMaintenance } from "../environments/environment-maintenance";
import type { EnvironmentService } from "../environments/environment-service";
import { crashPoint } from "../fault-injection";
import { ForbiddenError, describeError } from "../errors";
import type { Logger } from "../logger";
import { nextRun } from "./cron";
import { decideFiring } from "./firing";
import type { OperationRepository } from "../environments/ports";
import type { RunRepository, RunState, Schedule, ScheduleRepository, ScheduleRun } from "./ports";
import { Ticker } from "../ticker";

export interface SchedulerDeps {
  schedules: ScheduleRepository;
  runs: RunRepository;
  operations: OperationRepository;
  environments: EnvironmentRepository;
  deploymentStore: DeploymentRepository;
  deployments: DeploymentService;
  environmentService: EnvironmentService;
  refresh: EnvironmentRefresh;
  maintenance: EnvironmentMaintenance;
  audit: AuditRepository;
  bus: DomainEventBus;
  logger: Logger;
  intervalMs: number;
  authorization: Authorization;
  /** Who a schedule's creator is now (a revoked token is no one), looked up each time it fires. */
  principalOf(actor: Actor): Promise<Principal | undefined>;
}

export class Scheduler {
  private readonly ticker: Ticker;
  private readonly offs: (() => void)[] = [];

  constructor(private readonly deps: SchedulerDeps) {
    this.ticker = new Ticker(() => this.pass(), {
      intervalMs: deps.intervalMs,
      onError: (err) => deps.logger.warn({ err: String(err) }, "a scheduler pass failed"),
    });
  }

  start(): void {
    const { bus } = this.deps;
    this.offs.push(
      bus.on("deployment:finished", (d) => void this.settle(d.id).catch(() => undefined)),
      bus.on("operation:finished", (op) => void this.settle(op.id).catch(() => undefined)),
      bus.on("environment:removed", (env) => void this.deps.schedules.removeForEnvironment(env.name).catch(() => undefined)),
    );
    this.ticker.start();
    this.ticker.kick();
  }

  async stop(): Promise<void> {
    this.offs.splice(0).forEach((off) => off());
    await this.ticker.stop();
  }

  private async pass(): Promise<void> {
    const { schedules, operations, environments } = this.deps;
    const now = new Date();
    // Read before the environments: work asked for an environment missing afterwards outlived it.
    const due = await schedules.due(now);
    const pending = await operations.pendingEnvironments();
    const names = await environments.existing([...due.map((s) => s.environment), ...pending]);
    for (const s of due) {
      if (!names.has(s.environment)) await schedules.removeForEnvironment(s.environment);
      else await this.fire(s, now).catch((err) => this.deps.logger.error({ err: String(err), scheduleId: s.id }, "a schedule could not fire"));
    }
    for (const name of pending.filter((n) => !names.has(n))) await this.abandon(name);
    await this.reconcile();
    await this.expire(now);
  }

  /** Fails the operations of an environment that was deleted before they ran (here or on another replica). */
  private async abandon(environment: string): Promise<void> {
    const error = { code: "environment_not_found", message: `environment ${environment} was deleted before the operation ran` };
    for (const op of await this.deps.operations.failPending(environment, error)) {
      this.deps.bus.emit("operation:finished", { id: op.id, environment, state: op.state, error });
    }
  }

  private async fire(s: Schedule, now: Date): Promise<void> {
    const { schedules, runs, logger } = this.deps;
    const firing = decideFiring({ cron: s.cron, timezone: s.timezone, nextRunAt: s.nextRunAt! }, parseDuration(s.startingDeadline), now);
    const previous = await runs.running(s.id);
    const state: RunState = firing.action === "missed" ? "missed" : previous.length ? "skipped" : "running";
    const run: ScheduleRun = {
      id: `run_${randomBytes(8).toString("hex")}`,
      scheduleId: s.id,
      environment: s.environment,
      scheduledAt: firing.scheduledAt.toISOString(),
      state,
      startedAt: now.toISOString(),
      ...(state !== "running" ? { finishedAt: now.toISOString() } : {}),
      ...(state === "missed" ? { error: { code: "missed", message: `due at ${firing.scheduledAt.toISOString()}, past its starting deadline of ${s.startingDeadline}` } } : {}),
      ...(state === "skipped" ? { error: { code: "overlap", message: `the previous run (${previous[0].id}) is still going` } } : {}),
      data: { kind: s.kind, ...(firing.coalesced > 0 ? { coalesced: firing.coalesced } : {}) },
    };
    // The run is written before the schedule moves on: a crash between the two leaves a run (ended as
    // interrupted if its work never started) and a schedule still due, which the next pass advances
    // without a second run for the same time. Among replicas, the unique (schedule, time) picks one.
    const inserted = await runs.insert(run);
    crashPoint("schedule:fired");
    await schedules.advance(s.id, s.nextRunAt!, nextRun(s.cron, s.timezone, now)?.toISOString());
    if (!inserted) return;
    logger.info({ scheduleId: s.id, runId: run.id, state, scheduledAt: run.scheduledAt }, "schedule fired");
    if (state !== "running") {
      this.announce(s, run);
      return;
    }
    try {
      const operationId = await this.begin(s, run);
      if (operationId) await runs.setOperation(run.id, operationId);
      else await this.end(run.id, "succeeded");
      await this.deps.audit.append({ actor: this.actor(s), action: `schedule.${s.kind}`, environment: s.environment, subject: operationId ?? run.id, data: { runId: run.id, scheduledAt: run.scheduledAt } });
    } catch (err) {
      await this.end(run.id, "failed", describeError(err));
    }
  }

  /** Starts the run's work; returns the deployment or operation it follows, none when it is done at once. */
  private async begin(s: Schedule, run: ScheduleRun): Promise<string | undefined> {
    const { deployments, environments, environmentService, refresh } = this.deps;
    await this.authorizeRun(s);
    const by = this.actor(s);
    switch (s.kind) {
      case "refresh":
        return (await refresh.request(s.environment, s.onDrift ?? "report", by)).id;
      case "deploy":
        return (await deployments.create(s.environment, s.deployment!, "deploy", by)).id;
      case "repave": {
        const env = await environments.get(s.environment);
        if (!env?.liveVersion || !env.liveArtifact) throw new Error(`environment ${s.environment} has nothing live to repave`);
        return (await deployments.create(s.environment, { version: env.liveVersion, artifact: env.liveArtifact, strategy: { type: "blue-green" } }, "repave", by)).id;
      }
      case "maintenance":
        return (await this.deps.maintenance.request(s.environment, maintenanceRequest(s.maintenance?.on ? s.maintenance : undefined), by)).id;
      case "destroy":
        await environmentService.delete(s.environment);
        this.deps.logger.warn({ scheduleId: s.id, runId: run.id, environment: s.environment }, "scheduled destroy");
        return undefined;
    }
  }

  /** Ends runs whose deployment or operation ended (events missed in a crash or seen by another replica). */
  private async reconcile(): Promise<void> {
    for (const run of await this.deps.runs.running()) {
      if (run.operationId) await this.settle(run.operationId, run);
      // Queuing a run's work takes milliseconds once its run is written; ten seconds without it means the server that wrote it died.
      else if (Date.now() - new Date(run.startedAt ?? run.scheduledAt).getTime() > 10_000) {
        await this.end(run.id, "failed", { code: "interrupted", message: "the server stopped before the run's work was queued" });
      }
    }
  }

  private async settle(operationId: string, known?: ScheduleRun): Promise<void> {
    const runs = known ? [known] : await this.deps.runs.byOperation(operationId);
    if (!runs.some((r) => r.state === "running")) return;
    let outcome: { state: RunState; error?: { code: string; message: string } } | undefined;
    if (operationId.startsWith("dep_")) {
      const d = await this.deps.deploymentStore.get(operationId);
      if (d && isTerminal(d.state)) outcome = d.state === "succeeded" ? { state: "succeeded" } : { state: "failed", error: d.error ?? { code: d.state, message: `the deployment ${d.state}` } };
    } else {
      const op = await this.deps.operations.get(operationId);
      if (op && (op.state === "succeeded" || op.state === "failed")) outcome = { state: op.state, ...(op.error ? { error: op.error } : {}) };
    }
    if (!outcome) return;
    for (const r of runs.filter((x) => x.state === "running")) await this.end(r.id, outcome.state, outcome.error);
  }

  private async end(runId: string, state: RunState, error?: { code: string; message: string }): Promise<void> {
    const run = await this.deps.runs.finish(runId, state, error);
    if (!run) return;
    const s = await this.deps.schedules.get(run.scheduleId);
    this.announce(s ?? { id: run.scheduleId, environment: run.environment, kind: String(run.data.kind) }, run);
  }

  private announce(s: Pick<Schedule, "id" | "environment"> & { kind: string }, run: ScheduleRun): void {
    this.deps.bus.emit("schedule:run_finished", {
      scheduleId: s.id,
      runId: run.id,
      environment: s.environment,
      kind: s.kind,
      state: run.state,
      ...(run.error ? { error: run.error } : {}),
    });
  }

  /** Deletes environments whose `ttl` has run out. */
  private async expire(now: Date): Promise<void> {
    for (const env of await this.deps.environments.expired(now)) {
      await this.deps.environmentService.delete(env.name);
      await this.deps.audit.append({ actor: { kind: "system", id: "ttl", name: "ttl" }, action: "environment.expire", environment: env.name, data: { ttl: env.spec.ttl } });
      this.deps.logger.info({ environment: env.name, ttl: env.spec.ttl }, "environment expired");
    }
  }

  /** A schedule acts with its creator's role and scope as they are now: a creator revoked or narrowed since stops it. */
  private async authorizeRun(s: Schedule): Promise<void> {
    const creator = s.createdBy && (await this.deps.principalOf(s.createdBy));
    if (!creator) {
      throw new ForbiddenError("schedule_creator_revoked", "the token or chat identity that created this schedule no longer exists; create the schedule again", {
        schedule: s.id,
      });
    }
    this.deps.authorization.authorize(creator, scheduleAction(s.kind), s.environment);
  }

  private actor(s: Schedule): Actor {
    // The person behind a schedule is its creator's: four eyes hold against the deployments it makes.
    const person = s.createdBy ? (s.createdBy.person ?? `${s.createdBy.kind}:${s.createdBy.id}`) : undefined;
    return { kind: "schedule", id: s.id, name: `${s.kind} ${s.cron}`, ...(person ? { person } : {}) };
  }
}

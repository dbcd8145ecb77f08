// Maintenance: the environment's balancer keeps requests from its fleets,
// answering them with a page (503, Retry-After) or holding them until
// maintenance ends. It is recorded on the environment, so every later
// traffic change (a deployment's steps, a rollback, a recovery's rebuild of
// the balancer) carries it until it is turned off. Turning it on or off is
// environment work: queued in the environment's lane like a refresh, so it
// never races a deployment's own change of the same balancer.
import { randomBytes } from "node:crypto";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { RunnerDeps } from "../deployments/runner-deps";
import type { Actor, Maintenance } from "../deployments/model";
import { ConflictError, InputError, NotFoundError } from "../errors";
import { runOperation } from "./operation-run";
import type { MaintenanceRequest, Operation, OperationRepository } from "./ports";
import { setMaintenance } from "../deployments/environment-changes";
import { parseDuration } from "../../infra/duration";

const DEFAULT_HOLD = "30s";
export const MAX_HOLD_MS = 300_000;
export const MAX_RETRY_AFTER_S = 86_400;
export const MAX_MESSAGE = 1000;

/** A change as callers ask for it (durations as written), or off. */
export function maintenanceRequest(on: { mode?: "page" | "hold"; retryAfter?: string; holdTimeout?: string; message?: string } | undefined): MaintenanceRequest {
  if (!on) return { on: false, mode: "page", retryAfterSeconds: 0, holdTimeoutMs: 0 };
  return {
    on: true,
    mode: on.mode ?? "page",
    retryAfterSeconds: on.retryAfter ? Math.ceil(parseDuration(on.retryAfter) / 1000) : 0,
    holdTimeoutMs: parseDuration(on.holdTimeout ?? DEFAULT_HOLD),
    ...(on.message ? { message: on.message } : {}),
  };
}

export interface MaintenanceDeps extends RunnerDeps {
  operations: OperationRepository;
  bus: DomainEventBus;
  poke(environment: string): void;
}

export class EnvironmentMaintenance {
  constructor(private readonly deps: MaintenanceDeps) {}

  /** Queues the change behind the environment's other work. */
  async request(environment: string, maintenance: MaintenanceRequest, by?: Actor): Promise<Operation> {
    // Every caller's request (the API's, a chat command's) is held to the same bounds, here.
    if (maintenance.on && !(maintenance.holdTimeoutMs >= 1 && maintenance.holdTimeoutMs <= MAX_HOLD_MS)) {
      throw new InputError("validation_failed", "a hold lasts between 1ms and 5m", { field: "holdTimeout" });
    }
    if (maintenance.retryAfterSeconds < 0 || maintenance.retryAfterSeconds > MAX_RETRY_AFTER_S) throw new InputError("validation_failed", "retryAfter is at most 24h", { field: "retryAfter" });
    if ((maintenance.message?.length ?? 0) > MAX_MESSAGE) throw new InputError("validation_failed", `the message is at most ${MAX_MESSAGE} characters`, { field: "message" });
    const env = await this.deps.environments.get(environment);
    if (!env) throw new NotFoundError("environment_not_found", `no environment named ${environment}`, { environment });
    if (env.status === "deleting") throw new ConflictError("environment_not_ready", `environment ${environment} is being deleted`, { environment, status: env.status });
    const target = this.deps.targets.get(env.spec.target);
    if (!target.maintenance) {
      throw new ConflictError(
        "maintenance_unsupported",
        `maintenance needs a balancer Cutover runs (the local target); a ${env.spec.target} environment's traffic goes through its own load balancer or gateway`,
        { environment, target: env.spec.target },
      );
    }
    const now = new Date().toISOString();
    const op: Operation = { id: `op_${randomBytes(8).toString("hex")}`, environment, kind: "maintenance", state: "queued", maintenance, ...(by ? { requestedBy: by } : {}), createdAt: now, updatedAt: now };
    await this.deps.operations.insert(op);
    this.deps.poke(environment);
    return op;
  }

  /** Runs a queued (or, after a crash, a running) change to its end: recorded first, then made on the balancer and read back. */
  async run(op: Operation): Promise<void> {
    const { environments, traffic, bus, logger } = this.deps;
    await runOperation(this.deps, op, async (current) => {
      const wanted = op.maintenance!;
      const at = new Date().toISOString();
      const setting: Maintenance | undefined = wanted.on
        ? {
            mode: wanted.mode,
            retryAfterSeconds: wanted.retryAfterSeconds,
            holdTimeoutMs: wanted.holdTimeoutMs,
            ...(wanted.message ? { message: wanted.message } : {}),
            since: current.maintenance?.since ?? at,
            ...(op.requestedBy ? { by: op.requestedBy } : {}),
          }
        : undefined;
      let env = await environments.update(current.name, setMaintenance(setting));
      if (env.traffic) env = await traffic.apply(env, env.weights, { label: "maintenance" });
      logger.info({ environment: env.name, maintenance: setting ? setting.mode : "off" }, setting ? "maintenance on" : "maintenance off");
      bus.emit("environment:maintenance", { environment: env.name, on: Boolean(setting), ...(setting ? { mode: setting.mode, since: setting.since } : {}), ...(op.requestedBy ? { by: op.requestedBy } : {}), at });
    });
  }
}

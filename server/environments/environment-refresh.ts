// Refresh: reads an environment back from reality and records what
// differs (drift). The traffic stack gets a Pulumi refresh (the balancer's
// routing, the listener or the route read back into its state), and what
// that refresh changed is drift. Fleets are
// judged by observing them (processes, instances), not refreshed: a fleet
// that lost part of itself still serves traffic, and a refresh would record
// it as gone. With `onDrift: "repave"`, drift queues a repave: the live
// version rebuilt on a brand-new fleet through a normal blue/green
// deployment. Refreshes run in the environment's lane, like deployments.
import { randomBytes } from "node:crypto";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { RunnerDeps } from "../deployments/runner-deps";
import type { Actor, Environment } from "../deployments/model";
import type { RefreshChanges } from "../deployments/stack-engine";
import { ConflictError, NotFoundError } from "../errors";
import { runOperation } from "./operation-run";
import type { Operation, OperationRepository } from "./ports";
import { stackNames } from "../deployments/deployment-target";
import { observeEnvironment, type Drift } from "./environment-observation";
import { recordDrift } from "../deployments/environment-changes";

export interface RefreshDeps extends RunnerDeps {
  operations: OperationRepository;
  bus: DomainEventBus;
  poke(environment: string): void;
  /** Queues a repave: a blue/green deployment of the live version, asked for by `by`. */
  repave(environment: string, live: { version: string; artifact: NonNullable<Environment["liveArtifact"]> }, by: Actor): Promise<{ id: string }>;
}

export class EnvironmentRefresh {
  constructor(private readonly deps: RefreshDeps) {}

  /** Queues a refresh behind the environment's other work. */
  async request(environment: string, onDrift: Operation["onDrift"] = "report", by?: Actor): Promise<Operation> {
    const env = await this.deps.environments.get(environment);
    if (!env) throw new NotFoundError("environment_not_found", `no environment named ${environment}`, { environment });
    if (env.status === "deleting") throw new ConflictError("environment_not_ready", `environment ${environment} is being deleted`, { environment, status: env.status });
    const now = new Date().toISOString();
    const op: Operation = {
      id: `op_${randomBytes(8).toString("hex")}`,
      environment,
      kind: "refresh",
      state: "queued",
      onDrift,
      ...(by ? { requestedBy: by } : {}),
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.operations.insert(op);
    this.deps.poke(environment);
    return op;
  }

  async get(id: string): Promise<Operation> {
    const op = await this.deps.operations.get(id);
    if (!op) throw new NotFoundError("operation_not_found", `no operation with id ${id}`, { operation: id });
    return op;
  }

  /** Runs a queued (or, after a crash, a running) refresh to its end. */
  async run(op: Operation): Promise<void> {
    const { environments, engine, bus, logger } = this.deps;
    await runOperation(this.deps, op, async (env) => {
      const trafficStack = stackNames(env.name).traffic;
      // Cutover's own direct changes are recorded first: only what differs after that came from outside.
      if (env.trafficUnrecorded) await this.deps.traffic.record(env);
      const changed = describeChanges(await engine.refresh(trafficStack));
      const observed = await observeEnvironment(this.deps, env, false);
      const at = new Date().toISOString();
      const items: Drift[] = [
        ...(changed ? [{ kind: "stack_changed" as const, stack: trafficStack, message: `a Pulumi refresh of ${trafficStack} found ${changed} outside Cutover` }] : []),
        ...observed.drift,
      ];
      await environments.update(env.name, recordDrift(items.length ? { at, operationId: op.id, items } : undefined));
      op.drift = items;
      if (items.length) {
        logger.warn({ environment: env.name, drift: items }, "refresh found drift");
        bus.emit("environment:drifted", { environment: env.name, drift: items, at });
        if (op.onDrift === "repave") op.repaveDeploymentId = await this.repave(env.name, op);
      }
    });
  }

  private async repave(environment: string, op: Operation): Promise<string | undefined> {
    const env = await this.deps.environments.get(environment);
    if (!env?.liveVersion || !env.liveArtifact) return undefined;
    const by: Actor = op.requestedBy ?? { kind: "system", id: op.id, name: "refresh" };
    const d = await this.deps.repave(environment, { version: env.liveVersion, artifact: env.liveArtifact }, by);
    return d.id;
  }
}

/** "1 resource updated, 2 deleted", or undefined when the refresh changed nothing. */
function describeChanges(changes: RefreshChanges): string | undefined {
  const parts = Object.entries(changes).map(([op, n]) => `${n} ${op.replace(/e?$/, "ed")}`);
  if (!parts.length) return undefined;
  const total = Object.values(changes).reduce((a, b) => a + b, 0);
  return `${total} resource${total === 1 ? "" : "s"} changed (${parts.join(", ")})`;
}

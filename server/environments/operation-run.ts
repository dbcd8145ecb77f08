// How an environment operation runs, whatever its kind: marked running,
// its work done against an environment that is ready, its end (succeeded,
// or failed with the error) saved and announced.
import type { DomainEventBus } from "../deployments/deployment-events";
import type { Environment } from "../deployments/model";
import type { EnvironmentRepository } from "../deployments/ports";
import { ConflictError, describeError } from "../errors";
import type { Operation, OperationRepository } from "./ports";

export async function runOperation(
  deps: { environments: EnvironmentRepository; operations: OperationRepository; bus: DomainEventBus },
  op: Operation,
  work: (env: Environment) => Promise<void>,
): Promise<void> {
  const { environments, operations, bus } = deps;
  op.state = "running";
  await operations.save(op);
  try {
    const env = await environments.get(op.environment);
    if (!env || env.status !== "ready") throw new ConflictError("environment_not_ready", `environment ${op.environment} is ${env?.status ?? "gone"}`);
    await work(env);
    op.state = "succeeded";
  } catch (err) {
    op.state = "failed";
    op.error = describeError(err);
  }
  await operations.save(op);
  bus.emit("operation:finished", { id: op.id, environment: op.environment, state: op.state, ...(op.error ? { error: op.error } : {}) });
}

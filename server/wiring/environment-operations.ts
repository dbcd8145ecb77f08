// The environment's own work other than deployments, as its lane runs it:
// refreshes and maintenance changes, one queue in the order they were asked for.
import type { DomainEventBus } from "../deployments/deployment-events";
import type { RunnerDeps } from "../deployments/runner-deps";
import { EnvironmentMaintenance } from "../environments/environment-maintenance";
import { EnvironmentRefresh, type RefreshDeps } from "../environments/environment-refresh";
import type { OperationRepository } from "../environments/ports";

export function environmentOperations(core: RunnerDeps, deps: { operations: OperationRepository; bus: DomainEventBus; poke(environment: string): void; repave: RefreshDeps["repave"] }) {
  const { operations } = deps;
  const refresh = new EnvironmentRefresh({ ...core, ...deps });
  const maintenance = new EnvironmentMaintenance({ ...core, operations, bus: deps.bus, poke: deps.poke });
  return {
    refresh,
    maintenance,
    /** What the lane's reconciler asks of them. */
    lane: {
      next: (name: string) => operations.next(name),
      run: async (name: string) => {
        const op = await operations.next(name);
        if (op) await (op.kind === "maintenance" ? maintenance.run(op) : refresh.run(op));
      },
      pendingEnvironments: () => operations.pendingEnvironments(),
    },
  };
}

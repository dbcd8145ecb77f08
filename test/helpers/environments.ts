// Environment specs for tests: the fixture app, a unique process marker, fast health checks.
import { randomBytes } from "node:crypto";
import { fixtureApp } from "./temp-dir";

export const uniqueMark = () => `m${randomBytes(5).toString("hex")}`;

/**
 * An environment for the benches: as environmentSpec, with a start timeout
 * that twenty fleets starting at once on two cores stay within.
 */
export async function benchEnvironmentSpec(name: string, mark: string) {
  const spec = await environmentSpec(name, mark);
  return { ...spec, fleet: { ...spec.fleet, healthCheck: { ...spec.fleet.healthCheck, startTimeout: "60s" } } };
}

export async function environmentSpec(name: string, mark: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    target: "local",
    fleet: {
      replicas: 2,
      artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark } },
      healthCheck: { path: "/healthz", interval: "100ms", timeout: "1s", healthyThreshold: 2, startTimeout: "8s" },
      drainTimeout: "2s",
    },
    // Port 0: the balancer binds a free port itself and reports it, so no port is probed and handed on.
    local: { listenPort: 0, stickyHeader: "x-user" },
    ...extra,
  };
}

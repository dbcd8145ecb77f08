// The only prom-client importer. Metrics follow domain events; nothing in
// the domain knows they exist.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { DeploymentRepository, EnvironmentRepository } from "../deployments/ports";
import { STATES } from "../deployments/deployment-states";

export interface Metrics {
  registry: Registry;
  stop(): void;
}

export function createMetrics(bus: DomainEventBus, environments: EnvironmentRepository, journal: DeploymentRepository): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "cutover_process_" });

  const deployments = new Counter({
    name: "cutover_deployments_total",
    help: "Deployments this replica brought to an end, by result and strategy.",
    labelNames: ["result", "strategy"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "cutover_journal_deployments",
    help: "Deployments in the journal by state, whichever replica ran them (the shared store's count).",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      const counts = await journal.countByState();
      this.reset();
      for (const state of STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  const phaseSeconds = new Histogram({
    name: "cutover_deployment_phase_duration_seconds",
    help: "Time deployments spent in each phase.",
    labelNames: ["phase"] as const,
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  const weights = new Gauge({
    name: "cutover_environment_traffic_weight",
    help: "Share of traffic (0-100) each color of an environment receives.",
    labelNames: ["environment", "color"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "cutover_environments",
    help: "Environments, by status.",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      const all = await environments.list();
      this.reset();
      for (const env of all) this.inc({ status: env.status });
    },
  });

  void environments.list().then(
    (all) => {
      for (const env of all) {
        weights.set({ environment: env.name, color: "blue" }, env.weights.blue);
        weights.set({ environment: env.name, color: "green" }, env.weights.green);
      }
    },
    () => undefined,
  );
  const off = [
    bus.on("deployment:finished", (d) => deployments.inc({ result: d.state, strategy: d.strategy.type })),
    bus.on("deployment:phase", ({ previous, secondsInPrevious }) => {
      if (previous !== "queued") phaseSeconds.observe({ phase: previous }, secondsInPrevious);
    }),
    bus.on("environment:weights", ({ environment, weights: w }) => {
      weights.set({ environment, color: "blue" }, w.blue);
      weights.set({ environment, color: "green" }, w.green);
    }),
    bus.on("environment:removed", (env) => {
      weights.remove({ environment: env.name, color: "blue" });
      weights.remove({ environment: env.name, color: "green" });
    }),
  ];
  return { registry, stop: () => off.forEach((f) => f()) };
}

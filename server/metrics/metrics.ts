// The only prom-client importer. Metrics follow domain events; nothing in
// the domain knows they exist.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { DeploymentRepository, EnvironmentRepository } from "../deployments/ports";
import { STATES } from "../deployments/deployment-states";
import { WAIT_REASONS, waitOf } from "../deployments/waiting";
import { quantile } from "../analysis/metric-sources";
import type { Color, Environment } from "../deployments/model";
import type { PoolStats } from "../deployments/deployment-target";

/** Reads a live pool's counters from its balancer, where the target can (the local balancer's admin port). */
export type LiveStats = (env: Environment) => Promise<Partial<Record<Color, PoolStats>> | undefined>;

export interface Metrics {
  registry: Registry;
  /** One request served: its method, its route's pattern, and the seconds from its arrival to its response's end. */
  observeRequest(method: string, route: string, seconds: number): void;
  stop(): void;
}

export function createMetrics(bus: DomainEventBus, environments: EnvironmentRepository, journal: DeploymentRepository, liveStats?: LiveStats): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "cutover_process_" });

  const deployments = new Counter({
    name: "cutover_deployments_total",
    help: "Deployments this replica brought to an end, by environment, strategy and result (succeeded, rolled_back, failed, cancelled).",
    labelNames: ["environment", "strategy", "result"] as const,
    registers: [registry],
  });
  const requestSeconds = new Histogram({
    name: "cutover_http_request_duration_seconds",
    help: "Time from a request's arrival to the end of its response, as the server measures it, by method and route pattern.",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const deploymentSeconds = new Histogram({
    name: "cutover_deployment_duration_seconds",
    help: "Time from a deployment's start to its end (queueing excluded), by environment, strategy and result.",
    labelNames: ["environment", "strategy", "result"] as const,
    buckets: [5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers: [registry],
  });
  const promotions = new Counter({
    name: "cutover_promotions_total",
    help: "Promotions through pipelines this replica brought to an end, by pipeline, stage, result and whether they were forced past the pipeline's rules.",
    labelNames: ["pipeline", "stage", "result", "forced"] as const,
    registers: [registry],
  });
  const leadSeconds = new Histogram({
    name: "cutover_release_lead_seconds",
    help: "Time from a release being recorded to a promotion of it succeeding in a stage (for the last stage: from build to production), by pipeline and stage.",
    labelNames: ["pipeline", "stage"] as const,
    buckets: [60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400],
    registers: [registry],
  });
  const measurements = new Counter({
    name: "cutover_analysis_measurements_total",
    help: "Metric analysis measurements, by environment, metric and outcome (successful, failed, inconclusive).",
    labelNames: ["environment", "metric", "outcome"] as const,
    registers: [registry],
  });
  const analysisFailures = new Counter({
    name: "cutover_analysis_failures_total",
    help: "Analyses that rolled a deployment back, by environment and metric.",
    labelNames: ["environment", "metric"] as const,
    registers: [registry],
  });
  const gateOutcomes = new Counter({
    name: "cutover_gate_outcomes_total",
    help: "Gates passed, approved, rejected or failed, by environment and gate kind.",
    labelNames: ["environment", "kind", "outcome"] as const,
    registers: [registry],
  });
  // What the balancer saw of each environment's live version since it went live (scraped from the balancer when Prometheus scrapes Cutover).
  const liveSeries = async () => {
    if (!liveStats) return [];
    const all = (await environments.list()).filter((e) => e.status === "ready" && e.activeColor && e.liveVersion);
    const read = await Promise.all(all.map(async (env) => ({ env, stats: await liveStats(env).catch(() => undefined) })));
    return read.flatMap(({ env, stats }) => {
      const live = stats?.[env.activeColor!];
      return live && live.requests > 0 ? [{ labels: { environment: env.name, version: env.liveVersion! }, live }] : [];
    });
  };
  new Gauge({
    name: "cutover_live_version_error_ratio",
    help: "Share of the live version's requests answered 5xx (or retried away from it) since it took traffic, as its balancer counts them.",
    labelNames: ["environment", "version"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { labels, live } of await liveSeries()) this.set(labels, live.errors / live.requests);
    },
  });
  new Gauge({
    name: "cutover_live_version_latency_p95_seconds",
    help: "95th percentile of the live version's response time since it took traffic, from its balancer's histogram.",
    labelNames: ["environment", "version"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { labels, live } of await liveSeries()) if (live.latency?.length) this.set(labels, quantile(0.95, live.latency));
    },
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
  // Who is waited on, and for how long: the journal's queued and paused deployments, whichever replica holds them.
  const waits = async () => {
    const open = (await Promise.all((["queued", "paused"] as const).map((state) => journal.list({ state, limit: 10_000 })))).flat();
    const now = Date.now();
    return open.flatMap((d) => {
      const w = waitOf(d);
      return w ? [{ reason: w.reason, seconds: Math.max(0, (now - Date.parse(w.since)) / 1000) }] : [];
    });
  };
  new Gauge({
    name: "cutover_deployments_waiting",
    help: "Deployments waiting, by what for: queued (their turn), gate (a person at a manual gate or approval), paused (a person at a paused canary), analysis (a person after an inconclusive analysis).",
    labelNames: ["reason"] as const,
    registers: [registry],
    async collect() {
      const all = await waits();
      this.reset();
      for (const reason of WAIT_REASONS) this.set({ reason }, all.filter((w) => w.reason === reason).length);
    },
  });
  new Gauge({
    name: "cutover_deployment_longest_wait_seconds",
    help: "How long the longest-waiting deployment of each reason has waited (0 when none waits).",
    labelNames: ["reason"] as const,
    registers: [registry],
    async collect() {
      const all = await waits();
      this.reset();
      for (const reason of WAIT_REASONS) this.set({ reason }, Math.max(0, ...all.filter((w) => w.reason === reason).map((w) => w.seconds)));
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
    bus.on("deployment:finished", (d) => {
      const labels = { environment: d.environment, strategy: d.strategy.type, result: d.state };
      deployments.inc(labels);
      if (d.startedAt && d.finishedAt) deploymentSeconds.observe(labels, (Date.parse(d.finishedAt) - Date.parse(d.startedAt)) / 1000);
      if (!d.promotion) return;
      promotions.inc({ pipeline: d.promotion.pipeline, stage: d.environment, result: d.state, forced: String(d.promotion.forced === true) });
      if (d.state === "succeeded" && d.release?.recordedAt && d.finishedAt) {
        leadSeconds.observe({ pipeline: d.promotion.pipeline, stage: d.environment }, (Date.parse(d.finishedAt) - Date.parse(d.release.recordedAt)) / 1000);
      }
    }),
    bus.on("deployment:event", (e) => {
      if (e.type === "deployment:measurement") measurements.inc({ environment: e.environment, metric: String(e.data.metric), outcome: String(e.data.outcome) });
      else if (e.type === "deployment:analysis_failed") analysisFailures.inc({ environment: e.environment, metric: String(e.data.metric ?? "error-rate") });
      else if (e.type === "gate:passed" || e.type === "gate:approved" || e.type === "gate:rejected" || e.type === "gate:failed") {
        gateOutcomes.inc({ environment: e.environment, kind: String(e.data.kind), outcome: e.type.slice(5) });
      }
    }),
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
  return {
    registry,
    observeRequest: (method, route, seconds) => requestSeconds.observe({ method, route }, seconds),
    stop: () => off.forEach((f) => f()),
  };
}

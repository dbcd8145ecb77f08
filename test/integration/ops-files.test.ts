// The Prometheus rules, scrape config and Grafana dashboard shipped in
// ops/, loaded by Debian's promtool: the rules and config must load, every
// dashboard query must parse as PromQL, and every metric they name must be
// one Cutover or its balancer exposes.
import { execFileSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DomainEventBus } from "../../server/deployments/deployment-events";
import type { DeploymentRepository, EnvironmentRepository } from "../../server/deployments/ports";
import { projectRoot } from "../../server/engine/toolchain";
import { createMetrics } from "../../server/metrics/metrics";
import { tempDir } from "../helpers/temp-dir";

const ops = path.join(projectRoot, "ops");
const promtool = (...args: string[]) => execFileSync("promtool", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

interface Panel {
  title: string;
  targets: { expr: string }[];
}
const dashboard = JSON.parse(readFileSync(path.join(ops, "grafana", "cutover-dashboard.json"), "utf8")) as { panels: Panel[]; templating: { list: { name: string }[] } };
const dashboardExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
const alertsText = readFileSync(path.join(ops, "prometheus", "alerts.yml"), "utf8");

/** Metric names Cutover registers, read from its real registry, and those the balancer's Go source declares. */
async function exposedNames(): Promise<Set<string>> {
  const environments = { list: async () => [] } as unknown as EnvironmentRepository;
  const journal = { countByState: async () => ({}), list: async () => [] } as unknown as DeploymentRepository;
  const metrics = createMetrics(new DomainEventBus(), environments, journal, async () => undefined);
  try {
    const names = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const proxyDir = path.join(projectRoot, "infra", "local", "proxy");
    for (const file of readdirSync(proxyDir).filter((f) => f.endsWith(".go") && !f.endsWith("_test.go"))) {
      for (const m of readFileSync(path.join(proxyDir, file), "utf8").matchAll(/\b(cutover_proxy_[a-z0-9_]+)/g)) names.add(m[1].replace(/_(bucket|count|sum)$/, ""));
    }
    return names;
  } finally {
    metrics.stop();
  }
}

const metricNames = (expr: string) => [...expr.matchAll(/\b(cutover_[a-z0-9_]+)/g)].map((m) => m[1].replace(/_(bucket|count|sum)$/, ""));

describe("ops/ for Prometheus and Grafana", () => {
  it("loads the alerting rules with promtool", () => {
    expect(promtool("check", "rules", path.join(ops, "prometheus", "alerts.yml"))).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("loads the scrape config (with its rules) with promtool", () => {
    const dir = tempDir("ops-config");
    for (const f of ["scrape.yml", "alerts.yml"]) copyFileSync(path.join(ops, "prometheus", f), path.join(dir, f));
    writeFileSync(path.join(dir, "cutover-metrics-token"), "a-metrics-token\n");
    expect(promtool("check", "config", path.join(dir, "scrape.yml"))).toMatch(/SUCCESS/);
  });

  it("has a dashboard whose every query parses as PromQL", () => {
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(["datasource", "environment"]);
    expect(dashboardExprs.length).toBeGreaterThanOrEqual(10);
    // Each query as a recording rule, with the dashboard's variable filled in, is checked by promtool's parser.
    const rules = dashboardExprs.map((q, i) => `      - record: cutover:dashboard:q${i}\n        expr: ${JSON.stringify(q.expr.replaceAll("$environment", ".*"))}`);
    const file = path.join(tempDir("ops-dashboard"), "dashboard-queries.yml");
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`);
    expect(promtool("check", "rules", file)).toContain(`SUCCESS: ${dashboardExprs.length} rules found`);
  });

  it("fires the waiting alerts once a wait passes its deadline, and not before (promtool test rules)", () => {
    const dir = tempDir("ops-rules-test");
    copyFileSync(path.join(ops, "prometheus", "alerts.yml"), path.join(dir, "alerts.yml"));
    // A gate waited on from minute 0 (its wait grows 60 s a minute); a queued deployment from minute 10.
    const test = `rule_files: [alerts.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'cutover_deployment_longest_wait_seconds{reason="gate"}'
        values: '0+60x90'
      - series: 'cutover_deployment_longest_wait_seconds{reason="queued"}'
        values: '0x10 0+60x80'
    alert_rule_test:
      - eval_time: 50m
        alertname: CutoverDeploymentWaitingTooLong
        exp_alerts: []
      - eval_time: 61m
        alertname: CutoverDeploymentWaitingTooLong
        exp_alerts:
          - exp_labels: {severity: warning, reason: gate}
            exp_annotations:
              summary: "A deployment has waited on a person (gate) for more than an hour"
              description: "It holds its environment (nothing else deploys there meanwhile). Approve, promote or abort it: the web UI's landing page lists what waits on a person."
      - eval_time: 25m
        alertname: CutoverDeploymentQueuedTooLong
        exp_alerts: []
      - eval_time: 27m
        alertname: CutoverDeploymentQueuedTooLong
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: "A deployment has been queued for more than 15 minutes"
              description: "Its environment is busy with an earlier deployment that may be waiting on a person, or no replica is taking work."
`;
    writeFileSync(path.join(dir, "waiting-test.yml"), test);
    expect(promtool("test", "rules", path.join(dir, "waiting-test.yml"))).toMatch(/SUCCESS/);
  });

  it("names only metrics that Cutover or its balancer expose", async () => {
    const names = await exposedNames();
    const used = new Set([...dashboardExprs.flatMap((q) => metricNames(q.expr)), ...metricNames(alertsText)]);
    const unknown = [...used].filter((n) => !names.has(n));
    expect(unknown).toEqual([]);
    for (const seed of ["cutover_deployments_total", "cutover_deployment_duration_seconds", "cutover_live_version_error_ratio", "cutover_live_version_latency_p95_seconds", "cutover_analysis_measurements_total"]) {
      expect(names.has(seed)).toBe(true);
    }
  });
});

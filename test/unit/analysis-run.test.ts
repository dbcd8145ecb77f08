import { AnalysisRun, MeasureError, judge } from "../../server/analysis/analysis-run";
import { quantile } from "../../server/analysis/metric-sources";
import type { AnalysisMetric, MetricAnalysis } from "../../infra/vocabulary";

const metric = (over: Partial<AnalysisMetric> = {}): AnalysisMetric => ({
  name: "errors",
  provider: { builtin: { metric: "error-rate" } },
  successCondition: "result < 0.05",
  noData: "inconclusive",
  ...over,
});

describe("judging a measurement", () => {
  it("applies the success and failure conditions", () => {
    expect(judge(metric(), [0.01])).toBe("successful");
    expect(judge(metric(), [0.2])).toBe("failed");
    expect(judge(metric({ successCondition: undefined, failureCondition: "result > 0.1" }), [0.05])).toBe("successful");
    expect(judge(metric({ successCondition: undefined, failureCondition: "result > 0.1" }), [0.5])).toBe("failed");
    // Both given and neither holds: inconclusive.
    expect(judge(metric({ successCondition: "result < 0.01", failureCondition: "result > 0.1" }), [0.05])).toBe("inconclusive");
  });

  it("counts no data as the metric says, never as a silent pass", () => {
    expect(judge(metric(), undefined)).toBe("inconclusive");
    expect(judge(metric({ noData: "fail" }), [])).toBe("failed");
    expect(judge(metric({ noData: "pass" }), undefined)).toBe("successful");
  });
});

describe("an analysis run", () => {
  const spec = (over: Partial<MetricAnalysis> = {}): MetricAnalysis => ({ interval: "1s", failureLimit: 1, inconclusiveLimit: 1, metrics: [metric()], ...over });

  it("fails once failures pass the limit", async () => {
    const values = [[0.2], [0.01], [0.3]];
    const run = new AnalysisRun(spec(), async () => values.shift(), 1000);
    await run.round();
    expect(run.verdict()).toEqual({ kind: "continue" });
    await run.round();
    await run.round();
    expect(run.verdict()).toMatchObject({ kind: "failed", metric: "errors" });
  });

  it("asks for a person once inconclusive results pass their limit, and goes on after", async () => {
    const run = new AnalysisRun(spec({ inconclusiveLimit: 0 }), async () => undefined, 1000);
    await run.round();
    expect(run.verdict()).toMatchObject({ kind: "inconclusive" });
    run.acknowledgeInconclusive();
    expect(run.verdict()).toEqual({ kind: "continue" });
  });

  it("counts a source that cannot be asked as inconclusive, with the reason", async () => {
    const run = new AnalysisRun(spec(), async () => Promise.reject(new MeasureError("prometheus:9090 could not be reached")), 1000);
    const [m] = await run.round();
    expect(m).toMatchObject({ outcome: "inconclusive", message: "could not measure: prometheus:9090 could not be reached" });
  });

  it("keeps no text of an unexpected failure: it may quote a header value or an answer", async () => {
    const run = new AnalysisRun(spec(), async () => Promise.reject(new Error('Invalid header value "Bearer cut_admin\u0000secret"')), 1000);
    const [m] = await run.round();
    expect(m).toMatchObject({ outcome: "inconclusive", message: "could not measure: the metric source failed" });
    expect(JSON.stringify(m)).not.toContain("cut_admin");
  });

  it("takes each metric at most `count` times, one round per interval", async () => {
    let calls = 0;
    const run = new AnalysisRun(spec({ metrics: [metric({ count: 2 })] }), async () => (calls++, [0.01]), 1000);
    expect(run.due(0)).toBe(true);
    await run.round(10_000);
    expect(run.due(10_500)).toBe(false);
    expect(run.due(11_000)).toBe(true);
    await run.round(11_000);
    await run.round(12_000);
    expect(calls).toBe(2);
  });
});

describe("latency quantiles from the balancer's histogram", () => {
  it("interpolate within the bucket, as histogram_quantile does", () => {
    const buckets = [
      { le: 0.005, count: 0 },
      { le: 0.01, count: 50 },
      { le: 0.1, count: 90 },
      { le: 1, count: 100 },
      { le: Infinity, count: 100 },
    ];
    expect(quantile(0.5, buckets)).toBeCloseTo(0.01);
    expect(quantile(0.95, buckets)).toBeCloseTo(0.1 + 0.9 * 0.5);
    expect(quantile(0.25, buckets)).toBeCloseTo(0.005 + 0.005 * 0.5);
    expect(Number.isNaN(quantile(0.95, [{ le: Infinity, count: 0 }]))).toBe(true);
  });
});

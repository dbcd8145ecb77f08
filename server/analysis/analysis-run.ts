// One metric analysis over a pause or a bake: measures each metric every
// interval, judges each measurement by its conditions, and keeps the
// counts that decide the verdict. More failures than `failureLimit` (for
// any metric) fail the analysis; more inconclusive measurements than
// `inconclusiveLimit` hand the decision to a person. A measurement with no
// data counts as the metric's `noData` says, explicitly: never as a pass
// by accident.
import type { AnalysisMetric, MetricAnalysis } from "../../infra/vocabulary";
import { parseCondition } from "./condition";

export type Outcome = "successful" | "failed" | "inconclusive";

export interface Measurement {
  metric: string;
  /** The values measured; absent when there was no data or the source failed. */
  value?: number[];
  outcome: Outcome;
  message?: string;
  at: string;
}

/** A source's failure whose message is safe to keep where viewers read it (a short reason, nothing the far side sent). */
export class MeasureError extends Error {
  override readonly name = "MeasureError";
}

/** What may be kept of a source's failure: its own short reason, or nothing of an unexpected error's text. */
export const failureReason = (err: unknown): string => `could not measure: ${err instanceof MeasureError ? err.message.slice(0, 200) : "the metric source failed"}`;

/** Measures a metric: its values, or undefined when the source has no data. Throws when the source cannot be asked. */
export type Measure = (metric: AnalysisMetric) => Promise<number[] | undefined>;

export type Verdict = { kind: "continue" } | { kind: "failed" | "inconclusive"; metric: string; message: string };

const NO_DATA: Record<AnalysisMetric["noData"], Outcome> = { pass: "successful", fail: "failed", inconclusive: "inconclusive" };

/** Judges one measurement by the metric's conditions. */
export function judge(metric: AnalysisMetric, value: number[] | undefined): Outcome {
  if (value === undefined || value.length === 0) return NO_DATA[metric.noData];
  const result = value.length === 1 ? value[0] : value;
  if (metric.failureCondition && parseCondition(metric.failureCondition).evaluate(result)) return "failed";
  if (metric.successCondition) {
    if (parseCondition(metric.successCondition).evaluate(result)) return "successful";
    return metric.failureCondition ? "inconclusive" : "failed";
  }
  return "successful";
}

export class AnalysisRun {
  private readonly counts = new Map<string, { taken: number; failed: number; inconclusive: number }>();
  private lastAt = 0;

  constructor(
    private readonly spec: MetricAnalysis,
    private readonly measure: Measure,
    private readonly intervalMs: number,
  ) {
    for (const m of spec.metrics) this.counts.set(m.name, { taken: 0, failed: 0, inconclusive: 0 });
  }

  /** Whether a round of measurements is due (the first one is due at once). */
  due(now = Date.now()): boolean {
    return this.lastAt === 0 || now - this.lastAt >= this.intervalMs;
  }

  /** Whether any measurement has been taken yet. */
  get measured(): boolean {
    return this.lastAt !== 0;
  }

  /** Takes one measurement of each metric that has not reached its count. */
  async round(now = Date.now()): Promise<Measurement[]> {
    this.lastAt = now;
    const out: Measurement[] = [];
    for (const metric of this.spec.metrics) {
      const c = this.counts.get(metric.name)!;
      if (metric.count !== undefined && c.taken >= metric.count) continue;
      c.taken++;
      let measurement: Measurement;
      try {
        const value = await this.measure(metric);
        const outcome = judge(metric, value);
        measurement = { metric: metric.name, ...(value?.length ? { value } : {}), outcome, ...(value?.length ? {} : { message: "no data" }), at: new Date(now).toISOString() };
      } catch (err) {
        measurement = { metric: metric.name, outcome: "inconclusive", message: failureReason(err), at: new Date(now).toISOString() };
      }
      if (measurement.outcome === "failed") c.failed++;
      if (measurement.outcome === "inconclusive") c.inconclusive++;
      out.push(measurement);
    }
    return out;
  }

  verdict(): Verdict {
    for (const [metric, c] of this.counts) {
      if (c.failed > this.spec.failureLimit) {
        return { kind: "failed", metric, message: `metric ${metric} failed ${c.failed} of ${c.taken} measurements (failureLimit ${this.spec.failureLimit})` };
      }
    }
    for (const [metric, c] of this.counts) {
      if (c.inconclusive > this.spec.inconclusiveLimit) {
        return { kind: "inconclusive", metric, message: `metric ${metric} was inconclusive ${c.inconclusive} times (inconclusiveLimit ${this.spec.inconclusiveLimit})` };
      }
    }
    return { kind: "continue" };
  }

  /** Inconclusive results a person has seen are forgotten, so the analysis can go on after they resume it. */
  acknowledgeInconclusive(): void {
    for (const c of this.counts.values()) c.inconclusive = 0;
  }
}

// Where metric values come from: the balancer's own counters for the new
// pool (builtin), a Prometheus server's HTTP API, or any JSON endpoint.
// Queries and URLs may name `{{version}}`, `{{color}}` and `{{environment}}`.
import { readFileSync } from "node:fs";
import type { AnalysisMetric, Color } from "../../infra/vocabulary";
import type { Measure } from "./analysis-run";

export interface PoolSample {
  requests: number;
  errors: number;
  /** Cumulative histogram: requests at or under each bound, in seconds. */
  latency?: { le: number; count: number }[];
}

export interface MeasureContext {
  environment: string;
  version: string;
  color: Color;
  /** The new pool's counters now; undefined when the target has none. */
  sample(): Promise<PoolSample | undefined>;
}

const fill = (text: string, c: MeasureContext, encode: (s: string) => string = (s) => s) =>
  text.replace(/\{\{(version|color|environment)\}\}/g, (_m, k: "version" | "color" | "environment") => encode(c[k]));

/** A Measure for one analysis: the builtin metrics count from the counters at its start. */
export async function metricSource(c: MeasureContext): Promise<Measure> {
  const baseline = await c.sample().catch(() => undefined);
  return async (metric: AnalysisMetric) => {
    const p = metric.provider;
    if ("builtin" in p) return builtin(p.builtin.metric, baseline, await c.sample());
    if ("prometheus" in p) return prometheus(p.prometheus.address, fill(p.prometheus.query, c), p.prometheus.bearerTokenFile);
    return web(fill(p.web.url, c, encodeURIComponent), p.web.jsonPath);
  };
}

function builtin(metric: "error-rate" | "latency-p95" | "latency-p99", from: PoolSample | undefined, to: PoolSample | undefined): number[] | undefined {
  if (!from || !to) return undefined;
  const requests = to.requests - from.requests;
  if (requests <= 0) return undefined;
  if (metric === "error-rate") return [(to.errors - from.errors) / requests];
  if (!to.latency || !from.latency) return undefined;
  const buckets = to.latency.map((b, i) => ({ le: b.le, count: b.count - (from.latency![i]?.count ?? 0) }));
  return [quantile(metric === "latency-p95" ? 0.95 : 0.99, buckets)];
}

/** The quantile of a cumulative histogram, interpolated within its bucket as Prometheus's histogram_quantile does. */
export function quantile(q: number, buckets: { le: number; count: number }[]): number {
  const total = buckets[buckets.length - 1]?.count ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let previous = { le: 0, count: 0 };
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return previous.le;
      const inBucket = b.count - previous.count;
      return inBucket === 0 ? b.le : previous.le + ((b.le - previous.le) * (rank - previous.count)) / inBucket;
    }
    previous = b;
  }
  return previous.le;
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, { headers: { accept: "application/json", ...headers }, signal: AbortSignal.timeout(10_000), redirect: "error" });
  const text = await res.text();
  if (!res.ok) throw new Error(`${new URL(url).host} answered ${res.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

async function prometheus(address: string, query: string, tokenFile?: string): Promise<number[] | undefined> {
  const headers: Record<string, string> = tokenFile ? { authorization: `Bearer ${readFileSync(tokenFile, "utf8").trim()}` } : {};
  const url = `${address.replace(/\/+$/, "")}/api/v1/query?query=${encodeURIComponent(query)}`;
  const body = (await getJson(url, headers)) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== "success" || !body.data) throw new Error(`Prometheus refused the query: ${body.error ?? body.status}`);
  const { resultType, result } = body.data;
  if (resultType === "scalar") return [Number((result as [number, string])[1])];
  if (resultType === "vector") {
    const values = (result as { value: [number, string] }[]).map((r) => Number(r.value[1]));
    return values.length ? values : undefined;
  }
  throw new Error(`a ${resultType} result cannot be judged: use a query that returns an instant vector or a scalar`);
}

async function web(url: string, jsonPath: string): Promise<number[] | undefined> {
  let node: unknown = await getJson(url);
  for (const part of jsonPath.slice(1).match(/\.[A-Za-z0-9_-]+|\[\d+\]/g) ?? []) {
    if (node === null || typeof node !== "object") return undefined;
    node = part.startsWith("[") ? (node as unknown[])[Number(part.slice(1, -1))] : (node as Record<string, unknown>)[part.slice(1)];
  }
  if (node === undefined || node === null) return undefined;
  const values = (Array.isArray(node) ? node : [node]).map(Number);
  if (values.some(Number.isNaN)) throw new Error(`${jsonPath} is not a number`);
  return values;
}

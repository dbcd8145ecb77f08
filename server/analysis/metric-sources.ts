// Where metric values come from: the balancer's own counters for the new
// pool (builtin), a Prometheus server's HTTP API, or a JSON endpoint, each
// either one of the operator's named providers (with its credentials) or a
// caller's own URL (no credentials, through the outbound guard). Queries
// and URLs may name `{{version}}`, `{{color}}` and `{{environment}}`.
// A failure is reported as a short reason that never quotes what the far
// side sent or a header value.
import type { AnalysisMetric, Color } from "../../infra/vocabulary";
import { MeasureError, type Measure } from "./analysis-run";
import type { MetricProviders } from "./metric-providers";

/** Gets a URL: `trusted` for the operator's providers, otherwise only where the outbound guard allows. Rejects with a message safe to show. */
export type MetricFetch = (url: string, headers: Record<string, string>, trusted: boolean) => Promise<{ status: number; body: Buffer }>;

export interface MetricSourceDeps {
  providers: MetricProviders;
  fetch: MetricFetch;
}

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
export async function metricSource(c: MeasureContext, deps: MetricSourceDeps): Promise<Measure> {
  const baseline = await c.sample().catch(() => undefined);
  return async (metric: AnalysisMetric) => {
    const p = metric.provider;
    if ("builtin" in p) return builtin(p.builtin.metric, baseline, await c.sample());
    if ("prometheus" in p) {
      const where = endpoint(deps, c.environment, "prometheus", p.prometheus.provider, p.prometheus.address ?? "");
      return prometheus(deps.fetch, where, fill(p.prometheus.query, c));
    }
    const where = endpoint(deps, c.environment, "web", p.web.provider, fill(p.web.url, c, encodeURIComponent));
    return web(deps.fetch, where, p.web.jsonPath);
  };
}

interface Endpoint {
  url: string;
  /** How failures name it: the provider's name, or the caller's own host. */
  label?: string;
  headers: Record<string, string>;
  trusted: boolean;
}

/** A named provider's address and credentials, or the caller's own URL with none. */
function endpoint(deps: MetricSourceDeps, environment: string, kind: "prometheus" | "web", name: string | undefined, url: string): Endpoint {
  if (!name) return { url, headers: {}, trusted: false };
  const provider = deps.providers.resolve(name, environment);
  if (!provider || provider.kind !== kind) throw new MeasureError(`no ${kind} provider named ${name} for this environment`);
  let headers: Record<string, string>;
  try {
    headers = provider.headers();
  } catch {
    throw new MeasureError(`the credentials of provider ${name} could not be read`);
  }
  if (kind === "prometheus") return { url: provider.base, headers, trusted: true, label: `provider ${name}` };
  // A path on the provider's base URL; anything that would leave its origin is refused.
  const base = new URL(provider.base);
  const target = new URL(url, base);
  if (!url.startsWith("/") || url.startsWith("//") || target.origin !== base.origin) {
    throw new MeasureError(`the URL of a metric on provider ${name} must be a path on it`);
  }
  return { url: target.toString(), headers, trusted: true, label: `provider ${name}` };
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

async function getJson(fetch: MetricFetch, where: Endpoint): Promise<unknown> {
  let host = "the source";
  try {
    host = where.label ?? new URL(where.url).host;
  } catch {
    throw new MeasureError("the metric's URL is not a URL");
  }
  let answer: { status: number; body: Buffer };
  try {
    answer = await fetch(where.url, { accept: "application/json", ...where.headers }, where.trusted);
  } catch (err) {
    throw new MeasureError(err instanceof Error && err.name === "OutboundError" && !where.label ? err.message : `${host} could not be reached`);
  }
  if (answer.status < 200 || answer.status > 299) throw new MeasureError(`${host} answered ${answer.status}`);
  try {
    return JSON.parse(answer.body.toString("utf8"));
  } catch {
    throw new MeasureError(`${host} answered with something that is not JSON`);
  }
}

async function prometheus(fetch: MetricFetch, where: Endpoint, query: string): Promise<number[] | undefined> {
  const url = `${where.url.replace(/\/+$/, "")}/api/v1/query?query=${encodeURIComponent(query)}`;
  const body = (await getJson(fetch, { ...where, url })) as { status?: string; errorType?: string; data?: { resultType: string; result: unknown } };
  if (body?.status !== "success" || !body.data) {
    throw new MeasureError(`Prometheus refused the query (${safeWord(body?.errorType) ?? safeWord(body?.status) ?? "no status"})`);
  }
  const { resultType, result } = body.data;
  if (resultType === "scalar") return [Number((result as [number, string])[1])];
  if (resultType === "vector") {
    const values = (result as { value: [number, string] }[]).map((r) => Number(r.value[1]));
    return values.length ? values : undefined;
  }
  throw new MeasureError(`a ${safeWord(resultType) ?? "non-vector"} result cannot be judged: use a query that returns an instant vector or a scalar`);
}

/** A short word from the far side (Prometheus's errorType: bad_data, timeout, …), or nothing. */
const safeWord = (v: unknown): string | undefined => (typeof v === "string" && /^[a-z_]{1,32}$/.test(v) ? v : undefined);

async function web(fetch: MetricFetch, where: Endpoint, jsonPath: string): Promise<number[] | undefined> {
  let node: unknown = await getJson(fetch, where);
  for (const part of jsonPath.slice(1).match(/\.[A-Za-z0-9_-]+|\[\d+\]/g) ?? []) {
    if (node === null || typeof node !== "object") return undefined;
    node = part.startsWith("[") ? (node as unknown[])[Number(part.slice(1, -1))] : (node as Record<string, unknown>)[part.slice(1)];
  }
  if (node === undefined || node === null) return undefined;
  const values = (Array.isArray(node) ? node : [node]).map(Number);
  if (values.some(Number.isNaN)) throw new MeasureError(`${jsonPath} is not a number`);
  return values;
}

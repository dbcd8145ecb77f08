// The operator's metric providers: named Prometheus servers and JSON
// endpoints with their addresses and credentials, defined once in a file
// the operator owns (CUTOVER_METRIC_PROVIDERS), as Argo Rollouts keeps
// credentials in cluster-wide templates. Analyses name a provider; they
// never carry an address with credentials or a file path, so a deployer
// cannot point Cutover's credentials, or its file system, anywhere.
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { AnalysisMetric, MetricAnalysis } from "../../infra/vocabulary";
import { InputError } from "../errors";

const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "an HTTP header name");
// Visible ASCII and spaces only: a value Node would refuse to send is refused when the file is read.
const headerValue = z.string().regex(/^[\x20-\x7e]{0,4096}$/, "printable ASCII");
const scope = z.array(z.string().regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9*]$|^[a-z]\*$/, "an environment name or prefix-*")).min(1).max(100);
const credentials = {
  bearerTokenFile: z.string().regex(/^\//, "an absolute path").optional(),
  headers: z.record(headerName, headerValue).optional(),
};
const providerSchema = z.union([
  z.strictObject({ prometheus: z.strictObject({ address: z.url({ protocol: /^https?$/ }), ...credentials }), environments: scope.optional() }),
  z.strictObject({ web: z.strictObject({ baseUrl: z.url({ protocol: /^https?$/ }), ...credentials }), environments: scope.optional() }),
]);
const fileSchema = z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lower-case letters, digits and dashes"), providerSchema);

export type MetricProviderDefinition = z.infer<typeof providerSchema>;

/** A provider as a request is sent to it: where, and with what headers. */
export interface ResolvedProvider {
  kind: "prometheus" | "web";
  base: string;
  headers(): Record<string, string>;
}

/** What a viewer may know of a provider: its name, kind and scope, never its address or credentials. */
export interface MetricProviderSummary {
  name: string;
  kind: "prometheus" | "web";
  environments?: string[];
}

export class MetricProviders {
  /**
   * `urlProblem`: why a caller's own URL may not be called (the outbound
   * guard's answer), asked when an analysis comes in; the address each
   * request connects to is checked again.
   */
  constructor(
    private readonly defined: Record<string, MetricProviderDefinition> = {},
    private readonly urlProblem: (url: string) => string | undefined = () => undefined,
  ) {}

  /** Reads the operator's file; an invalid file stops the start with a message that says where. */
  static load(file: string | undefined, urlProblem?: (url: string) => string | undefined): MetricProviders {
    if (!file) return new MetricProviders({}, urlProblem);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new Error(`CUTOVER_METRIC_PROVIDERS: cannot read ${file} as JSON (${(err as NodeJS.ErrnoException).code ?? "invalid JSON"})`);
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) {
      throw new Error(`CUTOVER_METRIC_PROVIDERS: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    }
    return new MetricProviders(parsed.data, urlProblem);
  }

  list(visible: (environments: string[] | undefined) => boolean): MetricProviderSummary[] {
    return Object.entries(this.defined)
      .filter(([, d]) => visible(d.environments))
      .map(([name, d]) => ({ name, kind: "prometheus" in d ? ("prometheus" as const) : ("web" as const), ...(d.environments ? { environments: d.environments } : {}) }));
  }

  /** The provider for an environment's analysis; undefined when it is unknown or not for that environment. */
  resolve(name: string, environment: string): ResolvedProvider | undefined {
    const d = Object.hasOwn(this.defined, name) ? this.defined[name] : undefined;
    if (!d || (d.environments && !d.environments.some((p) => (p.endsWith("*") ? environment.startsWith(p.slice(0, -1)) : p === environment)))) return undefined;
    const c = "prometheus" in d ? d.prometheus : d.web;
    return {
      kind: "prometheus" in d ? "prometheus" : "web",
      base: "prometheus" in d ? d.prometheus.address : d.web.baseUrl,
      // The token file is read on each use, so the operator can rotate it without a restart.
      headers: () => ({
        ...c.headers,
        ...(c.bearerTokenFile ? { authorization: `Bearer ${readFileSync(c.bearerTokenFile, "utf8").trim()}` } : {}),
      }),
    };
  }

  /**
   * Throws unless every provider the analyses name exists for the
   * environment and fits the metric's kind. Called wherever an analysis
   * enters Cutover: deployments, schedules, ramps, environment defaults.
   */
  check(environment: string, analyses: (MetricAnalysis | undefined)[]): void {
    for (const metric of analyses.flatMap((a) => a?.metrics ?? [])) {
      const wanted = providerRef(metric);
      if (!wanted) {
        const url = callerUrl(metric);
        const problem = url && this.urlProblem(url.replace(/\{\{(version|color|environment)\}\}/g, "x"));
        if (problem) {
          throw new InputError("metric_target_forbidden", `metric ${metric.name}: ${problem}; name one of the operator's providers instead`, { metric: metric.name });
        }
        continue;
      }
      const found = this.resolve(wanted.name, environment);
      if (!found || found.kind !== wanted.kind) {
        throw new InputError("metric_provider_unknown", `metric ${metric.name}: no ${wanted.kind} provider named ${wanted.name} for environment ${environment}`, {
          metric: metric.name,
          provider: wanted.name,
        });
      }
    }
  }
}

function callerUrl(metric: AnalysisMetric): string | undefined {
  const p = metric.provider;
  if ("prometheus" in p) return p.prometheus.address;
  if ("web" in p) return p.web.url;
  return undefined;
}

function providerRef(metric: AnalysisMetric): { kind: "prometheus" | "web"; name: string } | undefined {
  const p = metric.provider;
  if ("prometheus" in p && p.prometheus.provider) return { kind: "prometheus", name: p.prometheus.provider };
  if ("web" in p && p.web.provider) return { kind: "web", name: p.web.provider };
  return undefined;
}

/** The metric analyses a strategy carries (the error-rate shorthand of a canary has none). */
export function analysesOf(strategy: { type: string; analysis?: unknown; prePromotion?: MetricAnalysis } | undefined): MetricAnalysis[] {
  if (!strategy) return [];
  const isMetric = (a: unknown): a is MetricAnalysis => !!a && typeof a === "object" && "metrics" in a;
  return [strategy.analysis, strategy.prePromotion].filter(isMetric);
}

// The vocabulary the Pulumi programs and the server share: colors,
// artifacts and an environment's spec. Plain types and pure helpers; this
// module imports nothing, so infra/ never reaches into server/.
export type Color = "blue" | "green";
export const otherColor = (c: Color): Color => (c === "blue" ? "green" : "blue");

export type TargetName = "local" | "aws" | "kubernetes";

/** An env value as stored: plain, or sealed when it was given as a secret. */
export type EnvValue = string | { sealed: string };

/** An env value as a caller gives it: plain, or `{"secret": "..."}`. */
export type EnvInput = string | { secret: string } | { sealed: string };

export interface Artifact {
  command: string[];
  cwd?: string;
  /** The container image, pinned by digest (`name@sha256:…`; kubernetes only): replaces the environment's image template. */
  image?: string;
  env?: Record<string, EnvValue>;
}

/** An artifact as a caller gives it, secrets still open. */
export interface ArtifactInput {
  command: string[];
  cwd?: string;
  /** The container image, pinned by digest (`name@sha256:…`; kubernetes only): replaces the environment's image template. */
  image?: string;
  env?: Record<string, EnvInput>;
}

/** An artifact as a target runs it: every env value plain. */
export interface RunnableArtifact {
  command: string[];
  cwd?: string;
  /** The container image, pinned by digest (`name@sha256:…`; kubernetes only): replaces the environment's image template. */
  image?: string;
  env?: Record<string, string>;
}

export interface HealthCheck {
  path: string;
  interval: string;
  timeout: string;
  healthyThreshold: number;
  startTimeout: string;
}

export interface CanaryStep {
  weight: number;
  /** A duration, "manual" (wait for promote), or absent (go straight on). */
  pause?: string;
}

export interface Analysis {
  /** Roll back when the new pool's 5xx share over a pause exceeds this. */
  maxErrorRate: number;
  /** Judge only once the new pool served at least this many requests. */
  minRequests: number;
}

/** Where a metric's value comes from. */
export type MetricProvider =
  | { builtin: { metric: "error-rate" | "latency-p95" | "latency-p99" } }
  /** `provider` names one of the operator's metric providers (address and credentials); `address` is a caller's own, guarded. */
  | { prometheus: { provider?: string; address?: string; query: string } }
  /** With `provider`, `url` is a path on the provider's base URL; without, an absolute URL, guarded. */
  | { web: { provider?: string; url: string; jsonPath: string } };

export interface AnalysisMetric {
  name: string;
  provider: MetricProvider;
  /** Conditions on `result`, in the condition language (server/analysis/condition.ts). */
  successCondition?: string;
  failureCondition?: string;
  /** How many measurements to take in each pause; absent means one every interval. */
  count?: number;
  /** What a measurement with no data counts as. */
  noData: "pass" | "fail" | "inconclusive";
}

/** Metric analysis, run during every canary pause and the bake. */
export interface MetricAnalysis {
  interval: string;
  /** Failed measurements tolerated; one more rolls the deployment back. */
  failureLimit: number;
  /** Inconclusive measurements tolerated; one more pauses the deployment for a person. */
  inconclusiveLimit: number;
  metrics: AnalysisMetric[];
}

export const isMetricAnalysis = (a: Analysis | MetricAnalysis | undefined): a is MetricAnalysis => !!a && "metrics" in a;

export type Strategy =
  | {
      type: "blue-green";
      bake?: string;
      /** Run during the bake, with the new version live and the old fleet warm. */
      analysis?: MetricAnalysis;
      /** Run against the new fleet before it gets any traffic (reached through the balancer's force header). */
      prePromotion?: MetricAnalysis;
    }
  | { type: "canary"; steps: CanaryStep[]; bake?: string; analysis?: Analysis | MetricAnalysis }
  | {
      type: "rolling";
      /** Instances above the fleet's size while a wave runs: a count or a percentage of the size, rounded up. */
      maxSurge: number | string;
      /** Instances below the fleet's size while a wave runs: a count or a percentage of the size, rounded down. */
      maxUnavailable: number | string;
      /** The wait after each wave short of the last (a duration, or "manual": until promoted), analysed when `analysis` is given. */
      pause?: string;
      bake?: string;
      analysis?: MetricAnalysis;
    };

/**
 * Where a gate stands in a deployment (Flagger's hook kinds):
 * - `confirm-rollout`: before anything is built; retried until a 2xx or its timeout.
 * - `pre-rollout`: the new fleet is healthy and gets no traffic yet; any answer but a 2xx rolls back.
 * - `confirm-traffic-increase`: before each traffic step short of 100%; retried until a 2xx or its timeout.
 * - `confirm-promotion`: before the new version takes all traffic; retried until a 2xx or its timeout.
 * - `post-rollout`: told the outcome once the deployment ends (notification only).
 * - `rollback`: told when a rollback begins (notification only).
 * - `approval`: a person approves before promotion (`confirm-promotion` with `manual: true`).
 */
export type GateKind = "confirm-rollout" | "pre-rollout" | "confirm-traffic-increase" | "confirm-promotion" | "post-rollout" | "rollback" | "approval";

export const GATE_KINDS: readonly GateKind[] = ["confirm-rollout", "pre-rollout", "confirm-traffic-increase", "confirm-promotion", "post-rollout", "rollback", "approval"];

export interface Gate {
  /** Unique in the deployment; the kind by default. Approvals name it in their URL. */
  name: string;
  kind: GateKind;
  /** Where Cutover POSTs the deployment's context, signed like the outgoing webhooks; absent for a manual gate. */
  url?: string;
  /** How long the gate may hold the deployment (a duration); a manual gate without one waits for a person however long it takes. */
  timeout?: string;
  /** A person decides (approve/reject) instead of a URL; `confirm-*` kinds only, implied by `approval`. */
  manual?: boolean;
  /** The approver may not be whoever requested the deployment (four eyes). */
  requireDistinctApprover?: boolean;
  /** The Standard Webhooks secret the gate's requests are signed with, sealed; absent: Cutover's gate signing secret. */
  secret?: { sealed: string };
}

/** A one-off job run once per deployment before any fleet is built (schema migrations, expand step). */
export interface PreDeployJob {
  command: string[];
  /** A duration; the job is killed and the deployment ends when it passes. */
  timeout: string;
  cwd?: string;
  env?: Record<string, EnvValue>;
}

export interface LocalSettings {
  listenHost: string;
  listenPort: number;
  adminPort?: number;
  stickyHeader?: string;
  stickyCookie?: string;
  /** Opt-in: a request carrying `<forceHeader>: <color>:<key>` (the environment's force key) goes to that color. */
  forceHeader?: string;
  /** TLS on the listen port: a certificate and key the operator put in Cutover's TLS directory, named there. */
  tls?: LocalTls;
  /** A request every instance refused waits up to this long (a duration) for one to come back, instead of failing. */
  holdWhenUnavailable?: string;
  /** What carries the requests: cutover-proxy itself (the default), or HAProxy driven by it. */
  dataPlane?: "cutover-proxy" | "haproxy";
  /** A JSON line per request in the balancer's access.log (never a query string or a header). */
  accessLog?: boolean;
  /** How long an instance may stay silent (a duration) before or while it answers; absent: 60s. */
  upstreamTimeout?: string;
}

export interface LocalTls {
  /** A file name in the TLS directory: the certificate chain (PEM). */
  cert: string;
  /** A file name in the TLS directory: its private key (PEM). */
  key: string;
  /** Strict-Transport-Security's max-age, as a duration; absent: no HSTS. */
  hsts?: string;
  /** A plain HTTP port that redirects every request to HTTPS. */
  redirectPort?: number;
}

export interface AwsSettings {
  region: string;
  vpcId?: string;
  subnetIds?: string[];
  ami: string;
  instanceType: string;
  instancePort: number;
  keyName?: string;
  listenerPort: number;
  /** Opt-in: a request carrying `<forceHeader>: <color>:<key>` (the environment's force key) goes to that color. */
  forceHeader?: string;
  stickiness?: { enabled: boolean; duration: string };
  minSize?: number;
  maxSize?: number;
  userDataPreamble?: string;
  profile?: string;
}

export interface KubernetesSettings {
  namespace: string;
  kubeconfig?: string;
  context?: string;
  image: string;
  containerPort: number;
  gateway?: { name: string; namespace?: string };
  hostnames?: string[];
  /** Opt-in: a request carrying `<forceHeader>: <color>:<key>` (the environment's force key) goes to that color. */
  forceHeader?: string;
}

export interface EnvironmentSpec {
  name: string;
  target: TargetName;
  fleet: {
    replicas: number;
    artifact: Artifact;
    healthCheck: HealthCheck;
    drainTimeout: string;
  };
  strategy: Strategy;
  operationTimeout?: string;
  /** Gates every deployment of the environment passes, unless the deployment brings its own. */
  gates?: Gate[];
  /** The job each deployment runs before building its fleet, unless the deployment brings its own. */
  preDeploy?: PreDeployJob;
  /** An ephemeral environment: deleted this long after it was created. */
  ttl?: string;
  /** The key a forced request carries after its color, sealed: generated at creation when the target's settings name a `forceHeader`. */
  forceKey?: { sealed: string };
  local?: LocalSettings;
  aws?: AwsSettings;
  kubernetes?: KubernetesSettings;
}

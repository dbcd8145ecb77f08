// Service configuration, from environment variables only. Each is
// documented in the README's configuration table.
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { DURATION_SOURCE, parseDuration } from "../infra/duration";

/** A duration setting, held in milliseconds. */
const duration = (name: string, example: string, units = "ms|s|m|h") =>
  z
    .string()
    .regex(new RegExp(`^\\d+(${units})$`), `${name} must be a duration like ${example}`)
    .transform(parseDuration);


const schema = z.object({
  CUTOVER_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  CUTOVER_HOST: z.string().min(1).default("127.0.0.1"),
  CUTOVER_DATA_DIR: z.string().min(1).optional(),
  CUTOVER_ADMIN_TOKEN: z.string().min(16, "CUTOVER_ADMIN_TOKEN must be at least 16 characters").optional(),
  CUTOVER_PULUMI_PASSPHRASE: z.string().min(1).optional(),
  CUTOVER_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  CUTOVER_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
  CUTOVER_OPERATION_TIMEOUT: duration("CUTOVER_OPERATION_TIMEOUT", "15m").default(15 * 60_000),
  CUTOVER_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "CUTOVER_DATABASE_URL must be a postgres:// URL (leave it unset for the embedded SQLite journal)")
    .optional(),
  CUTOVER_STATE_BACKEND: z
    .string()
    .regex(/^(file|postgres|postgresql|s3|gs|azblob):\/\//, "CUTOVER_STATE_BACKEND must be a Pulumi backend URL: file://, postgres://, s3://, gs:// or azblob://")
    .optional(),
  CUTOVER_RUNTIME_DIR: z.string().min(1).optional(),
  CUTOVER_TLS_DIR: z.string().min(1).optional(),
  CUTOVER_LOCAL_RUN_AS: z
    .string()
    .regex(/^(\d+(:\d+)?|[A-Za-z_][A-Za-z0-9_.-]*\$?)$/, "CUTOVER_LOCAL_RUN_AS must be a user name or uid[:gid]")
    .optional(),
  CUTOVER_REPLICA_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "CUTOVER_REPLICA_ID must be 1-64 letters, digits, dots, dashes or underscores").optional(),
  CUTOVER_LEASE_TTL: duration("CUTOVER_LEASE_TTL", "15s", "ms|s|m").default(15_000),
  CUTOVER_WORK_POLL_INTERVAL: duration("CUTOVER_WORK_POLL_INTERVAL", "2s", "ms|s|m").default(2000),
  CUTOVER_SLACK_SIGNING_SECRET: z.string().min(8).optional(),
  CUTOVER_SLACK_BOT_TOKEN: z.string().regex(/^xox[a-z]-/, "CUTOVER_SLACK_BOT_TOKEN must be a Slack bot token (xoxb-…)").optional(),
  CUTOVER_SLACK_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  CUTOVER_MATTERMOST_TOKEN: z.string().min(8).optional(),
  CUTOVER_OUTBOUND_ALLOW: z.string().optional(),
  CUTOVER_WEBHOOK_ALLOW: z.string().optional(),
  CUTOVER_METRIC_PROVIDERS: z.string().min(1).optional(),
  CUTOVER_SCHEDULER_INTERVAL: duration("CUTOVER_SCHEDULER_INTERVAL", "500ms", "ms|s|m").default(500),
  CUTOVER_PROMOTION_INTERVAL: duration("CUTOVER_PROMOTION_INTERVAL", "5s", "ms|s|m").default(5000),
  CUTOVER_ENGINE_CONCURRENCY: z.coerce.number().int().min(1).max(256).optional(),
  CUTOVER_ENGINE_NICENESS: z.coerce.number().int().min(0).max(19).default(10),
  CUTOVER_ENGINE_RESIDENT_PROVIDER: z.enum(["true", "false"], { error: "CUTOVER_ENGINE_RESIDENT_PROVIDER must be true or false" }).default("false"),
  CUTOVER_FLAGS_RATE_LIMIT: z.coerce.number().int().min(1).max(10_000_000).default(20_000),
  CUTOVER_TRAFFIC_MODE: z.enum(["direct", "stack"], { error: "CUTOVER_TRAFFIC_MODE must be direct or stack" }).default("direct"),
  CUTOVER_PUBLIC_URL: z.url({ protocol: /^https?$/, error: "CUTOVER_PUBLIC_URL must be an http(s) URL, like https://cutover.example.com" }).optional(),
  CUTOVER_OIDC_CONFIG: z.string().min(1).optional(),
  CUTOVER_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  CUTOVER_UI_LONG_WAIT: duration("CUTOVER_UI_LONG_WAIT", "15m", "s|m|h").default(15 * 60_000),
  CUTOVER_UI_SESSION_TTL: duration("CUTOVER_UI_SESSION_TTL", "8h", "m|h").default(8 * 3600_000),
  CUTOVER_WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .regex(new RegExp(`^${DURATION_SOURCE}(,${DURATION_SOURCE})*$`), "CUTOVER_WEBHOOK_RETRY_SCHEDULE must be durations separated by commas, like 5s,5m,30m")
    .transform((list) => list.split(",").map(parseDuration))
    .optional(),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  adminToken?: string;
  pulumiPassphrase?: string;
  logLevel: string;
  maxBodyBytes: number;
  /** The default deadline of a deployment's own work (ms). */
  operationTimeoutMs: number;
  /** The shared journal; absent means the SQLite file in the data dir. */
  databaseUrl?: string;
  /** Pulumi's state backend; absent means a file backend in the data dir. */
  stateBackend?: string;
  /** Where local fleets and balancers keep their files; replicas on one machine share it. */
  runtimeDir: string;
  /** Where the operator puts the certificates and keys local balancers may serve (environments name files in it). */
  tlsDir: string;
  /** The user local fleets and pre-deploy jobs run as (a name or uid[:gid]); unset, a default when Cutover is root. */
  localRunAs?: string;
  /** This process's name in leases and logs. */
  replicaId: string;
  /** How long a lease outlives its holder's last heartbeat (ms). */
  leaseTtlMs: number;
  /** How often a replica looks for work other replicas queued (ms). */
  workPollIntervalMs: number;
  /** Chat: Slack's signing secret and bot token, Mattermost's command token. */
  slackSigningSecret?: string;
  slackBotToken?: string;
  slackApiUrl?: string;
  mattermostToken?: string;
  /** Addresses Cutover may call on a caller's word although private or loopback: hosts, addresses or CIDRs. */
  outboundAllow: string[];
  /** The operator's metric providers (a JSON file): analyses name them instead of carrying credentials. */
  metricProvidersFile?: string;
  /** How often schedules and environment expiry are checked. */
  schedulerIntervalMs: number;
  /** How often automatic promotions are looked for (and at once after a deployment succeeds). */
  promotionIntervalMs: number;
  /** Waits before each webhook retry. */
  webhookRetryScheduleMs?: number[];
  /** Engine operations (up, destroy, refresh) this replica runs at once; more wait, rollbacks and traffic first. */
  engineConcurrency: number;
  /** How much lower than the API the engine workers (and the CLI and providers they start) run; 0 for the same. */
  engineNiceness: number;
  /** Engine workers keep the local provider running for all their operations (see resident-provider.ts). */
  engineResidentProvider: boolean;
  /** Flag evaluations a second per token over OFREP; more get 429 with Retry-After. */
  flagsRateLimit: number;
  /**
   * `direct`: traffic changes go to the balancer itself, and a refresh of
   * the traffic stack records them afterwards; `stack`: each change is an
   * update of the traffic stack.
   */
  trafficMode: "direct" | "stack";
  /** Where people reach Cutover (behind a TLS proxy, say): an https URL makes the web UI's session cookie Secure. */
  publicUrl?: string;
  /** OpenID Connect sign-in to the web UI: the settings file, and the client secret kept out of it. */
  oidcConfigFile?: string;
  oidcClientSecret?: string;
  /** How long a deployment may wait (queued, paused, at a gate) before the web UI calls the wait long (ms). */
  uiLongWaitMs: number;
  /** How long a web UI session lasts (ms). */
  uiSessionTtlMs: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${issues}`);
  }
  const c = parsed.data;
  const sharedBackend = c.CUTOVER_STATE_BACKEND && !c.CUTOVER_STATE_BACKEND.startsWith("file://");
  if (sharedBackend && !(c.CUTOVER_PULUMI_PASSPHRASE ?? env.PULUMI_CONFIG_PASSPHRASE)) {
    throw new Error("invalid configuration: CUTOVER_STATE_BACKEND is shared, so set CUTOVER_PULUMI_PASSPHRASE: every replica must encrypt state with the same passphrase");
  }
  const defaultDataDir = path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), ".local", "share"), "cutover");
  const dataDir = path.resolve(c.CUTOVER_DATA_DIR ?? defaultDataDir);
  return {
    port: c.CUTOVER_PORT,
    host: c.CUTOVER_HOST,
    dataDir,
    adminToken: c.CUTOVER_ADMIN_TOKEN,
    pulumiPassphrase: c.CUTOVER_PULUMI_PASSPHRASE ?? env.PULUMI_CONFIG_PASSPHRASE,
    logLevel: c.CUTOVER_LOG_LEVEL,
    maxBodyBytes: c.CUTOVER_MAX_BODY_BYTES,
    operationTimeoutMs: c.CUTOVER_OPERATION_TIMEOUT,
    databaseUrl: c.CUTOVER_DATABASE_URL,
    stateBackend: c.CUTOVER_STATE_BACKEND,
    runtimeDir: path.resolve(c.CUTOVER_RUNTIME_DIR ?? path.join(dataDir, "runtime")),
    tlsDir: path.resolve(c.CUTOVER_TLS_DIR ?? path.join(dataDir, "tls")),
    localRunAs: c.CUTOVER_LOCAL_RUN_AS,
    // Stable across restarts (one server per data dir), so a restarted replica takes its own leases back at once.
    replicaId: c.CUTOVER_REPLICA_ID ?? `${os.hostname()}-${createHash("sha256").update(dataDir).digest("hex").slice(0, 8)}`,
    leaseTtlMs: c.CUTOVER_LEASE_TTL,
    workPollIntervalMs: c.CUTOVER_WORK_POLL_INTERVAL,
    slackSigningSecret: c.CUTOVER_SLACK_SIGNING_SECRET,
    slackBotToken: c.CUTOVER_SLACK_BOT_TOKEN,
    slackApiUrl: c.CUTOVER_SLACK_API_URL,
    mattermostToken: c.CUTOVER_MATTERMOST_TOKEN,
    // CUTOVER_WEBHOOK_ALLOW is the older name of the same list.
    outboundAllow: [c.CUTOVER_OUTBOUND_ALLOW, c.CUTOVER_WEBHOOK_ALLOW]
      .flatMap((list) => (list ?? "").split(","))
      .map((s) => s.trim())
      .filter(Boolean),
    metricProvidersFile: c.CUTOVER_METRIC_PROVIDERS ? path.resolve(c.CUTOVER_METRIC_PROVIDERS) : undefined,
    webhookRetryScheduleMs: c.CUTOVER_WEBHOOK_RETRY_SCHEDULE,
    schedulerIntervalMs: c.CUTOVER_SCHEDULER_INTERVAL,
    promotionIntervalMs: c.CUTOVER_PROMOTION_INTERVAL,
    flagsRateLimit: c.CUTOVER_FLAGS_RATE_LIMIT,
    // Two per core: measured on 2 cores, 4 kept status polls under 20 ms at p99 while ten deployments ran, and finished them sooner than 2.
    engineConcurrency: c.CUTOVER_ENGINE_CONCURRENCY ?? 2 * os.availableParallelism(),
    engineNiceness: c.CUTOVER_ENGINE_NICENESS,
    engineResidentProvider: c.CUTOVER_ENGINE_RESIDENT_PROVIDER === "true",
    trafficMode: c.CUTOVER_TRAFFIC_MODE,
    publicUrl: c.CUTOVER_PUBLIC_URL?.replace(/\/+$/, ""),
    uiSessionTtlMs: c.CUTOVER_UI_SESSION_TTL,
    uiLongWaitMs: c.CUTOVER_UI_LONG_WAIT,
    oidcConfigFile: c.CUTOVER_OIDC_CONFIG ? path.resolve(c.CUTOVER_OIDC_CONFIG) : undefined,
    oidcClientSecret: c.CUTOVER_OIDC_CLIENT_SECRET,
  };
}

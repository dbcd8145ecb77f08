// The local target: fleets are supervised OS processes, the load balancer
// is a cutover-proxy process; both are resources of the `cutover` provider.
import { accessSync, constants } from "node:fs";
import path from "node:path";
import type { StackProgram } from "../../infra/programs";
import {
  adminUrlOf,
  applyBalancerRouting,
  environmentRunAs,
  inspectFleet,
  probe,
  readAdmin,
  readAdminConfig,
  reapUnowned,
  runLocalJob,
  stopLocalJob,
  type BalancerInputs,
  type ProcessIdentity,
  type RunAs,
} from "../../infra/local/runtime";
import { InputError } from "../errors";
import { maintenancePage } from "./maintenance-page";
import { balancerTls, checkTlsFiles } from "./local-tls";
import { parseDuration } from "../../infra/duration";
import type { RunnableArtifact, Color, EnvironmentSpec } from "../deployments/model";
import type { DeploymentTarget, FleetCondition, JobResult, PoolStats, RunnableJob, TrafficObservation, TrafficSecrets, TrafficState, TrafficView } from "../deployments/deployment-target";

export class LocalTarget implements DeploymentTarget {
  readonly name = "local" as const;
  readonly maintenance = true;

  /**
   * `reap` removes every runtime leftover no stack owns; only a replica
   * alone on its runtime directory can tell another's half-made work from a
   * leftover (one environment's leftovers are removed in any case, by the
   * holder of its lease).
   * `runAs` is the user pre-deploy jobs run as (fleets' is the provider's, resolved the same way).
   */
  constructor(
    private readonly runtimeDir: string,
    private readonly options: { reap: boolean; runAs: RunAs | undefined; tlsDir?: string },
  ) {}

  async prepare(spec: EnvironmentSpec): Promise<EnvironmentSpec> {
    if (!spec.local) throw new InputError("validation_failed", "a local environment needs `local.listenPort`", { field: "local" });
    // Port 0 lets the balancer bind a free port itself and report it back.
    const adminPort = spec.local.adminPort ?? 0;
    if (adminPort !== 0 && adminPort === spec.local.listenPort) {
      throw new InputError("validation_failed", "local.adminPort must differ from local.listenPort", { field: "local.adminPort" });
    }
    if (spec.local.dataPlane === "haproxy" && !haproxyInstalled()) {
      throw new InputError("data_plane_unavailable", "HAProxy is not installed on this host (Debian: apt-get install haproxy; elsewhere set CUTOVER_HAPROXY_BIN)", { field: "local.dataPlane" });
    }
    const tls = spec.local.tls;
    if (tls) {
      const taken = [spec.local.listenPort, adminPort].filter((p) => p !== 0);
      if (tls.redirectPort !== undefined && taken.includes(tls.redirectPort)) {
        throw new InputError("validation_failed", "local.tls.redirectPort must differ from local.listenPort and local.adminPort", { field: "local.tls.redirectPort" });
      }
      const problem = checkTlsFiles(this.tlsDir(), tls);
      if (problem) throw new InputError("validation_failed", problem, { field: "local.tls" });
    }
    return { ...spec, local: { ...spec.local, adminPort } };
  }

  private tlsDir(): string {
    if (!this.options.tlsDir) throw new InputError("validation_failed", "TLS needs Cutover's TLS directory (CUTOVER_TLS_DIR)", { field: "local.tls" });
    return this.options.tlsDir;
  }

  fleetProgram(spec: EnvironmentSpec, color: Color, version: string, artifact: RunnableArtifact, _traffic?: Record<string, unknown>, replicas?: number): StackProgram {
    const hc = spec.fleet.healthCheck;
    return { kind: "local/fleet", args: {
      name: `${spec.name}-${color}`,
      version,
      replicas: replicas ?? spec.fleet.replicas,
      artifact,
      healthCheck: {
        path: hc.path,
        intervalMs: parseDuration(hc.interval),
        timeoutMs: parseDuration(hc.timeout),
        healthyThreshold: hc.healthyThreshold,
        startTimeoutMs: parseDuration(hc.startTimeout),
      },
      drainTimeoutMs: parseDuration(spec.fleet.drainTimeout),
      runtimeDir: this.runtimeDir,
    } };
  }

  trafficProgram(spec: EnvironmentSpec, traffic: TrafficState, secrets: TrafficSecrets = {}): StackProgram {
    return { kind: "local/traffic", args: this.balancerInputs(spec, traffic, secrets) };
  }

  /**
   * The balancer's inputs for these pools: what the traffic program declares, and what a direct change applies.
   * Forcing takes the header and the key together; a header without a key forces nothing.
   */
  private balancerInputs(spec: EnvironmentSpec, traffic: TrafficState, secrets: TrafficSecrets): BalancerInputs {
    const local = spec.local!;
    const pool = (c: Color) => ({
      weight: traffic[c].fleet ? traffic[c].weight : 0,
      endpoints: (traffic[c].fleet?.endpoints as string[] | undefined) ?? [],
      ...(typeof traffic[c].fleet?.version === "string" ? { version: traffic[c].fleet!.version as string } : {}),
    });
    return {
      name: spec.name,
      listenHost: local.listenHost,
      listenPort: local.listenPort,
      adminPort: local.adminPort!,
      pools: { blue: pool("blue"), green: pool("green") },
      stickyHeader: local.stickyHeader,
      stickyCookie: local.stickyCookie,
      ...(local.forceHeader && secrets.forceKey ? { forceHeader: local.forceHeader, forceKey: secrets.forceKey } : {}),
      healthCheck: { path: spec.fleet.healthCheck.path, intervalMs: parseDuration(spec.fleet.healthCheck.interval), timeoutMs: parseDuration(spec.fleet.healthCheck.timeout) },
      ...(traffic.maintenance ? { maintenance: maintenancePage(traffic.maintenance) } : {}),
      ...(local.tls ? { tls: balancerTls(this.tlsDir(), local.listenHost, local.tls) } : {}),
      ...(local.holdWhenUnavailable ? { holdWhenUnavailableMs: parseDuration(local.holdWhenUnavailable) } : {}),
      ...(local.dataPlane === "haproxy" ? { dataPlane: "haproxy" as const } : {}),
      ...(local.accessLog ? { accessLog: true } : {}),
      ...(local.upstreamTimeout ? { upstreamTimeoutMs: parseDuration(local.upstreamTimeout) } : {}),
      runtimeDir: this.runtimeDir,
    };
  }

  /**
   * Moves the running balancer to these pools itself: its config rewritten
   * and reloaded, then polled until it serves them. The traffic stack
   * records the change afterwards, by a refresh that reads it back.
   */
  async applyTraffic(
    spec: EnvironmentSpec,
    traffic: TrafficState,
    current: Record<string, unknown>,
    hooks: { written(): void },
    secrets: TrafficSecrets = {},
  ): Promise<boolean> {
    const listen = typeof current.url === "string" ? Number(new URL(current.url).port) : NaN;
    const admin = typeof current.metricsUrl === "string" ? Number(new URL(current.metricsUrl).port) : NaN;
    if (!(listen > 0 && admin > 0)) return false;
    const redirect = typeof current.redirectUrl === "string" ? Number(new URL(current.redirectUrl).port) : 0;
    return applyBalancerRouting(this.balancerInputs(spec, traffic, secrets), { listenPort: listen, adminPort: admin, ...(redirect > 0 ? { redirectPort: redirect } : {}) }, hooks.written);
  }

  async verify(spec: EnvironmentSpec, fleet: Record<string, unknown>, replicas?: number): Promise<void> {
    const hc = spec.fleet.healthCheck;
    const endpoints = (fleet.endpoints as string[]) ?? [];
    const wanted = replicas ?? spec.fleet.replicas;
    if (endpoints.length < wanted) throw new Error(`the fleet has ${endpoints.length} of ${wanted} instances`);
    const check = { path: hc.path, intervalMs: parseDuration(hc.interval), timeoutMs: parseDuration(hc.timeout), healthyThreshold: 1 };
    for (const ep of endpoints) {
      const port = Number(ep.split(":").pop());
      if (!(await probe(port, check))) throw new Error(`instance ${ep} failed its health check ${hc.path}`);
    }
  }

  /** Asks the running balancer which weights it routes by. */
  async observeTraffic(_spec: EnvironmentSpec, view: TrafficView): Promise<TrafficObservation | undefined> {
    const url = adminUrlOf(view.traffic, "/config");
    if (!url) return undefined;
    const config = await readAdminConfig(url, { keepAlive: true }).catch(() => undefined);
    if (!config) return undefined;
    const weightOf = (c: Color) => {
      const pool = config.pools?.[c];
      return pool && (pool.endpoints ?? []).length > 0 ? Number(pool.weight ?? 0) : 0;
    };
    return { weights: { blue: weightOf("blue"), green: weightOf("green") }, source: "balancer" };
  }

  /** A fleet whose supervisor is gone, or with instances down, as its status file tells. */
  async observeFleet(spec: EnvironmentSpec, fleet: Record<string, unknown>): Promise<FleetCondition | undefined> {
    // A fleet's files live under the runtime directory, named by its id (the stack's outputs carry the id).
    const dir = typeof fleet.dir === "string" ? fleet.dir : typeof fleet.fleetId === "string" ? path.join(this.runtimeDir, "fleets", fleet.fleetId) : undefined;
    if (!dir) return undefined;
    const { supervisorAlive, liveInstances } = inspectFleet(dir);
    const problems: string[] = [];
    if (!supervisorAlive) problems.push(`the fleet supervisor of ${String(fleet.fleetId ?? dir)} is not running`);
    const wanted = typeof fleet.replicas === "number" ? fleet.replicas : spec.fleet.replicas;
    if (liveInstances.length < wanted) problems.push(`${liveInstances.length} of ${wanted} instances are running`);
    return { healthy: problems.length === 0, problems };
  }

  /** The job is a process of its own group, run as `runAs`; its output is kept in `jobs/<deployment>.log` under the runtime directory. */
  async runJob(
    spec: EnvironmentSpec,
    job: RunnableJob,
    opts: { deploymentId: string; signal: AbortSignal; onStart(handle: Record<string, unknown>): Promise<void> },
  ): Promise<JobResult> {
    const logFile = path.join(this.runtimeDir, "jobs", `${opts.deploymentId}.log`);
    const r = await runLocalJob({ ...job, logFile, runAs: environmentRunAs(this.options.runAs, spec.name) }, { signal: opts.signal, onStart: (id) => opts.onStart({ ...id, logFile }) });
    return { exitCode: r.exitCode, timedOut: r.timedOut, output: r.output };
  }

  async stopJob(handle: Record<string, unknown>): Promise<void> {
    if (typeof handle.pid === "number" && typeof handle.startTime === "string") await stopLocalJob(handle as unknown as ProcessIdentity);
  }

  async reapUnowned(owned: { fleets: Record<string, unknown>[]; environments: string[] }, before: Date, environment?: string): Promise<string[]> {
    // One environment's leftovers are known to be leftovers by whoever holds its lease; all of them only by a replica alone on the runtime.
    if (!this.options.reap && environment === undefined) return [];
    return reapUnowned(
      this.runtimeDir,
      { fleetIds: new Set(owned.fleets.map((f) => f.fleetId as string)), balancers: new Set(owned.environments) },
      before,
      environment,
    );
  }

  async poolStats(_spec: EnvironmentSpec, traffic: Record<string, unknown>): Promise<Record<Color, PoolStats> | undefined> {
    const url = adminUrlOf(traffic, "/metrics");
    if (!url) return undefined;
    const text = await readAdmin(url, { keepAlive: true });
    // The pool's series of the version it serves now (the proxy keeps one per pool).
    // Values are Prometheus floats: a large count may come as 1.234567e+06.
    // Forced requests have series of their own (cutover_proxy_forced_*), never part of the routed ones.
    const counter = (name: string, pool: Color) => Number(new RegExp(`^${name}\\{pool="${pool}"(?:,version="[^"]*")?\\} (\\S+)`, "m").exec(text)?.[1] ?? 0);
    const latency = (prefix: string, pool: Color) =>
      [...text.matchAll(new RegExp(`^${prefix}request_duration_seconds_bucket\\{pool="${pool}"(?:,version="[^"]*")?,le="([^"]+)"\\} (\\S+)`, "gm"))].map((m) => ({
        le: m[1] === "+Inf" ? Infinity : Number(m[1]),
        count: Number(m[2]),
      }));
    // A failed attempt the proxy retried elsewhere never reached a user, but it is the pool's error all the same.
    const counts = (prefix: string, c: Color) => ({
      requests: counter(`${prefix}requests_total`, c),
      errors: counter(`${prefix}responses_5xx_total`, c) + counter(`${prefix}retries_total`, c),
      latency: latency(prefix, c),
    });
    const stats = (c: Color): PoolStats => ({ ...counts("cutover_proxy_", c), forced: counts("cutover_proxy_forced_", c) });
    return { blue: stats("blue"), green: stats("green") };
  }
}

export const localRuntimeDir = (dataDir: string) => path.join(dataDir, "runtime");

/** Whether the haproxy the balancer would run is there: CUTOVER_HAPROXY_BIN, else haproxy on PATH, else Debian's (as infra/local/proxy/haproxy_worker.go looks). */
function haproxyInstalled(): boolean {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (process.env.CUTOVER_HAPROXY_BIN) return executable(process.env.CUTOVER_HAPROXY_BIN);
  return [...(process.env.PATH ?? "").split(":").filter(Boolean).map((dir) => path.join(dir, "haproxy")), "/usr/sbin/haproxy"].some(executable);
}

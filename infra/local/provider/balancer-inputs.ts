// What a local load balancer is asked to be: its pools, routing options,
// maintenance and TLS, as the traffic program declares them and the proxy's
// config file carries them (infra/local/proxy/config.go).
import type { ProcessIdentity } from "./process-identity";

export interface PoolInputs {
  weight: number;
  endpoints: string[];
  /** The version the pool serves: the balancer's metrics carry it. */
  version?: string;
}

/** How the proxy probes endpoints itself: GET `path` (or a TCP connect without one). */
export interface BalancerHealthCheck {
  path?: string;
  intervalMs?: number;
  timeoutMs?: number;
}

export interface BalancerInputs {
  name: string;
  listenHost: string;
  listenPort: number;
  adminPort: number;
  pools: Record<string, PoolInputs>;
  stickyHeader?: string;
  stickyCookie?: string;
  /** With forceKey: a request carrying `<forceHeader>: <pool>:<forceKey>` goes to that pool. Neither: no forcing. */
  forceHeader?: string;
  forceKey?: string;
  healthCheck?: BalancerHealthCheck;
  /** While set, routed requests are kept from the pools: answered with the page, or held until it is unset. */
  maintenance?: BalancerMaintenance;
  /** TLS on the listen port (infra/local/proxy/tls.go). */
  tls?: BalancerTls;
  /** A request every endpoint refused waits up to this long for one to come back (infra/local/proxy/outage.go). */
  holdWhenUnavailableMs?: number;
  /** HAProxy on the data path, driven by the proxy (infra/local/proxy/haproxy.go); absent: the proxy itself. */
  dataPlane?: "haproxy";
  /** A JSON line per request in access.log in the balancer's directory (infra/local/proxy/access_log.go). */
  accessLog?: boolean;
  /** How long an instance may stay silent before or while it answers (infra/local/proxy/config.go); absent: 60 s. */
  upstreamTimeoutMs?: number;
  runtimeDir: string;
}

export interface BalancerTls {
  certFile: string;
  keyFile: string;
  hstsMaxAgeSeconds?: number;
  /** A plain HTTP address that redirects to HTTPS. */
  redirectListen?: string;
}

/** The proxy's maintenance settings (infra/local/proxy/maintenance.go). */
export interface BalancerMaintenance {
  mode: "page" | "hold";
  status?: number;
  retryAfterSeconds?: number;
  holdTimeoutMs?: number;
  body?: string;
  contentType?: string;
}

export interface BalancerOutputs extends BalancerInputs {
  dir: string;
  process: ProcessIdentity;
  url: string;
  metricsUrl: string;
  /** The ports the proxy bound (the inputs may say 0: any free port). */
  boundListenPort: number;
  boundAdminPort: number;
  /** With TLS's redirect: its plain HTTP address, and the port bound. */
  redirectUrl?: string;
  boundRedirectPort?: number;
}

/** The ports a running proxy holds; a restart asks for the same. */
export interface BoundPorts {
  listenPort: number;
  adminPort: number;
  redirectPort?: number;
}

/** Maintenance as the proxy reports it (zero values left out), or null. */
export function maintenanceOf(config: { maintenance?: BalancerMaintenance }): BalancerMaintenance | null {
  const m = config.maintenance;
  if (!m) return null;
  return {
    mode: m.mode,
    ...(m.status ? { status: m.status } : {}),
    ...(m.retryAfterSeconds ? { retryAfterSeconds: m.retryAfterSeconds } : {}),
    ...(m.holdTimeoutMs ? { holdTimeoutMs: m.holdTimeoutMs } : {}),
    ...(m.body ? { body: m.body } : {}),
    ...(m.contentType ? { contentType: m.contentType } : {}),
  };
}


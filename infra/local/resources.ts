// Typed resource classes for the `cutover` provider, used by the local
// target's fleet and traffic programs.
import * as pulumi from "@pulumi/pulumi";
import type { BalancerMaintenance, BalancerTls } from "./provider/balancer-controller";
import type { ArtifactSpec } from "./provider/fleet-spec";
import type { HealthCheckSpec } from "./provider/health-check";
import { BALANCER_TYPE, FLEET_TYPE } from "./provider/local-provider";

export interface FleetArgs {
  name: pulumi.Input<string>;
  version: pulumi.Input<string>;
  replicas: pulumi.Input<number>;
  artifact: pulumi.Input<ArtifactSpec>;
  healthCheck: pulumi.Input<HealthCheckSpec & { startTimeoutMs: number }>;
  drainTimeoutMs: pulumi.Input<number>;
  runtimeDir: pulumi.Input<string>;
}

export class Fleet extends pulumi.CustomResource {
  declare readonly endpoints: pulumi.Output<string[]>;
  declare readonly version: pulumi.Output<string>;
  declare readonly fleetId: pulumi.Output<string>;
  declare readonly replicas: pulumi.Output<number>;

  constructor(name: string, args: FleetArgs, opts?: pulumi.CustomResourceOptions) {
    super(FLEET_TYPE, name, { ...args, endpoints: undefined, fleetId: undefined }, opts);
  }
}

export interface PoolArgs {
  weight: number;
  endpoints: string[];
  version?: string;
}

export interface LoadBalancerArgs {
  name: pulumi.Input<string>;
  listenHost: pulumi.Input<string>;
  listenPort: pulumi.Input<number>;
  adminPort: pulumi.Input<number>;
  pools: pulumi.Input<Record<string, pulumi.Input<PoolArgs>>>;
  stickyHeader?: pulumi.Input<string>;
  stickyCookie?: pulumi.Input<string>;
  /** With forceKey (kept a secret in the stack's state): a request carrying `<forceHeader>: <pool>:<forceKey>` goes to that pool. */
  forceHeader?: pulumi.Input<string>;
  forceKey?: pulumi.Input<string>;
  healthCheck?: pulumi.Input<{ path?: string; intervalMs?: number; timeoutMs?: number }>;
  /** While set, the balancer keeps routed requests from the pools (a page, or held). */
  maintenance?: pulumi.Input<BalancerMaintenance>;
  /** TLS on the listen port, from files, with an optional plain HTTP redirect. */
  tls?: pulumi.Input<BalancerTls>;
  /** A request every instance refused waits up to this long for one to come back. */
  holdWhenUnavailableMs?: pulumi.Input<number>;
  /** HAProxy on the data path, driven by the proxy; absent: the proxy itself. */
  dataPlane?: pulumi.Input<"haproxy">;
  /** A JSON line per request in access.log in the balancer's directory. */
  accessLog?: pulumi.Input<boolean>;
  /** How long an instance may stay silent before or while it answers; absent: 60 s. */
  upstreamTimeoutMs?: pulumi.Input<number>;
  runtimeDir: pulumi.Input<string>;
}

export class LoadBalancer extends pulumi.CustomResource {
  declare readonly url: pulumi.Output<string>;
  declare readonly metricsUrl: pulumi.Output<string>;
  /** The plain HTTP address that redirects to HTTPS, when TLS asks for one. */
  declare readonly redirectUrl: pulumi.Output<string | undefined>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.CustomResourceOptions) {
    super(BALANCER_TYPE, name, { ...args, url: undefined, metricsUrl: undefined, redirectUrl: undefined }, opts);
  }
}

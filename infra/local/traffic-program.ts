// The local target's traffic program: one load balancer in front of the
// blue and green pools.
import * as pulumi from "@pulumi/pulumi";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import { LoadBalancer, type LoadBalancerArgs } from "./resources";

export function localTrafficProgram(args: LoadBalancerArgs): PulumiFn {
  return async () => {
    // The force key lets its holder reach any pool: it is kept encrypted in stack state.
    const lb = new LoadBalancer("balancer", { ...args, ...(args.forceKey === undefined ? {} : { forceKey: pulumi.secret(args.forceKey) }) });
    return { url: lb.url, metricsUrl: lb.metricsUrl, ...(args.tls ? { redirectUrl: lb.redirectUrl } : {}) };
  };
}

// The local target's traffic program: one load balancer in front of the
// blue and green pools.
import type { PulumiFn } from "@pulumi/pulumi/automation";
import { LoadBalancer, type LoadBalancerArgs } from "./resources";

export function localTrafficProgram(args: LoadBalancerArgs): PulumiFn {
  return async () => {
    const lb = new LoadBalancer("balancer", args);
    return { url: lb.url, metricsUrl: lb.metricsUrl };
  };
}

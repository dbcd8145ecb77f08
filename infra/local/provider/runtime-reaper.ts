// Stops local fleets and balancers that no stack owns any more: what an
// operation interrupted by a crash had started but never recorded.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { stopBalancerDir } from "./balancer-controller";
import { stopFleet } from "./fleet-controller";

export interface Owned {
  fleetIds: Set<string>;
  balancers: Set<string>;
}

const entries = (dir: string) => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/**
 * Only directories older than `before` are considered, so work started
 * since is never touched; with `environment`, only that environment's
 * fleets (`<environment>-<color>-<id>`) and balancer.
 */
export async function reapUnowned(runtimeDir: string, owned: Owned, before: Date, environment?: string): Promise<string[]> {
  const reaped: string[] = [];
  const old = (dir: string) => statSync(dir).ctimeMs < before.getTime();
  const ofFleet = (id: string) => environment === undefined || (id.startsWith(`${environment}-`) && /^(blue|green)-[0-9a-f]{8}$/.test(id.slice(environment.length + 1)));
  for (const id of entries(path.join(runtimeDir, "fleets"))) {
    const dir = path.join(runtimeDir, "fleets", id);
    if (owned.fleetIds.has(id) || !ofFleet(id) || !old(dir)) continue;
    await stopFleet(dir, 5000);
    reaped.push(`fleet ${id}`);
  }
  for (const name of entries(path.join(runtimeDir, "balancers"))) {
    const dir = path.join(runtimeDir, "balancers", name);
    if (owned.balancers.has(name) || (environment !== undefined && name !== environment) || !old(dir)) continue;
    await stopBalancerDir(dir);
    reaped.push(`balancer ${name}`);
  }
  return reaped;
}

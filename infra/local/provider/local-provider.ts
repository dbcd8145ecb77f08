// The `cutover` resource provider: local fleets and load balancers as real
// Pulumi resources. Fleets are immutable (every input change but capacity
// replaces them; a capacity change adds or drains whole instances and never
// touches a running one); a load balancer's pools and weights update in place.
import type * as provider from "@pulumi/pulumi/provider";
import { inspectFleet, scaleFleet, startFleet, stopFleet, type FleetInputs, type FleetOutputs } from "./fleet-controller";
import {
  maintenanceOf,
  readBalancerRouting,
  reconfigureBalancer,
  startBalancer,
  stopBalancer,
  type BalancerInputs,
  type BalancerOutputs,
} from "./balancer-controller";
import { terminate } from "./process-identity";
import { keepSecrets, reveal } from "./secrets";
import { BALANCER_TYPE, FLEET_TYPE, PACKAGE_SCHEMA, PROVIDER_VERSION } from "./schema";

export { BALANCER_TYPE, FLEET_TYPE, PROVIDER_VERSION };

const BALANCER_REPLACE_KEYS = ["name", "listenHost", "listenPort", "adminPort", "runtimeDir", "dataPlane"];

function typeOf(urn: string): string {
  const parts = urn.split("::");
  const type = parts[2] ?? "";
  return type.split("$").pop()!;
}

function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  return [...keys].filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}

function inputsOf<T>(outs: Record<string, unknown>, keys: string[]): T {
  return Object.fromEntries(keys.filter((k) => k in outs).map((k) => [k, outs[k]])) as T;
}

const FLEET_INPUT_KEYS = ["name", "version", "replicas", "artifact", "healthCheck", "drainTimeoutMs", "runtimeDir"];

export class LocalProvider implements provider.Provider {
  readonly version = PROVIDER_VERSION;

  /** The package's schema (schema.ts), for programs in languages that need one. */
  async getSchema(): Promise<string> {
    return JSON.stringify(PACKAGE_SCHEMA);
  }

  async check(urn: string, _olds: unknown, news: Record<string, unknown>): Promise<provider.CheckResult> {
    const failures: provider.CheckFailure[] = [];
    if (typeOf(urn) === FLEET_TYPE) {
      const plain = reveal(news);
      const replicas = plain.replicas as number;
      // 0 is a fleet kept with no instances: a rolling deployment's old fleet before it is retired, ready to grow back.
      if (!Number.isInteger(replicas) || replicas < 0) failures.push({ property: "replicas", reason: "must be a whole number, 0 or more" });
      const artifact = plain.artifact as { command?: unknown } | undefined;
      if (!Array.isArray(artifact?.command) || artifact.command.length === 0) {
        failures.push({ property: "artifact", reason: "artifact.command must be a non-empty list" });
      }
    }
    return { inputs: news, failures };
  }

  async diff(_id: string, urn: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<provider.DiffResult> {
    const isFleet = typeOf(urn) === FLEET_TYPE;
    const keys = isFleet ? FLEET_INPUT_KEYS : Object.keys(news);
    const changed = changedKeys(inputsOf(reveal(olds), keys), inputsOf(reveal(news), keys));
    const replaces = isFleet ? changed.filter((k) => k !== "replicas") : changed.filter((k) => BALANCER_REPLACE_KEYS.includes(k));
    return { changes: changed.length > 0, replaces, deleteBeforeReplace: !isFleet };
  }

  async create(urn: string, inputs: Record<string, unknown>): Promise<provider.CreateResult> {
    if (typeOf(urn) === FLEET_TYPE) {
      const outs = await startFleet(reveal(inputs) as unknown as FleetInputs);
      return { id: outs.fleetId, outs: keepSecrets(outs as unknown as Record<string, unknown>, inputs) };
    }
    const outs = await startBalancer(reveal(inputs) as unknown as BalancerInputs);
    return { id: outs.name, outs: keepSecrets(outs as unknown as Record<string, unknown>, inputs) };
  }

  async read(id: string, urn: string, props: Record<string, unknown>): Promise<provider.ReadResult> {
    if (typeOf(urn) === FLEET_TYPE) {
      const outs = reveal(props) as unknown as FleetOutputs;
      const { supervisorAlive, liveInstances, replicas } = inspectFleet(outs.dir);
      if (!supervisorAlive) {
        // Without its supervisor nothing keeps the fleet whole: it is gone, and stray instances go with it.
        await terminate(liveInstances, outs.drainTimeoutMs ?? 5000);
        return {};
      }
      // The capacity is the supervisor's, whatever the last recorded update said (one may have been cut off).
      const actual = { ...props, instances: liveInstances, ...(replicas ? { replicas } : {}) };
      return { id, props: actual, inputs: inputsOf(actual, FLEET_INPUT_KEYS) };
    }
    // The weights in force are the proxy's own, whatever the last recorded update said: a
    // refresh puts them into the state, so the next update is planned against reality.
    // A balancer that does not answer keeps its resource with no pools, so the
    // next update restarts it on the ports it had rather than creating a new one.
    const outs = reveal(props) as unknown as BalancerOutputs;
    const routing = (await readBalancerRouting(outs)) ?? { pools: {} };
    const pools = Object.fromEntries(
      Object.entries(routing.pools ?? {}).map(([name, p]) => [name, { weight: p.weight, endpoints: p.endpoints ?? [], ...(p.version ? { version: p.version } : {}) }]),
    );
    const { maintenance: _recorded, ...rest } = props;
    const maintenance = routing.maintenance ? maintenanceOf(routing) : undefined;
    const actual = { ...rest, pools, ...(maintenance ? { maintenance } : {}) };
    const outputOnly = ["dir", "process", "url", "metricsUrl", "boundListenPort", "boundAdminPort", "redirectUrl", "boundRedirectPort"];
    return { id, props: actual, inputs: inputsOf(actual, Object.keys(actual).filter((k) => !outputOnly.includes(k))) };
  }

  async update(_id: string, urn: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<provider.UpdateResult> {
    if (typeOf(urn) === FLEET_TYPE) {
      const changed = changedKeys(inputsOf(reveal(olds), FLEET_INPUT_KEYS), inputsOf(reveal(news), FLEET_INPUT_KEYS));
      if (changed.some((k) => k !== "replicas")) throw new Error("fleets are immutable: only their capacity changes in place");
      const outs = await scaleFleet(reveal(olds) as unknown as FleetOutputs, reveal(news).replicas as number);
      return { outs: keepSecrets(outs as unknown as Record<string, unknown>, news) };
    }
    const outs = await reconfigureBalancer(reveal(olds) as unknown as BalancerOutputs, reveal(news) as unknown as BalancerInputs);
    return { outs: keepSecrets(outs as unknown as Record<string, unknown>, news) };
  }

  async delete(_id: string, urn: string, props: Record<string, unknown>): Promise<void> {
    if (typeOf(urn) === FLEET_TYPE) {
      const outs = reveal(props) as unknown as FleetOutputs;
      await stopFleet(outs.dir, outs.drainTimeoutMs);
      return;
    }
    await stopBalancer(reveal(props) as unknown as BalancerOutputs);
  }
}

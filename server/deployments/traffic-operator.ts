// Changes and reads an environment's traffic. A change is written down
// before it is made (the intent), made against reality, and its outcome is
// read back from the target before it is recorded. Where the target can, a
// change goes to the running balancer directly, in milliseconds, and a
// refresh of the traffic stack records it in the stack's state afterwards;
// otherwise it is an update of the traffic stack, refreshed from the target
// first, so a balancer that holds other weights than the state believes is
// still moved.
import { crashPointAtFirstStep, type OperationOptions, type StackEngine } from "./stack-engine";
import { crashPoint } from "../fault-injection";
import { stackNames, type TrafficObservation, type TrafficSecrets, type TrafficState } from "./deployment-target";
import type { TargetRegistry } from "./target-registry";
import type { DomainEventBus } from "./deployment-events";
import type { Color, Environment } from "./model";
import type { EnvironmentRepository, SecretSealer } from "./ports";
import { intendTraffic, recordTraffic, settleTraffic } from "./environment-changes";

export class TrafficMismatchError extends Error {
  constructor(
    readonly wanted: Record<Color, number>,
    readonly actual: Record<Color, number> | undefined,
  ) {
    super(
      actual
        ? `the target routes ${describe(actual)} after a change to ${describe(wanted)}`
        : `the target did not report its weights after a change to ${describe(wanted)}`,
    );
    this.name = "TrafficMismatchError";
  }
}

const describe = (w: Record<Color, number>) => `blue ${w.blue}% / green ${w.green}%`;

export interface ApplyOptions extends OperationOptions {
  /** Colors whose pool is emptied (their fleet is about to go). */
  without?: Color[];
  /** Colors whose pool keeps only its first n endpoints (the others are about to be drained). */
  keep?: Partial<Record<Color, number>>;
  deploymentId?: string;
  /** Names the fault-injection points around the change (`<label>:before-traffic`, ...). */
  label?: string;
}

export class TrafficOperator {
  constructor(
    private readonly engine: StackEngine,
    private readonly environments: EnvironmentRepository,
    private readonly targets: TargetRegistry,
    private readonly bus: DomainEventBus,
    private readonly secrets: SecretSealer,
    private readonly mode: "direct" | "stack" = "direct",
  ) {}

  state(env: Environment, weights: Record<Color, number>, without: Color[] = [], keep: Partial<Record<Color, number>> = {}): TrafficState {
    const pool = (c: Color) => {
      let fleet = without.includes(c) ? undefined : env.fleets[c]?.outputs;
      const n = keep[c];
      if (fleet && n !== undefined && Array.isArray(fleet.endpoints)) fleet = { ...fleet, endpoints: fleet.endpoints.slice(0, n) };
      return { weight: fleet ? weights[c] : 0, fleet };
    };
    return { blue: pool("blue"), green: pool("green"), ...(env.maintenance ? { maintenance: env.maintenance } : {}) };
  }

  program(env: Environment, weights: Record<Color, number>, without: Color[] = [], keep: Partial<Record<Color, number>> = {}) {
    return this.targets.get(env.spec.target).trafficProgram(env.spec, this.state(env, weights, without, keep), this.secretsOf(env));
  }

  /**
   * The environment's sealed traffic secrets, opened where the balancer's
   * configuration is built: every update, direct change and recovery
   * writes the force key from the record, so none of them loses it.
   */
  private secretsOf(env: Environment): TrafficSecrets {
    return env.spec.forceKey ? { forceKey: this.secrets.open(env.spec.forceKey.sealed) } : {};
  }

  /**
   * The weights in force, as the target reports them. An environment whose
   * traffic stack does not exist routes nothing; a balancer that cannot be
   * asked gives undefined, never zero.
   */
  async observe(env: Environment, opts: { fresh?: boolean } = {}): Promise<TrafficObservation | undefined> {
    const fresh = opts.fresh ?? true;
    const trafficStack = stackNames(env.name).traffic;
    if (!env.traffic && !(await this.engine.exists(trafficStack))) return { weights: { blue: 0, green: 0 }, source: "stack-state" };
    const fleets = Object.fromEntries(Object.entries(env.fleets).map(([c, f]) => [c, f!.outputs]));
    return this.targets.get(env.spec.target).observeTraffic(env.spec, {
      traffic: env.traffic,
      fleets,
      resources: (refresh) => this.engine.resources(trafficStack, { refresh: refresh && fresh }),
    });
  }

  /**
   * Moves traffic to these weights: intent first, then the change, then the
   * outcome as read back. Where the target can, the change goes to the
   * balancer directly and the traffic stack's refresh records it later
   * (`record`); otherwise it is an update of the traffic stack.
   */
  async apply(env: Environment, weights: Record<Color, number>, opts: ApplyOptions = {}): Promise<Environment> {
    const { without = [], keep = {}, deploymentId, label = "traffic", ...ops } = opts;
    const state = this.state(env, weights, without, keep);
    const wanted = { blue: state.blue.weight, green: state.green.weight };
    env = await this.environments.update(env.name, intendTraffic(wanted, deploymentId, new Date().toISOString()));
    crashPoint(`${label}:before-traffic`);
    const direct = await this.applyDirectly(env, state, label);
    let outputs = env.traffic;
    if (!direct) {
      outputs = await this.engine.up(stackNames(env.name).traffic, this.program(env, weights, without, keep), crashPointAtFirstStep({ ...ops, refresh: true }, `${label}:during-traffic`));
    }
    crashPoint(`${label}:after-traffic`);
    const observed = await this.observe({ ...env, traffic: outputs });
    if (!observed || observed.weights.blue !== wanted.blue || observed.weights.green !== wanted.green) {
      throw new TrafficMismatchError(wanted, observed?.weights);
    }
    const at = new Date().toISOString();
    // An update records what it did; a direct change waits for the refresh that records it.
    const updated = await this.environments.update(env.name, settleTraffic(observed.weights, outputs, direct, at));
    this.bus.emit("environment:weights", { environment: env.name, weights: updated.weights });
    return updated;
  }

  /** The change made on the balancer itself; false when it has to be the traffic stack's update. */
  private async applyDirectly(env: Environment, state: TrafficState, label: string): Promise<boolean> {
    const target = this.targets.get(env.spec.target);
    if (this.mode !== "direct" || !env.traffic || !target.applyTraffic) return false;
    // A balancer that did not take the change directly gets it through the update, which also restarts a dead one.
    return target.applyTraffic(env.spec, state, env.traffic, { written: () => crashPoint(`${label}:during-traffic`) }, this.secretsOf(env)).catch(() => false);
  }

  /**
   * Records in the traffic stack's state what direct changes made: a refresh
   * reads the balancer's routing back into it. Runs as the environment's
   * own work, so no change and no other operation on the stack overlaps it.
   */
  async record(env: Environment, ops: OperationOptions = {}): Promise<Environment> {
    const pending = env.trafficUnrecorded;
    if (!pending) return env;
    crashPoint("recording-traffic");
    await this.engine.refresh(stackNames(env.name).traffic, crashPointAtFirstStep(ops, "recording-traffic:engine"));
    return this.environments.update(env.name, recordTraffic(pending.at));
  }
}

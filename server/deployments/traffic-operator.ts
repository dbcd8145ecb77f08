// Applies weights to an environment's traffic stack and records them.
import type { OperationOptions, StackEngine } from "../engine/stack-engine";
import type { EnvironmentStore } from "../store/environment-store";
import { stackNames, type TrafficState } from "../targets/deployment-target";
import type { TargetRegistry } from "../targets/target-registry";
import type { DomainEventBus } from "./deployment-events";
import type { Color, Environment } from "./model";

export class TrafficOperator {
  constructor(
    private readonly engine: StackEngine,
    private readonly environments: EnvironmentStore,
    private readonly targets: TargetRegistry,
    private readonly bus: DomainEventBus,
  ) {}

  state(env: Environment, weights: Record<Color, number>, without: Color[] = []): TrafficState {
    const pool = (c: Color) => {
      const fleet = without.includes(c) ? undefined : env.fleets[c]?.outputs;
      return { weight: fleet ? weights[c] : 0, fleet };
    };
    return { blue: pool("blue"), green: pool("green") };
  }

  program(env: Environment, weights: Record<Color, number>, without: Color[] = []) {
    return this.targets.get(env.spec.target).trafficProgram(env.spec, this.state(env, weights, without));
  }

  /** Ups the traffic stack with these weights; `without` names colors whose pool is emptied. */
  async shift(env: Environment, weights: Record<Color, number>, ops: OperationOptions, without: Color[] = []): Promise<Environment> {
    const state = this.state(env, weights, without);
    const outputs = await this.engine.up(stackNames(env.name).traffic, this.program(env, weights, without), ops);
    const updated = this.environments.update(env.name, (e) => {
      e.weights = { blue: state.blue.weight, green: state.green.weight };
      e.traffic = outputs;
    });
    this.bus.emit("environment:weights", { environment: env.name, weights: updated.weights });
    return updated;
  }
}

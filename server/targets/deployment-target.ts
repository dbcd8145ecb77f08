// The one interface every target implements. The orchestrator only ever
// talks to a target through it: a fleet program per color and version, a
// traffic program over the two colors, and a health verdict on a new fleet.
import type { PulumiFn } from "@pulumi/pulumi/automation";
import type { Artifact, Color, EnvironmentSpec, Strategy, TargetName } from "../deployments/model";

export interface PoolState {
  weight: number;
  /** The outputs of the color's fleet stack, absent when the color has no fleet. */
  fleet?: Record<string, unknown>;
}

export type TrafficState = Record<Color, PoolState>;

export interface PoolStats {
  requests: number;
  errors: number;
}

export interface DeploymentTarget {
  readonly name: TargetName;
  /** Completes a spec at creation (ports, defaults) and rejects what the target cannot do. */
  prepare(spec: EnvironmentSpec): Promise<EnvironmentSpec>;
  /** Rejects a strategy the target cannot carry out for this environment. */
  checkStrategy?(spec: EnvironmentSpec, strategy: Strategy): void;
  /** `traffic` holds the outputs of the environment's traffic stack (network, security groups). */
  fleetProgram(spec: EnvironmentSpec, color: Color, version: string, artifact: Artifact, traffic?: Record<string, unknown>): PulumiFn;
  trafficProgram(spec: EnvironmentSpec, traffic: TrafficState): PulumiFn;
  /** Resolves when the fleet described by these stack outputs is healthy. */
  verify(spec: EnvironmentSpec, fleet: Record<string, unknown>): Promise<void>;
  /** Request and 5xx counters per color since the proxy started, where the target can tell. */
  poolStats?(spec: EnvironmentSpec, traffic: Record<string, unknown>): Promise<Record<Color, PoolStats> | undefined>;
  /**
   * Removes runtime leftovers no stack owns (what a crash interrupted).
   * `owned` holds the outputs of every existing fleet and traffic stack.
   */
  reapUnowned?(owned: { fleets: Record<string, unknown>[]; environments: string[] }, before: Date): Promise<string[]>;
}

export const stackNames = (environment: string) => ({
  traffic: `${environment}.traffic`,
  blue: `${environment}.blue`,
  green: `${environment}.green`,
});

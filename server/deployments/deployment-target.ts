// The one interface every target implements. The orchestrator only ever
// talks to a target through it: a fleet program per color and version, a
// traffic program over the two colors, and a health verdict on a new fleet.
import type { StackProgram } from "../../infra/programs";
import type { ResourceState } from "./stack-engine";
import type { RunnableArtifact, Color, EnvironmentSpec, Maintenance, Strategy, TargetName } from "./model";

export interface PoolState {
  weight: number;
  /** The outputs of the color's fleet stack, absent when the color has no fleet. */
  fleet?: Record<string, unknown>;
}

/** The two pools, and the environment's maintenance while it is on (a target that supports it makes its balancer keep requests from the pools). */
export interface TrafficState {
  blue: PoolState;
  green: PoolState;
  maintenance?: Maintenance;
}

export interface RequestCounts {
  requests: number;
  errors: number;
  /** Cumulative latency histogram: requests at or under each bound (seconds). */
  latency?: { le: number; count: number }[];
}

/** A pool's counts of the requests its weight routed to it. */
export interface PoolStats extends RequestCounts {
  /** The requests that forced the pool (the keyed force header), counted apart: never part of the counts above. */
  forced?: RequestCounts;
}

/** What a traffic program needs that the journal keeps sealed, opened for the one change. */
export interface TrafficSecrets {
  /** The environment's force key, when its target settings name a force header. */
  forceKey?: string;
}

/** The weights in force, as the target itself reports them. */
export interface TrafficObservation {
  weights: Record<Color, number>;
  /** `balancer`: asked the running balancer; `stack-state`: the traffic stack's state after a refresh. */
  source: "balancer" | "stack-state";
}

/** What a target may consult to observe an environment's traffic. */
export interface TrafficView {
  /** Outputs of the traffic stack, if it exists. */
  traffic?: Record<string, unknown>;
  /** Outputs of each color's fleet stack, where one exists. */
  fleets: Partial<Record<Color, Record<string, unknown>>>;
  /** The traffic stack's resources, refreshed from the target when asked. */
  resources(refresh: boolean): Promise<ResourceState[]>;
}

/** Something about a fleet that differs from what its stack says (a dead supervisor, a missing instance). */
export interface FleetCondition {
  healthy: boolean;
  problems: string[];
}

/** A pre-deploy job as a target runs it: env values plain. */
export interface RunnableJob {
  command: string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs: number;
}

export interface JobResult {
  exitCode: number | null;
  timedOut: boolean;
  /** The end of the job's output, when the target can tell. */
  output?: string;
}

export interface DeploymentTarget {
  readonly name: TargetName;
  /** Whether its balancer can keep requests from the pools while the environment is in maintenance. */
  readonly maintenance?: boolean;
  /** Completes a spec at creation (ports, defaults) and rejects what the target cannot do. */
  prepare(spec: EnvironmentSpec): Promise<EnvironmentSpec>;
  /** Rejects a strategy the target cannot carry out for this environment. */
  checkStrategy?(spec: EnvironmentSpec, strategy: Strategy): void;
  /**
   * `traffic` holds the outputs of the environment's traffic stack (network,
   * security groups); `replicas` the fleet's capacity when it is not the
   * spec's (a rolling deployment's fleets grow and shrink wave by wave).
   */
  fleetProgram(spec: EnvironmentSpec, color: Color, version: string, artifact: RunnableArtifact, traffic?: Record<string, unknown>, replicas?: number): StackProgram;
  /** `secrets` hold what the spec keeps sealed (the force key), opened for this program; without them nothing is forced. */
  trafficProgram(spec: EnvironmentSpec, traffic: TrafficState, secrets?: TrafficSecrets): StackProgram;
  /** Resolves when the fleet described by these stack outputs is healthy, at `replicas` instances (the spec's by default). */
  verify(spec: EnvironmentSpec, fleet: Record<string, unknown>, replicas?: number): Promise<void>;
  /**
   * The weights actually in force, read from the target (the balancer, the
   * listener, the route), never from Cutover's own records. Undefined when
   * nothing can be read (no traffic stack, or the balancer is down): an
   * unknown weight is never taken for zero.
   */
  observeTraffic(spec: EnvironmentSpec, view: TrafficView): Promise<TrafficObservation | undefined>;
  /**
   * Moves the running balancer to these pools directly, in milliseconds,
   * where the target can (`current`: the traffic stack's outputs). The
   * traffic stack's state is brought up to date afterwards by a refresh.
   * False when it cannot (the balancer is not running): the change then
   * goes through the traffic stack's update. `written` is called once the
   * change is handed to the balancer and may be in force. `secrets` as for
   * `trafficProgram`: the rewritten configuration keeps the force key.
   */
  applyTraffic?(spec: EnvironmentSpec, traffic: TrafficState, current: Record<string, unknown>, hooks: { written(): void }, secrets?: TrafficSecrets): Promise<boolean>;
  /** How a fleet is doing right now, where the target can tell cheaply; undefined when it cannot. */
  observeFleet?(spec: EnvironmentSpec, fleet: Record<string, unknown>): Promise<FleetCondition | undefined>;
  /** Request and 5xx counters per color since the proxy started (routed, and forced apart), where the target can tell. */
  poolStats?(spec: EnvironmentSpec, traffic: Record<string, unknown>): Promise<Record<Color, PoolStats> | undefined>;
  /**
   * Runs a deployment's pre-deploy job to its end where the target runs
   * processes itself; `onStart` is given a handle a restarted server passes
   * to `stopJob`. Targets without it run the job as a stack (`jobProgram`).
   */
  runJob?(
    spec: EnvironmentSpec,
    job: RunnableJob,
    opts: { deploymentId: string; signal: AbortSignal; onStart(handle: Record<string, unknown>): Promise<void> },
  ): Promise<JobResult>;
  stopJob?(handle: Record<string, unknown>): Promise<void>;
  /** The pre-deploy job as a one-off stack (a Kubernetes Job); its outputs hold `exitCode`. */
  jobProgram?(spec: EnvironmentSpec, job: RunnableJob, version: string, deploymentId: string): StackProgram;
  /**
   * Removes runtime leftovers no stack owns (what a crash interrupted).
   * `owned` holds the outputs of every existing fleet and traffic stack
   * (of `environment` alone, when given: then only its leftovers go).
   */
  reapUnowned?(owned: { fleets: Record<string, unknown>[]; environments: string[] }, before: Date, environment?: string): Promise<string[]>;
}

export const stackNames = (environment: string) => ({
  traffic: `${environment}.traffic`,
  blue: `${environment}.blue`,
  green: `${environment}.green`,
  job: `${environment}.job`,
});

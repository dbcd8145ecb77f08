// The environment record's table: every change to a stored environment is
// one of these named transitions, as every change to a deployment is a move
// of deployment-states.ts. The repository applies a transition atomically
// (read, change, write under the environment's fence); nothing else
// writes an environment.
import type { Color, Deployment, Environment, FleetRecord, Maintenance, RecordedDrift } from "./model";

export const ENVIRONMENT_TRANSITIONS = [
  /** Creation finished: the traffic stack is up. */
  "ready",
  /** Creation failed: the traffic stack is gone. */
  "creation_failed",
  /** Deletion began. */
  "deleting",
  /** Deletion failed; the environment needs attention. */
  "deletion_failed",
  /** A refresh recorded what it found different (or that nothing is). */
  "drift_recorded",
  /** A traffic change is about to reach the balancer. */
  "traffic_intended",
  /** The balancer routes by the weights read back. */
  "traffic_settled",
  /** The traffic stack's state records the direct changes. */
  "traffic_recorded",
  /** A new fleet serves on a color. */
  "fleet_built",
  /** A fleet's capacity changed. */
  "fleet_resized",
  /** A color's fleet is gone. */
  "fleet_dropped",
  /** A deployment's version is live. */
  "went_live",
  /** A rollback put the previous version back as the live one. */
  "live_restored",
  /** The old fleet could not take traffic back: the new version stays live. */
  "new_version_kept",
  /** Something needs attention (a fleet that could not be retired, a rollback that failed). */
  "needs_attention",
  /** Maintenance began, changed or ended: every later traffic change carries it. */
  "maintenance_set",
] as const;

export type EnvironmentTransition = (typeof ENVIRONMENT_TRANSITIONS)[number];

/** One named change of an environment's record. */
export interface EnvironmentChange {
  readonly transition: EnvironmentTransition;
  apply(env: Environment): void;
}

const change = (transition: EnvironmentTransition, apply: (env: Environment) => void): EnvironmentChange => ({ transition, apply });

type Problem = { code: string; message: string };

export const markReady = () =>
  change("ready", (e) => {
    if (e.status !== "creating") return;
    e.status = "ready";
    delete e.error;
  });

export const failCreation = (error: Problem) =>
  change("creation_failed", (e) => {
    delete e.traffic;
    delete e.trafficIntent;
    if (e.status !== "creating") return;
    e.status = "failed";
    e.error = error;
  });

export const markDeleting = () => change("deleting", (e) => (e.status = "deleting"));

export const failDeletion = (error: Problem) =>
  change("deletion_failed", (e) => {
    e.status = "failed";
    e.error = error;
  });

export const setMaintenance = (maintenance: Maintenance | undefined) =>
  change("maintenance_set", (e) => {
    if (maintenance) e.maintenance = maintenance;
    else delete e.maintenance;
  });

export const recordDrift = (drift: RecordedDrift | undefined) =>
  change("drift_recorded", (e) => {
    if (drift) e.drift = drift;
    else delete e.drift;
  });

export const intendTraffic = (weights: Record<Color, number>, deploymentId: string | undefined, at: string) =>
  change("traffic_intended", (e) => (e.trafficIntent = { weights, deploymentId, at }));

/** `direct`: the change was made on the balancer itself, and waits for the refresh that records it in the traffic stack. */
export const settleTraffic = (weights: Record<Color, number>, outputs: Record<string, unknown> | undefined, direct: boolean, at: string) =>
  change("traffic_settled", (e) => {
    e.weights = weights;
    e.traffic = outputs;
    delete e.trafficIntent;
    if (direct) e.trafficUnrecorded = { weights, at };
    else delete e.trafficUnrecorded;
  });

/** The record made at `at` is in the traffic stack now (a later direct change still waits for its own). */
export const recordTraffic = (at: string) =>
  change("traffic_recorded", (e) => {
    if (e.trafficUnrecorded?.at === at) delete e.trafficUnrecorded;
  });

export const buildFleet = (color: Color, fleet: FleetRecord) => change("fleet_built", (e) => (e.fleets[color] = fleet));

export const resizeFleetRecord = (color: Color, outputs: Record<string, unknown>, replicas: number) =>
  change("fleet_resized", (e) => {
    if (e.fleets[color]) Object.assign(e.fleets[color]!, { outputs, replicas });
  });

export const dropFleet = (color: Color) => change("fleet_dropped", (e) => delete e.fleets[color]);

/** The deployment's version is live; the fleet it replaced, if any, becomes the previous version. */
export const markLive = (d: Deployment) =>
  change("went_live", (e) => {
    const from = d.fromColor;
    e.activeColor = d.toColor;
    e.liveVersion = d.version;
    e.liveArtifact = d.artifact;
    if (from && e.fleets[from]) {
      e.previousVersion = d.fromVersion;
      e.previousArtifact = e.fleets[from]?.artifact;
    }
    delete e.error;
  });

/** A rollback's end: the old color live again (or none, for a first deployment), the history as it was before. */
export const restoreLive = (d: Deployment) =>
  change("live_restored", (e) => {
    const from = d.fromColor;
    e.activeColor = from;
    e.liveVersion = from ? d.fromVersion : undefined;
    e.liveArtifact = from ? e.fleets[from]?.artifact : undefined;
    if (d.restore) {
      e.previousVersion = d.restore.previousVersion;
      e.previousArtifact = d.restore.previousArtifact;
    }
  });

export const keepNewVersion = (d: Deployment) =>
  change("new_version_kept", (e) => {
    e.activeColor = d.toColor;
    e.liveVersion = d.version;
    e.liveArtifact = d.artifact;
  });

export const needAttention = (error: Problem) => change("needs_attention", (e) => (e.error = error));

// The names of the events a deployment's journal records: every writer and
// reader (streams, chat, webhooks, metrics) spells them from here.
import { TERMINAL_STATES } from "./deployment-states";
import type { DeploymentState } from "./model";
import type { EngineProgress } from "./stack-engine";

export const DEPLOYMENT_EVENTS = [
  "deployment:queued",
  "deployment:started",
  "deployment:phase",
  "deployment:traffic_intent",
  "deployment:step",
  "deployment:paused",
  "deployment:resumed",
  "deployment:promoted",
  "deployment:resizing",
  "deployment:resized",
  "deployment:analysis_started",
  "deployment:measurement",
  "deployment:analysis_failed",
  "deployment:promote_requested",
  "deployment:pause_requested",
  "deployment:resume_requested",
  "deployment:abort_requested",
  "deployment:suspended",
  "deployment:resumed_after_restart",
  "deployment:recovering",
  "deployment:succeeded",
  "deployment:rolled_back",
  "deployment:failed",
  "deployment:cancelled",
  "gate:notified",
  "gate:started",
  "gate:waiting",
  "gate:passed",
  "gate:approved",
  "gate:rejected",
  "gate:failed",
  "job:started",
  "job:succeeded",
  "job:failed",
  "job:stopped",
] as const;

export type JournalEventType = (typeof DEPLOYMENT_EVENTS)[number] | EngineProgress["type"];

/** The event that ends a deployment in each terminal state. */
export const outcomeEvent = (state: DeploymentState): JournalEventType => `deployment:${state}` as JournalEventType;

/** The events after which a deployment's journal holds nothing more: one per terminal state of the table. */
export const END_EVENTS: ReadonlySet<string> = new Set<JournalEventType>(TERMINAL_STATES.map(outcomeEvent));

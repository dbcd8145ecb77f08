// The deployment state machine, declared once. Every change of a
// deployment's state or phase goes through `transition`, which refuses a
// move the tables below do not allow: a bug in the orchestrator fails
// loudly instead of writing an impossible deployment into the journal.
import type { DeploymentState, Phase } from "./model";

/** Which states may follow each state. A state with no successor is terminal. */
export const STATE_TRANSITIONS: Record<DeploymentState, readonly DeploymentState[]> = {
  queued: ["running", "cancelled"],
  running: ["paused", "rolling_back", "succeeded", "failed"],
  paused: ["running", "rolling_back"],
  rolling_back: ["rolled_back", "failed"],
  succeeded: [],
  rolled_back: [],
  failed: [],
  cancelled: [],
};

/** Which phases may follow each phase. Any working phase may turn into a rollback. */
export const PHASE_TRANSITIONS: Record<Phase, readonly Phase[]> = {
  queued: ["provisioning", "done"],
  provisioning: ["verifying", "rolling_back"],
  verifying: ["shifting", "rolling_back"],
  shifting: ["baking", "retiring", "done", "rolling_back"],
  baking: ["retiring", "rolling_back"],
  retiring: ["done"],
  rolling_back: ["done"],
  done: [],
};

/** The phases a deployment may be in while it holds each state. */
export const PHASES_OF_STATE: Record<DeploymentState, readonly Phase[]> = {
  queued: ["queued"],
  running: ["provisioning", "verifying", "shifting", "baking", "retiring"],
  paused: ["provisioning", "shifting", "baking"],
  rolling_back: ["rolling_back"],
  succeeded: ["done"],
  rolled_back: ["done"],
  failed: ["done"],
  cancelled: ["done"],
};

/** Every deployment state. */
export const STATES = Object.keys(STATE_TRANSITIONS) as DeploymentState[];

export const TERMINAL_STATES = (Object.keys(STATE_TRANSITIONS) as DeploymentState[]).filter((s) => STATE_TRANSITIONS[s].length === 0);

export const isTerminal = (state: DeploymentState): boolean => STATE_TRANSITIONS[state].length === 0;

/** States of a deployment that has started and not yet ended. */
export const ACTIVE_STATES = (Object.keys(STATE_TRANSITIONS) as DeploymentState[]).filter((s) => s !== "queued" && !isTerminal(s));

export class IllegalTransitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IllegalTransitionError";
  }
}

export interface Position {
  state: DeploymentState;
  phase: Phase;
}

/** Checks a move from one position to another against the tables; throws if it is not allowed. */
export function checkTransition(from: Position, to: Position): void {
  const stateOk = from.state === to.state || STATE_TRANSITIONS[from.state].includes(to.state);
  const phaseOk = from.phase === to.phase || PHASE_TRANSITIONS[from.phase].includes(to.phase);
  const consistent = PHASES_OF_STATE[to.state].includes(to.phase);
  if (!stateOk || !phaseOk || !consistent) {
    throw new IllegalTransitionError(`illegal deployment transition ${from.state}/${from.phase} → ${to.state}/${to.phase}`);
  }
}

// What a deployment's runner does next, decided from what it sees: the
// deployment as the journal holds it and what happened since the last look
// (a failure, a stop at a safe point, a request to suspend). One pure
// function over one table of rows, each a condition and its decision, in
// the order they are asked. The runner performs the decision, records it,
// and asks again; picking a deployment up after a crash is the same call
// as picking up a queued one (`firstLook`).
import { isTerminal } from "./deployment-states";
import type { Deployment, Phase } from "./model";

/** The phases in which a deployment does its own work (each has a handler). */
export type WorkPhase = Extract<Phase, "provisioning" | "verifying" | "shifting" | "baking" | "retiring" | "rolling_back">;

export interface Observation {
  /** This runner has just picked the deployment up: nothing of it runs in this process yet. */
  firstLook: boolean;
  /** A graceful shutdown (or a lost lease) asks it to stop at its next safe point. */
  suspendRequested: boolean;
  /** The last piece of work stopped at a safe point, as asked. */
  stoppedAtSafePoint?: boolean;
  /** The last piece of work failed (an error, the deadline, an abort), and with what. */
  failure?: { error: unknown };
}

export type Decision =
  /** Nothing more to do: the deployment has ended. */
  | { do: "end" }
  /** A failure where no rollback can help (while retiring or rolling back): the runner stops, the journal keeps the deployment for the next start. */
  | { do: "give_up" }
  /** Queued: take the colors, start the clock, move to provisioning. */
  | { do: "start" }
  /** Suspended at a safe point by the last server: go on where it stopped. */
  | { do: "resume" }
  /** Roll back: its work failed, or a crash cut it off in the middle. */
  | { do: "roll_back"; because: "failed" | "interrupted" }
  /** Stop at this safe point; the next start resumes it. */
  | { do: "suspend" }
  /** Do the phase's work. */
  | { do: "work"; phase: WorkPhase };

const winding = (phase: Phase) => phase === "retiring" || phase === "rolling_back";

interface Row {
  when: (d: Deployment, seen: Observation) => boolean;
  then: (d: Deployment) => Decision;
  /** Why the row is there, for people reading the table. */
  why: string;
}

/** The table, asked top to bottom; the first row whose condition holds decides. */
export const DECISIONS: readonly Row[] = [
  { why: "a failure in the last steps, or after the end, has nothing to roll back to", when: (d, s) => !!s.failure && (winding(d.phase) || isTerminal(d.state)), then: () => ({ do: "give_up" }) },
  { why: "an ended deployment is done", when: (d) => isTerminal(d.state), then: () => ({ do: "end" }) },
  { why: "work that failed rolls back", when: (_d, s) => !!s.failure, then: () => ({ do: "roll_back", because: "failed" }) },
  { why: "work that stopped at a safe point is suspended", when: (_d, s) => !!s.stoppedAtSafePoint, then: () => ({ do: "suspend" }) },
  { why: "a queued deployment starts", when: (d, s) => s.firstLook && d.state === "queued", then: () => ({ do: "start" }) },
  { why: "a deployment a graceful shutdown suspended resumes", when: (d, s) => s.firstLook && !!d.suspended, then: () => ({ do: "resume" }) },
  {
    why: "a deployment a crash cut off in its own work rolls back; one retiring the old fleet or rolling back goes on",
    when: (d, s) => s.firstLook && !winding(d.phase),
    then: () => ({ do: "roll_back", because: "interrupted" }),
  },
  { why: "asked to suspend, it stops before its next piece of work (never while winding up)", when: (d, s) => s.suspendRequested && !winding(d.phase), then: () => ({ do: "suspend" }) },
  { why: "otherwise, the phase's work", when: () => true, then: (d) => ({ do: "work", phase: d.phase as WorkPhase }) },
];

export function decide(d: Deployment, seen: Observation): Decision {
  return DECISIONS.find((row) => row.when(d, seen))!.then(d);
}

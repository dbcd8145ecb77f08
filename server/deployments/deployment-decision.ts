// What a deployment's runner does next, decided from what it sees: the
// deployment as the journal holds it and what happened since the last look
// (a failure, a stop at a safe point, a request to suspend, pause or
// abort). One pure function over one table of rows, each a condition and
// its decision, in the order they are asked. The runner performs the
// decision, records it, and asks again; picking a deployment up after a
// crash is the same call as picking up a queued one (`firstLook`).
//
// Traffic moves one row at a time: a person's pause, the preview of a
// blue/green pre-promotion analysis, each gate, each step (its weights and
// its pause) and the promotion at the end are decisions of their own, read
// from what the deployment records (its step, its pause, its gate log).
import { parseDuration } from "../../infra/duration";
import { isTerminal } from "./deployment-states";
import { gateKey, isPassed, kindOf, type HoldingKind } from "./gate-rules";
import type { Deployment, Gate, Phase } from "./model";

/** The phases whose work is one piece (shifting is done step by step, by rows of its own). */
export type WorkPhase = Extract<Phase, "provisioning" | "verifying" | "baking" | "retiring" | "rolling_back">;

export interface Observation {
  /** This runner has just picked the deployment up: nothing of it runs in this process yet. */
  firstLook: boolean;
  /** A graceful shutdown (or a lost lease) asks it to stop at its next safe point. */
  suspendRequested: boolean;
  /** A person asked it to pause (and has not asked it to resume). */
  pauseRequested?: boolean;
  /** Someone aborted it, or its deadline passed. */
  abortRequested?: boolean;
  /** The last piece of work stopped at a safe point, as asked. */
  stoppedAtSafePoint?: boolean;
  /** The last piece of work failed (an error, the deadline, an abort), and with what. */
  failure?: { error: unknown };
}

/** Where a gate is asked: the step and its weight, for the gates of a step. */
export interface GatePlace {
  step?: number;
  weight?: number;
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
  /** Roll back: its work failed, someone aborted it, or a crash cut it off in the middle. */
  | { do: "roll_back"; because: "failed" | "aborted" | "interrupted" }
  /** Stop at this safe point; the next start resumes it. */
  | { do: "suspend" }
  /** Hold for the person who paused it, until they resume. */
  | { do: "hold" }
  /** Ask one gate (a URL or a person); it passes, or the deployment rolls back. */
  | { do: "gate"; gate: Gate; at: GatePlace }
  /** Put the new pool behind the balancer at weight 0 and run the pre-promotion analysis. */
  | { do: "preview" }
  /** Apply one step's weights (and a rolling wave's sizes), then its pause. */
  | { do: "step"; index: number }
  /** Every step applied: the new version is live; bake, retire the old fleet, or finish. */
  | { do: "promote" }
  /** Do the phase's work. */
  | { do: "work"; phase: WorkPhase };

export const winding = (phase: Phase): boolean => phase === "retiring" || phase === "rolling_back";

/** The step's pause is over (or it had none): a step recorded and not waiting is done. */
export const stepFinished = (d: Deployment): boolean => d.waitUntil === undefined && d.pausedBy !== "manual-step" && d.pausedBy !== "analysis";

/** The step the deployment applies next: the first, the one it is in (its pause not yet over), or the one after. */
export function nextStep(d: Deployment): number {
  if (d.step === undefined) return 0;
  return stepFinished(d) ? d.step + 1 : d.step;
}

/** Whether the deployment bakes between its last step and retiring the old fleet. */
export const bakes = (d: Deployment): boolean => d.fromColor !== undefined && parseDuration(d.strategy.bake ?? "0s") > 0;

/** A blue/green pre-promotion analysis that has not run yet, before the first step. */
const previewDue = (d: Deployment): boolean => d.step === undefined && d.strategy.type === "blue-green" && !!d.strategy.prePromotion && !d.prePromotionPassed;

/** The first gate of the kinds asked at this place that has not let the deployment go on. */
function pendingGate(d: Deployment, kinds: HoldingKind[], at: GatePlace): Decision | undefined {
  for (const kind of kinds) {
    const gate = (d.gates ?? []).find((g) => kindOf(g) === kind && !isPassed(d, gateKey(g, at.step)));
    if (gate) return { do: "gate", gate, at };
  }
  return undefined;
}

/** The gates of a step: pre-rollout before the first, then the step's own confirmation. */
function stepGate(d: Deployment, index: number): Decision | undefined {
  if (index === d.step) return undefined; // applied already: its gates passed
  const weight = d.steps[index].weight;
  const confirm: HoldingKind = weight === 100 ? "confirm-promotion" : "confirm-traffic-increase";
  return (index === 0 ? pendingGate(d, ["pre-rollout"], {}) : undefined) ?? pendingGate(d, [confirm], { step: index, weight });
}

interface Row {
  when: (d: Deployment, seen: Observation) => boolean;
  then: (d: Deployment) => Decision;
  /** Why the row is there, for people reading the table. */
  why: string;
}

const shifting = (d: Deployment) => d.phase === "shifting";
const stepsDone = (d: Deployment) => nextStep(d) >= d.steps.length;

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
  { why: "an abort (or the deadline) rolls it back before its next piece of work (never while winding up)", when: (d, s) => !!s.abortRequested && !winding(d.phase), then: () => ({ do: "roll_back", because: "aborted" }) },
  { why: "asked to suspend, it stops before its next piece of work (never while winding up)", when: (d, s) => s.suspendRequested && !winding(d.phase), then: () => ({ do: "suspend" }) },
  { why: "the confirm-rollout gates come before anything is built", when: (d) => d.phase === "provisioning" && !!pendingGate(d, ["confirm-rollout"], {}), then: (d) => pendingGate(d, ["confirm-rollout"], {})! },
  {
    why: "a person's pause holds it between steps, and before the bake",
    when: (d, s) => shifting(d) && !!s.pauseRequested && (stepsDone(d) ? bakes(d) : nextStep(d) !== d.step),
    then: () => ({ do: "hold" }),
  },
  { why: "every step applied: the new version is live", when: (d) => shifting(d) && stepsDone(d), then: () => ({ do: "promote" }) },
  { why: "a blue/green pre-promotion analysis previews the new pool before the first step", when: (d) => shifting(d) && previewDue(d), then: () => ({ do: "preview" }) },
  { why: "a step's gates come before its weights", when: (d) => shifting(d) && !!stepGate(d, nextStep(d)), then: (d) => stepGate(d, nextStep(d))! },
  { why: "then the step itself: its weights, then its pause", when: shifting, then: (d) => ({ do: "step", index: nextStep(d) }) },
  { why: "otherwise, the phase's work", when: () => true, then: (d) => ({ do: "work", phase: d.phase as WorkPhase }) },
];

export function decide(d: Deployment, seen: Observation): Decision {
  return DECISIONS.find((row) => row.when(d, seen))!.then(d);
}

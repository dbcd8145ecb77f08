// A flag ramp: a flag's rollout moved up step by step, like a canary, with
// a pause after each step and, optionally, metric analysis during the
// pauses (the same analysis a deployment runs). A failing analysis turns
// the flag off. The ramp is durable: its progress lives in the store, and
// whichever replica finds a step due takes it.
import type { MetricAnalysis } from "../../infra/vocabulary";
import type { Outcome } from "../analysis/analysis-run";
import type { Actor } from "../deployments/model";
import { DURATION_SOURCE } from "../../infra/duration";

export type RampState = "running" | "paused" | "succeeded" | "failed" | "aborted";
export const RAMP_TERMINAL: ReadonlySet<RampState> = new Set(["succeeded", "failed", "aborted"]);

export interface RampStep {
  percentage: number;
  /** How long the step holds (and is analysed) before the next; none: the next step follows at once. */
  pause?: string;
}

export interface RampEvent {
  at: string;
  type: "ramp:step" | "ramp:measurement" | "ramp:paused" | "ramp:resumed" | "ramp:succeeded" | "ramp:failed" | "ramp:aborted";
  data: Record<string, unknown>;
}

export interface FlagRamp {
  id: string;
  environment: string;
  key: string;
  steps: RampStep[];
  analysis?: MetricAnalysis;
  state: RampState;
  /** The rollout's percentage when the ramp began: where an abort puts it back. */
  startPercentage: number;
  /** The step applied last; -1 before the first. */
  step: number;
  /** When the current step's pause ends. */
  holdUntil?: string;
  /** When analysis last measured, in the current step. */
  measuredAt?: string;
  /** Measurements of the current step, counted by metric. */
  counts: Record<string, Record<Outcome, number>>;
  events: RampEvent[];
  reason?: string;
  createdBy: Actor;
  createdAt: string;
  finishedAt?: string;
}

const RAMP_STEP = new RegExp(`^(\\d{1,3}(?:\\.\\d{1,2})?)(?::(${DURATION_SOURCE}))?$`);

/** `10:5m,50:10m,100`: percentages with an optional pause each; undefined when malformed. */
export function parseRampSteps(spec: string): RampStep[] | undefined {
  const steps: RampStep[] = [];
  for (const part of spec.split(",")) {
    const m = RAMP_STEP.exec(part.trim());
    if (!m || Number(m[1]) > 100) return undefined;
    steps.push({ percentage: Number(m[1]), ...(m[2] ? { pause: m[2] } : {}) });
  }
  return steps;
}

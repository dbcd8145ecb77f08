// What a deployment's gates are, read from the deployment alone: the kind
// each stops at, where its outcome is kept (`gateLog`), and whether it has
// let the deployment go on. Pure, so the runner's decisions can use them.
import type { Deployment, Gate, GateKind, GateRecord } from "./model";

/** The kinds a deployment stops at; `approval` is a manual confirm-promotion. */
export type HoldingKind = "confirm-rollout" | "pre-rollout" | "confirm-traffic-increase" | "confirm-promotion";

export const kindOf = (g: Gate): GateKind => (g.kind === "approval" ? "confirm-promotion" : g.kind);
export const isManual = (g: Gate): boolean => g.kind === "approval" || g.manual === true;

const passedStates: GateRecord["state"][] = ["passed", "approved"];

/** The log key of a gate where it is asked: traffic-increase gates are asked at every step. */
export const gateKey = (g: Gate, step?: number): string => (kindOf(g) === "confirm-traffic-increase" && step !== undefined ? `${g.name}@${step}` : g.name);

/** Whether the gate logged under `key` has let the deployment go on. */
export const isPassed = (d: Deployment, key: string): boolean => passedStates.includes(d.gateLog?.[key]?.state as GateRecord["state"]);

/** The gate log entry a person may decide now, if any. */
export function waitingEntry(d: Deployment, gate: string): string | undefined {
  return Object.entries(d.gateLog ?? {}).find(([key, r]) => (key === gate || key.startsWith(`${gate}@`)) && r.state === "waiting")?.[0];
}

// What a deployment that has not ended is waiting for, and since when:
// a person at a manual gate or approval, a person at a paused canary, a
// person after an inconclusive analysis, or its turn in the queue. The
// web UI, /metrics and the alert rules call the same things long.
import type { Deployment } from "./model";

export type WaitReason = "queued" | "gate" | "paused" | "analysis";
export const WAIT_REASONS: readonly WaitReason[] = ["queued", "gate", "paused", "analysis"];

export function waitOf(d: Deployment): { reason: WaitReason; since: string } | undefined {
  if (d.state === "queued") return { reason: "queued", since: d.createdAt };
  if (d.state !== "paused") return undefined;
  if (d.pausedBy === "gate") {
    const waiting = Object.values(d.gateLog ?? {}).find((g) => g.state === "waiting");
    return { reason: "gate", since: waiting?.at ?? d.updatedAt };
  }
  return { reason: d.pausedBy === "analysis" ? "analysis" : "paused", since: d.updatedAt };
}

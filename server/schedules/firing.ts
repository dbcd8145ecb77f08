// What a due schedule does now: run once for its latest time if that is
// within the starting deadline, or record that time as missed. Times due
// while nothing ran (downtime) coalesce into that one decision.
import { runsBetween } from "./cron";

export interface Firing {
  action: "run" | "missed";
  /** The schedule time the run (or miss) is recorded for. */
  scheduledAt: Date;
  /** Earlier times folded into this one. */
  coalesced: number;
}

export function decideFiring(s: { cron: string; timezone: string; nextRunAt: string }, deadlineMs: number, now: Date): Firing {
  const first = new Date(s.nextRunAt);
  const later = runsBetween(s.cron, s.timezone, first, now);
  const latest = later.length ? later[later.length - 1] : first;
  return { action: now.getTime() - latest.getTime() <= deadlineMs ? "run" : "missed", scheduledAt: latest, coalesced: later.length };
}

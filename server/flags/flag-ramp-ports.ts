// What flag ramps need from storage.
import type { FlagRamp } from "./flag-ramp";

export interface FlagRampRepository {
  /** Inserts a ramp unless the flag already has one running or paused; false then. */
  insert(ramp: FlagRamp, dueAt: string): Promise<boolean>;
  get(id: string): Promise<FlagRamp | undefined>;
  list(environment: string, key: string): Promise<FlagRamp[]>;
  /** Claims one running ramp whose next look is due, for `claimer` until `until`. */
  claimDue(now: Date, until: Date, claimer: string): Promise<FlagRamp | undefined>;
  /** Claims one ramp (running or not) for a change a person asked for; undefined while a runner holds it. */
  claim(id: string, now: Date, until: Date, claimer: string): Promise<{ ramp: FlagRamp; dueAt: string | null } | undefined>;
  /** Writes the ramp back and releases `claimer`'s claim; `dueAt` is its next look (null when it needs none). False if the claim was lost. */
  save(ramp: FlagRamp, dueAt: string | null, claimer: string): Promise<boolean>;
}

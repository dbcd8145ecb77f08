// A pipeline: the environments a release travels through, in order. What
// may come into a stage next is decided from what is observed: the release
// live in the stage before, since when, and what the stage asks of it.
import { parseDuration } from "../../infra/duration";
import type { Actor, Strategy } from "../deployments/model";
import { runsBetween } from "../schedules/cron";
import type { Release } from "./release";

/** No promotion into the stage from each time the cron fires until `duration` later (a change freeze, a busy hour). */
export interface DenyWindow {
  cron: string;
  duration: string;
  timeZone: string;
}

export interface Stage {
  environment: string;
  /** `auto`: Cutover promotes what is eligible as soon as it is; `manual`: a deployer of the stage does. */
  promotion: "auto" | "manual";
  /** How long a release must have been live in the stage before this one (every analysis of its deployment passed) before it may come here. */
  soak: string;
  /** The strategy its promotions deploy with (else the environment's). */
  strategy?: Strategy;
  denyWindows?: DenyWindow[];
  /** A person approves each promotion into the stage before it takes all traffic (a manual `approval` gate named `promotion`, shown with its preview). */
  approval?: { requireDistinctApprover?: boolean; timeout?: string };
}

/** Automatic promotion into a stage stopped: someone promoted an older release there by hand. */
export interface Hold {
  by: Actor;
  at: string;
  release: { id: string; version: string };
}

export interface Pipeline {
  name: string;
  stages: Stage[];
  /** Who declared it: automatic promotions act on their authority, looked up again each time. */
  createdBy: Actor;
  /** By stage environment. */
  holds?: Record<string, Hold>;
  updatedAt: string;
}

/** What a stage runs now, as observed: the release live there and since when (the end of the deployment that made it live). */
export interface LiveRelease {
  release: Release;
  since: string;
}

export type Eligibility =
  | { eligible: true; release: Release; reason: string }
  | {
      eligible: false;
      release?: Release;
      reason: string;
      code: "nothing_upstream" | "soaking" | "already_live" | "first_stage" | "denied";
      soakRemainingMs?: number;
      /** When the deny window the stage is in ends. */
      until?: string;
    };

/** What may be promoted into stage `index` now: the release live in the stage before, once it has soaked there, unless it is live here already. */
export function eligibility(pipeline: Pipeline, index: number, live: (LiveRelease | undefined)[], now: Date): Eligibility {
  if (index === 0) return { eligible: false, code: "first_stage", reason: "the first stage takes a release by name: nothing comes before it" };
  const upstream = live[index - 1];
  const from = pipeline.stages[index - 1].environment;
  if (!upstream) return { eligible: false, code: "nothing_upstream", reason: `no release is live in ${from}` };
  const here = live[index];
  if (here?.release.id === upstream.release.id) {
    return { eligible: false, code: "already_live", release: upstream.release, reason: `${upstream.release.version} is live here already` };
  }
  const remaining = Date.parse(upstream.since) + parseDuration(pipeline.stages[index].soak) - now.getTime();
  if (remaining > 0) {
    return {
      eligible: false,
      code: "soaking",
      release: upstream.release,
      soakRemainingMs: remaining,
      reason: `${upstream.release.version} soaks in ${from} for ${Math.ceil(remaining / 1000)} s more`,
    };
  }
  return { eligible: true, release: upstream.release, reason: `${upstream.release.version} is live in ${from} since ${upstream.since} and has soaked` };
}

/** The deny window of a stage that `now` is in, and when it ends; undefined outside every window. */
export function deniedUntil(stage: Stage, now: Date): { window: DenyWindow; until: Date } | undefined {
  let found: { window: DenyWindow; until: Date } | undefined;
  for (const window of stage.denyWindows ?? []) {
    const length = parseDuration(window.duration);
    const starts = runsBetween(window.cron, window.timeZone, new Date(now.getTime() - length), now);
    const last = starts.at(-1);
    const until = last && new Date(last.getTime() + length);
    if (until && until > now && (!found || until > found.until)) found = { window, until };
  }
  return found;
}

/** What may come into stage `index` now, deny windows included (they stop manual and automatic promotions alike). */
export function nextFor(pipeline: Pipeline, index: number, live: (LiveRelease | undefined)[], now: Date): Eligibility {
  const due = eligibility(pipeline, index, live, now);
  if (!due.eligible) return due;
  const denied = deniedUntil(pipeline.stages[index], now);
  if (!denied) return due;
  return { eligible: false, code: "denied", release: due.release, until: denied.until.toISOString(), reason: `inside the deny window "${denied.window.cron}" (${denied.window.timeZone}) until ${denied.until.toISOString()}` };
}

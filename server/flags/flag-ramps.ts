// Runs flag ramps: moves a flag's rollout line step by step, holds each
// step for its pause while analysis measures, turns the flag off when the
// analysis fails, and stops for a person when it is inconclusive. Every
// replica runs this loop; the store's claims give each step to one of them,
// and a step re-taken after a crash sets the same percentage again.
import { randomBytes } from "node:crypto";
import type { MetricAnalysis } from "../../infra/vocabulary";
import { failureReason, judge, type Measure } from "../analysis/analysis-run";
import type { Actor } from "../deployments/model";
import { parseDuration } from "../../infra/duration";
import { ConflictError, NotFoundError, UnprocessableError } from "../errors";
import type { Logger } from "../logger";
import { RAMP_TERMINAL, type FlagRamp, type RampEvent, type RampStep } from "./flag-ramp";
import type { FlagRampRepository } from "./flag-ramp-ports";
import type { FlagService } from "./flag-service";
import { Ticker } from "../ticker";

const CLAIM_MS = 30_000;
const MAX_EVENTS = 500;

export interface FlagRampDeps {
  ramps: FlagRampRepository;
  flags: FlagService;
  /** A Measure for a ramp's analysis: builtin metrics read the live pool of the ramp's environment. */
  measureFor(ramp: FlagRamp): Promise<Measure>;
  replicaId: string;
  intervalMs: number;
  logger: Logger;
  /** Why the ramp's creator may no longer change the flag (revoked, narrowed), or undefined while it may: asked before each step. */
  creatorRefusal(ramp: FlagRamp): Promise<string | undefined>;
}

export class FlagRamps {
  private readonly ticker: Ticker;
  /** Each step's metric source, built when the step begins so builtin metrics count from there. */
  private readonly sources = new Map<string, Measure>();

  constructor(private readonly deps: FlagRampDeps) {
    this.ticker = new Ticker(() => this.tick(), {
      intervalMs: deps.intervalMs,
      onError: (err) => deps.logger.warn({ err: String(err) }, "advancing flag ramps failed"),
    });
  }

  async create(environment: string, key: string, input: { steps: RampStep[]; analysis?: MetricAnalysis }, actor: Actor): Promise<FlagRamp> {
    const flag = await this.deps.flags.get(environment, key);
    if (!flag.rollout) throw new UnprocessableError("flag_has_no_rollout", `flag ${key} has no rollout to ramp; set one first (it may start at 0%)`, { environment, key });
    if (!flag.enabled) throw new UnprocessableError("flag_disabled", `flag ${key} is switched off; enable it before ramping it`, { environment, key });
    const start = flag.rollout.percentage;
    input.steps.forEach((s, i) => {
      const before = i === 0 ? start : input.steps[i - 1].percentage;
      if (s.percentage <= before) {
        throw new UnprocessableError("ramp_steps_not_rising", `step ${i + 1} (${s.percentage}%) must be above ${before}%: a ramp only widens the rollout`, { step: i + 1 });
      }
    });
    const now = new Date().toISOString();
    const ramp: FlagRamp = {
      id: `ramp_${randomBytes(8).toString("hex")}`,
      environment,
      key,
      steps: input.steps,
      ...(input.analysis ? { analysis: input.analysis } : {}),
      state: "running",
      startPercentage: start,
      step: -1,
      counts: {},
      events: [],
      createdBy: actor,
      createdAt: now,
    };
    if (!(await this.deps.ramps.insert(ramp, now))) {
      throw new ConflictError("ramp_in_progress", `flag ${key} already has a ramp running or paused; abort it first`, { environment, key });
    }
    this.kick();
    return ramp;
  }

  async get(id: string): Promise<FlagRamp> {
    const ramp = await this.deps.ramps.get(id);
    if (!ramp) throw new NotFoundError("ramp_not_found", `no flag ramp ${id}`, { ramp: id });
    return ramp;
  }

  list(environment: string, key: string): Promise<FlagRamp[]> {
    return this.deps.ramps.list(environment, key);
  }

  /** Stops the ramp and puts the rollout back where it began. */
  async abort(id: string, actor: Actor, reason?: string): Promise<FlagRamp> {
    return this.decide(id, (ramp) => {
      if (RAMP_TERMINAL.has(ramp.state)) throw new ConflictError("ramp_finished", `ramp ${id} has already ${ramp.state}`, { ramp: id, state: ramp.state });
      return async () => {
        await this.deps.flags.setRolloutPercentage(ramp.environment, ramp.key, ramp.startPercentage, this.actorOf(ramp), `ramp ${id} aborted by ${actor.name}`).catch(() => undefined);
        this.finish(ramp, "aborted", reason ?? `aborted by ${actor.name}`, { by: actor.name, percentage: ramp.startPercentage });
        return null;
      };
    });
  }

  /** Goes on after an inconclusive analysis stopped the ramp: the inconclusive measurements are forgotten. */
  async resume(id: string, actor: Actor): Promise<FlagRamp> {
    return this.decide(id, (ramp) => {
      if (ramp.state !== "paused") throw new ConflictError("ramp_not_paused", `ramp ${id} is ${ramp.state}, not paused`, { ramp: id, state: ramp.state });
      return async () => {
        ramp.state = "running";
        for (const c of Object.values(ramp.counts)) c.inconclusive = 0;
        this.event(ramp, "ramp:resumed", { by: actor.name });
        this.kick();
        return new Date().toISOString();
      };
    });
  }

  start(): void {
    this.ticker.start();
  }

  stop(): Promise<void> {
    return this.ticker.stop();
  }

  /** Looks for due steps now (after a change, rather than at the next interval). */
  kick(): void {
    this.ticker.kick();
  }

  private async tick(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      const now = new Date();
      const ramp = await this.deps.ramps.claimDue(now, new Date(now.getTime() + CLAIM_MS), this.deps.replicaId);
      if (!ramp) return;
      let due: string | null;
      try {
        due = await this.advance(ramp, now);
      } catch (err) {
        this.deps.logger.warn({ err: String(err), ramp: ramp.id }, "a flag ramp step failed; it is tried again");
        due = new Date(now.getTime() + 1000).toISOString();
      }
      await this.deps.ramps.save(ramp, due, this.deps.replicaId);
    }
  }

  /** One look at a claimed, running ramp; returns when it next needs one. */
  private async advance(ramp: FlagRamp, now: Date): Promise<string | null> {
    const flag = await this.deps.flags.get(ramp.environment, ramp.key).catch(() => undefined);
    if (!flag || !flag.enabled) {
      this.finish(ramp, "aborted", flag ? "the flag was switched off" : "the flag was deleted", {});
      return null;
    }
    const holding = ramp.step >= 0 && ramp.holdUntil !== undefined && now.getTime() < Date.parse(ramp.holdUntil);
    const analysis = ramp.analysis;
    const intervalMs = analysis ? parseDuration(analysis.interval) : 0;
    const measureDue = analysis && ramp.step >= 0 && (!ramp.measuredAt || now.getTime() - Date.parse(ramp.measuredAt) >= intervalMs);
    // A step is measured at least once before the next, however short its pause.
    if (measureDue && (holding || !ramp.measuredAt)) {
      const verdict = await this.measure(ramp, analysis!, now);
      if (verdict) return null;
    }
    if (holding) {
      const next = Math.min(Date.parse(ramp.holdUntil!), analysis ? Date.parse(ramp.measuredAt ?? now.toISOString()) + intervalMs : Infinity);
      return new Date(Math.max(next, now.getTime() + 50)).toISOString();
    }
    const nextIndex = ramp.step + 1;
    if (nextIndex >= ramp.steps.length) {
      this.finish(ramp, "succeeded", undefined, { percentage: ramp.steps[ramp.steps.length - 1].percentage });
      return null;
    }
    const next = ramp.steps[nextIndex];
    // A ramp widens a rollout on its creator's authority, as it stands now.
    const refusal = await this.deps.creatorRefusal(ramp);
    if (refusal) {
      this.finish(ramp, "aborted", refusal, {});
      return null;
    }
    await this.deps.flags.setRolloutPercentage(ramp.environment, ramp.key, next.percentage, this.actorOf(ramp), `ramp ${ramp.id}: step ${nextIndex + 1} of ${ramp.steps.length}`);
    ramp.step = nextIndex;
    ramp.counts = {};
    delete ramp.measuredAt;
    const pauseMs = next.pause ? parseDuration(next.pause) : 0;
    ramp.holdUntil = new Date(now.getTime() + pauseMs).toISOString();
    if (analysis) this.sources.set(`${ramp.id}:${nextIndex}`, await this.deps.measureFor(ramp));
    this.event(ramp, "ramp:step", { step: nextIndex + 1, of: ramp.steps.length, percentage: next.percentage, ...(next.pause ? { pause: next.pause } : {}) });
    return new Date(now.getTime() + (analysis ? Math.min(pauseMs, intervalMs) : pauseMs)).toISOString();
  }

  /** One round of the step's analysis; "failed" or "paused" when it decided the ramp's fate. */
  private async measure(ramp: FlagRamp, analysis: MetricAnalysis, now: Date): Promise<"failed" | "paused" | undefined> {
    const key = `${ramp.id}:${ramp.step}`;
    let measure = this.sources.get(key);
    if (!measure) {
      measure = await this.deps.measureFor(ramp);
      this.sources.set(key, measure);
    }
    ramp.measuredAt = now.toISOString();
    for (const metric of analysis.metrics) {
      const c = (ramp.counts[metric.name] ??= { successful: 0, failed: 0, inconclusive: 0 });
      if (metric.count !== undefined && c.successful + c.failed + c.inconclusive >= metric.count) continue;
      let value: number[] | undefined;
      let message: string | undefined;
      let outcome;
      try {
        value = await measure(metric);
        outcome = judge(metric, value);
        if (!value?.length) message = "no data";
      } catch (err) {
        outcome = "inconclusive" as const;
        message = failureReason(err);
      }
      c[outcome] += 1;
      this.event(ramp, "ramp:measurement", { metric: metric.name, step: ramp.step + 1, outcome, ...(value?.length ? { value } : {}), ...(message ? { message } : {}) });
    }
    for (const [metric, c] of Object.entries(ramp.counts)) {
      if (c.failed > analysis.failureLimit) {
        const why = `metric ${metric} failed ${c.failed} times at step ${ramp.step + 1} (failureLimit ${analysis.failureLimit})`;
        await this.deps.flags.setEnabled(ramp.environment, ramp.key, false, this.actorOf(ramp), `ramp ${ramp.id} failed: ${why}`);
        this.sources.delete(key);
        this.finish(ramp, "failed", why, { metric, step: ramp.step + 1 });
        return "failed";
      }
    }
    for (const [metric, c] of Object.entries(ramp.counts)) {
      if (c.inconclusive > analysis.inconclusiveLimit) {
        ramp.state = "paused";
        ramp.reason = `metric ${metric} was inconclusive ${c.inconclusive} times at step ${ramp.step + 1}; resume or abort the ramp`;
        this.event(ramp, "ramp:paused", { metric, step: ramp.step + 1, reason: ramp.reason });
        return "paused";
      }
    }
    return undefined;
  }

  private async decide(id: string, check: (ramp: FlagRamp) => () => Promise<string | null>): Promise<FlagRamp> {
    const claimer = `${this.deps.replicaId}:api`;
    for (let attempt = 0; attempt < 100; attempt++) {
      const now = new Date();
      const claimed = await this.deps.ramps.claim(id, now, new Date(now.getTime() + CLAIM_MS), claimer);
      if (claimed) {
        const { ramp, dueAt } = claimed;
        let due = dueAt;
        try {
          due = await check(ramp)();
          return ramp;
        } finally {
          await this.deps.ramps.save(ramp, due, claimer);
        }
      }
      await this.get(id);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new ConflictError("ramp_busy", `ramp ${id} is taking a step; try again`, { ramp: id });
  }

  private finish(ramp: FlagRamp, state: "succeeded" | "failed" | "aborted", reason: string | undefined, data: Record<string, unknown>): void {
    ramp.state = state;
    if (reason) ramp.reason = reason;
    ramp.finishedAt = new Date().toISOString();
    delete ramp.holdUntil;
    for (const k of this.sources.keys()) if (k.startsWith(`${ramp.id}:`)) this.sources.delete(k);
    this.event(ramp, `ramp:${state}`, { ...data, ...(reason ? { reason } : {}) });
  }

  private event(ramp: FlagRamp, type: RampEvent["type"], data: Record<string, unknown>): void {
    ramp.events.push({ at: new Date().toISOString(), type, data });
    if (ramp.events.length > MAX_EVENTS) ramp.events.splice(0, ramp.events.length - MAX_EVENTS);
  }

  private actorOf(ramp: FlagRamp): Actor {
    return { kind: "system", id: ramp.id, name: `flag ramp started by ${ramp.createdBy.name}` };
  }
}

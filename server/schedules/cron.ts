// Cron expressions in a time zone, through croner: five fields, or six with
// seconds first. Times come back as UTC instants.
import { Cron } from "croner";
import { InputError } from "../errors";

export class CronError extends Error {
  constructor(
    readonly code: "invalid_cron" | "invalid_timezone",
    message: string,
  ) {
    super(message);
  }
}

function pattern(expression: string, timezone: string): Cron {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    throw new CronError("invalid_timezone", `unknown time zone ${timezone}: use an IANA name such as Europe/Berlin or UTC`);
  }
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) throw new CronError("invalid_cron", `a cron expression has 5 fields (or 6, seconds first); "${expression}" has ${fields}`);
  try {
    return new Cron(expression, { timezone, paused: true });
  } catch (err) {
    throw new CronError("invalid_cron", `invalid cron expression "${expression}": ${(err as Error).message}`);
  }
}

/** Throws CronError unless the expression and zone are valid and the expression ever fires. */
export function checkCron(expression: string, timezone: string): void {
  if (!pattern(expression, timezone).nextRun(new Date())) throw new CronError("invalid_cron", `"${expression}" never fires`);
}

/** As checkCron, for an expression and zone a caller gave: a 400 (invalid_cron, invalid_timezone) with `details`. */
export function checkCronInput(expression: string, timezone: string, details: Record<string, unknown>): void {
  try {
    checkCron(expression, timezone);
  } catch (err) {
    if (err instanceof CronError) throw new InputError(err.code, err.message, details);
    throw err;
  }
}

/** The first time strictly after `after`, or undefined. */
export function nextRun(expression: string, timezone: string, after: Date): Date | undefined {
  return pattern(expression, timezone).nextRun(after) ?? undefined;
}

/** Every time in (from, to], at most `max` of them. */
export function runsBetween(expression: string, timezone: string, from: Date, to: Date, max = 10_000): Date[] {
  const cron = pattern(expression, timezone);
  const out: Date[] = [];
  let t: Date | null = from;
  while (out.length < max && (t = cron.nextRun(t)) && t.getTime() <= to.getTime()) out.push(t);
  return out;
}

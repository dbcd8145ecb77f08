import { checkCron, CronError, nextRun, runsBetween } from "../../server/schedules/cron";
import { decideFiring } from "../../server/schedules/firing";

describe("cron expressions", () => {
  it("take an optional seconds field", () => {
    expect(nextRun("*/10 * * * * *", "UTC", new Date("2026-01-01T00:00:03Z"))?.toISOString()).toBe("2026-01-01T00:00:10.000Z");
    expect(nextRun("0 3 * * *", "UTC", new Date("2026-01-01T00:00:00Z"))?.toISOString()).toBe("2026-01-01T03:00:00.000Z");
  });

  it("fire in their time zone, across daylight saving changes", () => {
    // 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
    expect(nextRun("0 3 * * *", "Europe/Berlin", new Date("2026-01-10T12:00:00Z"))?.toISOString()).toBe("2026-01-11T02:00:00.000Z");
    expect(nextRun("0 3 * * *", "Europe/Berlin", new Date("2026-07-10T12:00:00Z"))?.toISOString()).toBe("2026-07-11T01:00:00.000Z");
    // The night the clocks go forward (29 March 2026), 03:00 still comes once.
    const night = runsBetween("0 3 * * *", "Europe/Berlin", new Date("2026-03-28T12:00:00Z"), new Date("2026-03-30T12:00:00Z"));
    expect(night.map((d) => d.toISOString())).toEqual(["2026-03-29T01:00:00.000Z", "2026-03-30T01:00:00.000Z"]);
  });

  it("reject bad expressions and zones with their own codes", () => {
    expect(() => checkCron("0 3 * *", "UTC")).toThrow(CronError);
    expect(() => checkCron("61 * * * *", "UTC")).toThrow(/invalid cron/);
    try {
      checkCron("0 3 * * *", "Mars/Olympus");
    } catch (err) {
      expect((err as CronError).code).toBe("invalid_timezone");
    }
    expect(() => checkCron("0 3 * * *", "Mars/Olympus")).toThrow(CronError);
  });
});

describe("firing a due schedule", () => {
  const every10s = { cron: "*/10 * * * * *", timezone: "UTC" };

  it("runs a time that is due now", () => {
    const f = decideFiring({ ...every10s, nextRunAt: "2026-01-01T00:00:10.000Z" }, 60_000, new Date("2026-01-01T00:00:10.300Z"));
    expect(f).toEqual({ action: "run", scheduledAt: new Date("2026-01-01T00:00:10.000Z"), coalesced: 0 });
  });

  it("folds times missed during downtime into one run of the latest, within the deadline", () => {
    const f = decideFiring({ ...every10s, nextRunAt: "2026-01-01T00:00:10.000Z" }, 60_000, new Date("2026-01-01T00:01:05.000Z"));
    expect(f).toEqual({ action: "run", scheduledAt: new Date("2026-01-01T00:01:00.000Z"), coalesced: 5 });
  });

  it("records the latest time missed when it is past the deadline", () => {
    const daily = { cron: "0 3 * * *", timezone: "UTC", nextRunAt: "2026-01-01T03:00:00.000Z" };
    expect(decideFiring(daily, 10 * 60_000, new Date("2026-01-01T03:09:59.000Z")).action).toBe("run");
    expect(decideFiring(daily, 10 * 60_000, new Date("2026-01-01T03:10:01.000Z"))).toEqual({ action: "missed", scheduledAt: new Date("2026-01-01T03:00:00.000Z"), coalesced: 0 });
  });
});

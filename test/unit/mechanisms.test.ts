// The mechanisms every part of Cutover shares: configuration durations,
// waiting on the world, and the periodic loop.
import { loadConfig } from "../../server/config";
import { Ticker } from "../../server/ticker";
import { pollUntil, pollUntilGone } from "../../infra/poll";
import { END_EVENTS } from "../../server/deployments/journal-events";
import { TERMINAL_STATES } from "../../server/deployments/deployment-states";

describe("configuration durations", () => {
  const base = { CUTOVER_DATA_DIR: "/tmp/cutover-config-test" };

  it("holds them in milliseconds, defaults included", () => {
    const c = loadConfig({ ...base, CUTOVER_OPERATION_TIMEOUT: "20s", CUTOVER_WEBHOOK_RETRY_SCHEDULE: "5s,1m" });
    expect(c.operationTimeoutMs).toBe(20_000);
    expect(c.webhookRetryScheduleMs).toEqual([5000, 60_000]);
    const d = loadConfig(base);
    expect([d.operationTimeoutMs, d.leaseTtlMs, d.workPollIntervalMs, d.schedulerIntervalMs]).toEqual([15 * 60_000, 15_000, 2000, 500]);
    expect(d.webhookRetryScheduleMs).toBeUndefined();
  });

  it.each([
    ["CUTOVER_OPERATION_TIMEOUT", "soon"],
    ["CUTOVER_LEASE_TTL", "1h"],
    ["CUTOVER_SCHEDULER_INTERVAL", "5"],
    ["CUTOVER_WEBHOOK_RETRY_SCHEDULE", "5s,,1m"],
  ])("refuses %s=%p by name", (name, value) => {
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(new RegExp(`invalid configuration: ${name}`));
  });
});

describe("pollUntil", () => {
  it("returns the first answer", async () => {
    let n = 0;
    await expect(pollUntil(() => (++n === 3 ? "ready" : undefined), { timeoutMs: 1000, intervalMs: 1 })).resolves.toBe("ready");
    expect(n).toBe(3);
  });

  it("asks once more when the time is up, then gives up with undefined", async () => {
    let n = 0;
    await expect(pollUntil(() => void n++, { timeoutMs: 30, intervalMs: 10 })).resolves.toBeUndefined();
    expect(n).toBeGreaterThanOrEqual(2);
  });

  it("ends with the probe's error", async () => {
    await expect(pollUntil(() => Promise.reject(new Error("the process exited")), { timeoutMs: 1000, intervalMs: 1 })).rejects.toThrow("the process exited");
  });

  it("tells whether a thing went away in time", async () => {
    let alive = 2;
    await expect(pollUntilGone(() => --alive > 0, 1000, 1)).resolves.toBe(true);
    await expect(pollUntilGone(() => true, 20, 5)).resolves.toBe(false);
  });
});

describe("Ticker", () => {
  it("runs one pass at a time, and a kick during a pass runs one more after it", async () => {
    let running = 0;
    let most = 0;
    let passes = 0;
    let release!: () => void;
    const ticker = new Ticker(
      async () => {
        running++;
        most = Math.max(most, running);
        passes++;
        if (passes === 1) await new Promise<void>((r) => (release = r));
        running--;
      },
      { intervalMs: 60_000, onError: () => undefined },
    );
    ticker.kick();
    ticker.kick();
    ticker.kick();
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(passes).toBe(2);
    expect(most).toBe(1);
    await ticker.stop();
  });

  it("passes on its interval, tells of a failed pass and goes on, and stops for good", async () => {
    const errors: unknown[] = [];
    let passes = 0;
    const ticker = new Ticker(
      async () => {
        passes++;
        if (passes === 1) throw new Error("store unavailable");
      },
      { intervalMs: 5, onError: (e) => errors.push(e) },
    );
    ticker.start();
    await new Promise((r) => setTimeout(r, 60));
    await ticker.stop();
    const after = passes;
    expect(after).toBeGreaterThanOrEqual(2);
    expect(errors).toHaveLength(1);
    ticker.kick();
    await new Promise((r) => setTimeout(r, 20));
    expect(passes).toBe(after);
  });
});

describe("journal event names", () => {
  it("end a deployment once for each terminal state of the table", () => {
    expect([...END_EVENTS].sort()).toEqual(TERMINAL_STATES.map((s) => `deployment:${s}`).sort());
  });
});

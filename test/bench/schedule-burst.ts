// A nightly refresh of every environment at the same second: `environments`
// refresh schedules firing together, while a portal polls the API at a
// fixed rate (status-poller.ts). Every firing must be recorded as one run
// that ends succeeded (none missed, skipped or failed), and the API must
// keep answering as it does under deployments.
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { benchEnvironmentSpec, uniqueMark } from "../helpers/environments";
import { ADMIN_TOKEN, startServer, waitForEnvironment } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";
import type { PollerResult, PollerSettings } from "./status-poller";

const SIGNING_SECRET = "bench-slack-signing-secret";

export interface ScheduleBurst {
  environments: number;
  /** Runs recorded for the one firing, by state. */
  runs: Record<string, number>;
  /** Schedules with other than exactly one run for that time. */
  schedulesWithoutOneRun: number;
  /** From the firing time until the last run ended, s. */
  lastEndSeconds: number;
  polls: { perSecond: number; count: number; p50Ms: number; p99Ms: number; p999Ms: number; failed: number; healthz: { count: number; p99Ms: number; failed: number } };
}

interface Run {
  scheduledAt: string;
  state: string;
  finishedAt?: string;
}

export async function scheduleBurst(environments: number): Promise<ScheduleBurst> {
  const mark = uniqueMark();
  const server = await startServer({ dataDir: tempDir("bench-schedules"), env: { CUTOVER_SLACK_SIGNING_SECRET: SIGNING_SECRET } });
  // The poller, stopped however the run ends (one left behind would go on polling at 200/s).
  let poller: ChildProcess | undefined;
  try {
    await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: "T0BENCH", user: "U0BENCH", role: "viewer", environments: ["sb-*"] });
    const names = Array.from({ length: environments }, (_, i) => `sb-${i}`);
    for (const n of names) await server.api("POST", "/v1/environments", await benchEnvironmentSpec(n, mark));
    await Promise.all(names.map((n) => waitForEnvironment(server, n, "ready", 30 * 60_000)));

    // One second, far enough ahead for every schedule to be made before it: "s m h * * *" in UTC.
    const at = new Date(Math.ceil((Date.now() + 20_000) / 1000) * 1000);
    const cron = `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
    const ids: string[] = [];
    for (const n of names) {
      const made = await server.api("POST", `/v1/environments/${n}/schedules`, { kind: "refresh", cron, timezone: "UTC" });
      if (made.status !== 201) throw new Error(`schedule for ${n}: ${made.status} ${made.body}`);
      ids.push(made.json.id as string);
    }
    if (Date.now() > at.getTime() - 2000) throw new Error("the schedules were made too late for their firing");

    const perSecond = 200;
    const settings: PollerSettings = { url: server.url, token: ADMIN_TOKEN, names, perSecond, slackSecret: SIGNING_SECRET };
    poller = fork(path.join(__dirname, "status-poller.js"), [JSON.stringify(settings)]);
    const polled = new Promise<PollerResult>((resolve, reject) => {
      poller!.once("message", (m) => resolve(m as PollerResult));
      poller!.once("exit", (code) => reject(new Error(`the status poller exited (${code}) before it reported`)));
    });
    await new Promise((resolve) => setTimeout(resolve, at.getTime() - Date.now()));
    const runsOf = async (id: string) => ((await server.api("GET", `/v1/schedules/${id}/runs`)).json.runs as Run[]).filter((r) => Date.parse(r.scheduledAt) === at.getTime());
    const all = await waitFor(
      "every schedule's run to end",
      async () => {
        const runs = await Promise.all(ids.map(runsOf));
        return runs.every((rs) => rs.length > 0 && rs.every((r) => r.state !== "running")) ? runs : undefined;
      },
      30 * 60_000,
      2000,
    );
    poller.send("stop");
    const { polls, pollsFailed, health, healthFailed } = await polled;
    polls.sort((a, b) => a - b);
    health.sort((a, b) => a - b);
    const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;
    const flat = all.flat();
    const runs: Record<string, number> = {};
    for (const r of flat) runs[r.state] = (runs[r.state] ?? 0) + 1;
    const lastEnd = Math.max(...flat.map((r) => Date.parse(r.finishedAt ?? "") || 0));
    return {
      environments,
      runs,
      schedulesWithoutOneRun: all.filter((rs) => rs.length !== 1).length,
      lastEndSeconds: (lastEnd - at.getTime()) / 1000,
      polls: { perSecond, count: polls.length, p50Ms: pct(polls, 50), p99Ms: pct(polls, 99), p999Ms: pct(polls, 99.9), failed: pollsFailed, healthz: { count: health.length, p99Ms: pct(health, 99), failed: healthFailed } },
    };
  } finally {
    poller?.kill("SIGKILL");
    await server.stop();
  }
}

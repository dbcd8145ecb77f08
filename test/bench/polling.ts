// The status poller (status-poller.ts) as the benches drive it: forked,
// told to stop, its latencies summed up. `kill` ends it however a run ends
// (one left behind would go on polling at its rate).
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { PollerResult, PollerSettings } from "./status-poller";

export interface Latencies {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  failed: number;
}

export interface PollSummary {
  polls: Latencies;
  healthz: Latencies;
  slack: Latencies;
}

const pctOf = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;

function latencies(times: number[], failed: number): Latencies {
  const xs = [...times].sort((a, b) => a - b);
  return { count: xs.length, p50Ms: pctOf(xs, 50), p99Ms: pctOf(xs, 99), p999Ms: pctOf(xs, 99.9), failed };
}

export function startPolling(settings: PollerSettings): { stop(): Promise<PollSummary>; kill(): void } {
  const poller: ChildProcess = fork(path.join(__dirname, "status-poller.js"), [JSON.stringify(settings)]);
  const polled = new Promise<PollerResult>((resolve, reject) => {
    poller.once("message", (m) => resolve(m as PollerResult));
    poller.once("exit", (code) => reject(new Error(`the status poller exited (${code}) before it reported`)));
  });
  return {
    async stop() {
      poller.send("stop");
      const r = await polled;
      return { polls: latencies(r.polls, r.pollsFailed), healthz: latencies(r.health, r.healthFailed), slack: latencies(r.slack, r.slackFailed) };
    },
    kill: () => poller.kill("SIGKILL"),
  };
}

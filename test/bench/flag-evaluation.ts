// Flag evaluation over OFREP against a running Cutover pinned to one core
// (wrk on the other): single evaluations one at a time for latency, then
// single and bulk evaluations under concurrency for throughput.
import { execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

const toMs = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit];

function wrk(url: string, script: string, threads: number, connections: number, seconds: number): WrkResult {
  const out = execFileSync("taskset", ["-c", "1", "wrk", `-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script, url], { encoding: "utf8" });
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return { requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), p50Ms: pct("50"), p99Ms: pct("99"), non2xx: non2xx ? Number(non2xx[1]) : 0 };
}

/** The floor on this machine: a bare Node HTTP server answering a fixed evaluation, pinned the same way. */
async function bareNodeBaseline(script: string, seconds: number): Promise<WrkResult> {
  const child = spawn("taskset", ["-c", "0", process.execPath, "-e", BARE_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
      child.once("exit", () => reject(new Error("the baseline server exited")));
    });
    const url = `http://127.0.0.1:${port}/ofrep/v1/evaluate/flags/flag-7`;
    wrk(url, script, 1, 4, 2);
    return wrk(url, script, 1, 1, seconds);
  } finally {
    child.kill();
  }
}

const BARE_SERVER = `const s = require("node:http").createServer((q, r) => { let b = ""; q.on("data", (d) => (b += d)); q.on("end", () => { JSON.parse(b); r.setHeader("content-type", "application/json"); r.end(JSON.stringify({ key: "flag-7", value: true, variant: "on", reason: "SPLIT", metadata: {} })); }); });
s.listen(0, "127.0.0.1", () => console.log(s.address().port));`;

export async function flagEvaluation(seconds: number): Promise<{ baseline: WrkResult; single1: WrkResult; single: WrkResult; bulk: WrkResult; flags: number }> {
  const server = await startServer({ env: { CUTOVER_FLAGS_RATE_LIMIT: "10000000", ...(process.env.BENCH_SERVER_ENV ? JSON.parse(process.env.BENCH_SERVER_ENV) : {}) } });
  try {
    // Every thread of the server (V8's helpers, libuv's pool) on core 0; wrk on core 1.
    execFileSync("taskset", ["-a", "-pc", "0", String(server.process.pid)], { stdio: "ignore" });
    await server.api("POST", "/v1/environments", await environmentSpec("bench-flags", uniqueMark()));
    const flags = 20;
    for (let i = 0; i < flags; i++) {
      await server.api("PUT", `/v1/environments/bench-flags/flags/flag-${i}`, {
        enabled: true,
        variants: { on: true, off: false },
        defaultVariant: "off",
        rules: [{ conditions: [{ attribute: "email", operator: "ends_with", values: ["@example.com"] }], variant: "on" }],
        rollout: { variant: "on", percentage: 25 },
      });
    }
    const token = (await server.api("POST", "/v1/tokens", { name: "bench", role: "flags-reader", environments: ["bench-flags"] })).json.token as string;
    const dir = tempDir("bench-wrk");
    const script = path.join(dir, "ofrep.lua");
    // A different user on every request, so nothing is cached per context.
    writeFileSync(
      script,
      `counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, { ["Authorization"] = "Bearer ${token}", ["Content-Type"] = "application/json" },
    '{"context":{"targetingKey":"user-' .. counter .. '","email":"u@example.org"}}')
end
`,
    );
    const single = `${server.url}/ofrep/v1/evaluate/flags/flag-7`;
    wrk(single, script, 1, 4, 2); // warm-up
    return {
      baseline: await bareNodeBaseline(script, seconds),
      single1: wrk(single, script, 1, 1, seconds),
      single: wrk(single, script, 2, 32, seconds),
      bulk: wrk(`${server.url}/ofrep/v1/evaluate/flags`, script, 2, 32, seconds),
      flags,
    };
  } finally {
    await server.stop();
  }
}

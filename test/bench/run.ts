// `npm run bench`: measurements, printed beside their baselines with ratios.
// Installs wrk and nginx from Debian's packages when they are missing.
import { execFileSync, execSync } from "node:child_process";
import path from "node:path";
import { localFleetProgram } from "../../infra/local/fleet-program";
import { resolveToolchain } from "../../server/engine/toolchain";
import { testEngine } from "../helpers/engine";
import { controlPlane } from "./control-plane";
import { flagEvaluation } from "./flag-evaluation";
import { median, proxyBench, type PassResult } from "./proxy-throughput";
import { benchFleetArgs, rawVsEngine } from "./raw-pulumi";
import { deploymentsThroughReplicas } from "./replica-throughput";
import { scheduleBurst } from "./schedule-burst";

function ensureTools(): void {
  const missing = ["wrk", "nginx", "haproxy"].filter((t) => {
    try {
      execFileSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(", ")} from Debian's packages`);
  execSync(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.map((m) => (m === "nginx" ? "nginx-light" : m)).join(" ")}`, {
    stdio: "inherit",
  });
}

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function fleetUpTimes(runs: number): Promise<{ up: number[]; destroy: number[] }> {
  const { engine, runtimeDir } = testEngine("bench");
  const up: number[] = [];
  const destroy: number[] = [];
  for (let i = 0; i < runs; i++) {
    const program = localFleetProgram(benchFleetArgs(`bench-${i}`, runtimeDir));
    let t = Date.now();
    await engine.up(`bench-${i}`, program);
    up.push((Date.now() - t) / 1000);
    t = Date.now();
    await engine.destroy(`bench-${i}`, program);
    destroy.push((Date.now() - t) / 1000);
  }
  return { up, destroy };
}

/** `BENCH_ONLY=proxy,flags,fleet,control,schedules,replicas` runs those parts alone. */
const only = (part: string) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY.split(",").includes(part);

async function main(): Promise<void> {
  ensureTools();
  const toolchain = resolveToolchain();
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  if (only("proxy")) {
    console.log(`\nLoad balancers side by side: nginx, HAProxy, ${path.basename(toolchain.proxyBin)} and ${path.basename(toolchain.proxyBin)} driving HAProxy, 2 workers each, keep-alive, one upstream, ${rounds} interleaved rounds of ${seconds}s`);
    const bench = await proxyBench(toolchain.proxyBin, seconds, rounds);
    const direct = (list: PassResult[]) => list.find((r) => r.name === "upstream direct");
    const table = (title: string, unit: string, list: PassResult[], addedP99: boolean) => {
      console.log(`\n${title}`);
      console.log(`${"".padEnd(24)}${`${unit} median`.padStart(16)}${"min–max".padStart(20)}${"vs nginx".padStart(10)}${"vs HAProxy".padStart(12)}${(addedP99 ? "p99 added ms" : "p99 ms").padStart(14)}${"non-2xx".padStart(9)}`);
      const of = (name: string) => median(list.find((r) => r.name === name)?.rates ?? []);
      const base = direct(list);
      for (const r of list) {
        const m = median(r.rates);
        const p99 = median(r.p99Ms) - (addedP99 && base && r !== base ? median(base.p99Ms) : 0);
        console.log(
          `${r.name.padEnd(24)}${fmt(m).padStart(16)}${`${fmt(Math.min(...r.rates))}–${fmt(Math.max(...r.rates))}`.padStart(20)}${fmt(m / of("nginx"), 2).padStart(10)}${fmt(m / of("HAProxy"), 2).padStart(12)}${fmt(p99, 2).padStart(14)}${String(r.non2xx).padStart(9)}`,
        );
      }
    };
    table("Throughput: wrk -t2 -c64, GET of a small body", "req/s", bench.throughput, false);
    table("Light load: wrk -t1 -c16 (p99 added over the upstream direct)", "req/s", bench.light, true);
    table("1 MiB request bodies: wrk -t2 -c8 POST", "req/s", bench.largeBody, false);
    table("WebSocket echo round trips: 16 connections (Node's client), fixture app upstream", "msg/s", bench.websocket, false);
    table("TLS throughput: wrk -t2 -c64 over HTTPS, kept-alive connections", "req/s", bench.tlsThroughput, false);
    table("TLS handshakes: wrk -t2 -c16 over HTTPS, Connection: close (a full handshake per request)", "conn/s", bench.tlsHandshakes, false);
    const ratio = (list: PassResult[], name: string) => median(list.find((r) => r.name === name)?.rates ?? []) / median(list.find((r) => r.name === "nginx")?.rates ?? []);
    const addedP99 = (name: string) => median(bench.light.find((r) => r.name === name)?.p99Ms ?? []) - median(direct(bench.light)?.p99Ms ?? []);
    for (const listed of ["cutover-proxy", "Cutover-driven HAProxy"]) {
      console.log(
        `aims for the default data plane, ${listed}: throughput ≥ 1.0× nginx (${fmt(ratio(bench.throughput, listed), 2)}×), p99 added ≤ nginx's (${fmt(addedP99(listed), 2)} ms against ${fmt(addedP99("nginx"), 2)} ms); TLS ${fmt(ratio(bench.tlsThroughput, listed), 2)}× nginx's throughput, ${fmt(ratio(bench.tlsHandshakes, listed), 2)}× its handshakes`,
      );
    }

  
  }

  if (only("flags")) {
    console.log(`\nFlag evaluation over OFREP: Cutover pinned to one core, wrk on the other, ${seconds}s each, a new targetingKey per request`);
    const f = await flagEvaluation(seconds);
    console.log(`${"".padEnd(40)}${"req/s".padStart(12)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}${"non-2xx".padStart(10)}`);
    for (const [name, r] of [
      ["bare Node HTTP server, 1 connection", f.baseline],
      ["single evaluation, 1 connection", f.single1],
      ["single evaluation, 32 connections", f.single],
      [`bulk (${f.flags} flags), 32 connections`, f.bulk],
    ] as const) {
      console.log(`${name.padEnd(40)}${fmt(r.requestsPerSecond).padStart(12)}${fmt(r.p50Ms, 2).padStart(10)}${fmt(r.p99Ms, 2).padStart(10)}${String(r.non2xx).padStart(10)}`);
    }
    console.log(
      `aims: single-evaluation p99 under 2 ms (${fmt(f.single1.p99Ms / 2, 2)}× the aim; ${fmt(f.single1.p99Ms / f.baseline.p99Ms, 2)}× a bare Node server's), at least 5,000 evaluations/s (${fmt(f.single.requestsPerSecond / 5000, 2)}× the aim)`,
    );

  
  }

  if (only("fleet")) {
    const runs = Number(process.env.BENCH_RUNS ?? 5);
    console.log(`\nOne-fleet stack (2 instances of a Node app), real engine, file backend, ${runs} runs`);
    const times = await fleetUpTimes(runs);
    console.log(`${"".padEnd(28)}${"median s".padStart(12)}${"min s".padStart(10)}${"max s".padStart(10)}`);
    for (const [name, xs] of [
      ["pulumi up", times.up],
      ["pulumi destroy", times.destroy],
    ] as const) {
      console.log(`${name.padEnd(28)}${fmt(median(xs), 2).padStart(12)}${fmt(Math.min(...xs), 2).padStart(10)}${fmt(Math.max(...xs), 2).padStart(10)}`);
    }

    console.log(`\nThe same fleet stack: the stock CLI (pulumi up/destroy --yes --skip-preview, a YAML program, the provider as a plugin) against Cutover's engine (an engine worker), ${runs} alternating rounds`);
    const raw = await rawVsEngine(runs);
    console.log(`${"".padEnd(28)}${"stock CLI s".padStart(14)}${"Cutover s".padStart(12)}${"ratio".padStart(10)}`);
    for (const op of ["up", "destroy"] as const) {
      const r = median(raw.raw[op]);
      const e = median(raw.engine[op]);
      console.log(`${op.padEnd(28)}${fmt(r, 2).padStart(14)}${fmt(e, 2).padStart(12)}${fmt(e / r, 2).padStart(10)}`);
    }
    console.log(`aim: Cutover's up ≤ 1.05× the stock CLI's (${median(raw.engine.up) / median(raw.raw.up) <= 1.05 ? "met" : "not met"})`);

  
  }

  if (only("control")) {
    const cpEnvs = Number(process.env.BENCH_PARALLEL_ENVIRONMENTS ?? 10);
    const pollEnvs = Number(process.env.BENCH_POLL_ENVIRONMENTS ?? 20);
    const cpDeployments = Number(process.env.BENCH_DEPLOYMENTS ?? 100);
    console.log(`\nControl plane on the local target (SQLite journal, file backend): ${cpEnvs} environments one at a time and at once, ${pollEnvs} at once under status polls, ${cpDeployments} deployments for the RSS`);
    const cp = await controlPlane(cpEnvs, pollEnvs, cpDeployments);
    const ms = (xs: number[]) => `${fmt(median(xs))} ms median (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}, ${xs.length} steps)`;
    console.log(`weight change, decision to balancer serving it   direct: ${ms(cp.weightChangeMs.direct)}; traffic stack update: ${ms(cp.weightChangeMs.stack)}; ${fmt(median(cp.weightChangeMs.stack) / median(cp.weightChangeMs.direct), 1)}× faster (aim ≤ 300 ms: ${median(cp.weightChangeMs.direct) <= 300 ? "met" : "not met"})`);
    console.log(`warm rollback (abort of a paused canary)        old version at 100%: ${fmt(cp.rollback.trafficMs)} ms (aim ≤ 1,000 ms: ${cp.rollback.trafficMs <= 1000 ? "met" : "not met"}); new fleet removed and deployment ended: ${fmt(cp.rollback.endMs)} ms`);
    console.log(`${cp.parallel.environments} deployments, one at a time: ${fmt(cp.parallel.serialSeconds, 1)} s; all at once: ${fmt(cp.parallel.parallelSeconds, 1)} s; ratio ${fmt(cp.parallel.parallelSeconds / cp.parallel.serialSeconds, 2)} (aim ≤ 0.50)`);
    const cpu = cp.parallel.cpuPerDeployment;
    console.log(
      `engine CPU per deployment (one at a time, with the record of its traffic change): ${fmt(cp.parallel.cpuSecondsPerDeployment, 2)} CPU-s (aim ≤ 1.0): the server ${fmt(cpu.server, 2)}, the workers ${fmt(cpu.workers, 2)}, the Pulumi CLI runs ${fmt(cpu.cli, 2)}, the workers' providers ${fmt(cpu.providers, 2)}`,
    );
    console.log(
      `RSS of the server and its engine workers after ${cp.rss.firstRound} deployments: ${fmt(cp.rss.beforeMb, 1)} MB; after ${cp.rss.deployments}: ${fmt(cp.rss.afterMb, 1)} MB (${cp.rss.workers} worker${cp.rss.workers === 1 ? "" : "s"}); ratio ${fmt(cp.rss.afterMb / cp.rss.beforeMb, 2)} (aim 0.90–1.10); the server alone ${fmt(cp.rss.serverBeforeMb, 1)} → ${fmt(cp.rss.serverAfterMb, 1)} MB`,
    );
    console.log(
      `status polls during ${cp.polls.environments} deployments at once: ${cp.polls.perSecond}/s, ${cp.polls.count} polls, p50 ${fmt(cp.polls.p50Ms, 2)} ms, p99 ${fmt(cp.polls.p99Ms, 2)} ms (aim < 50 ms), p999 ${fmt(cp.polls.p999Ms, 2)} ms (aim < 200 ms), ${cp.polls.failed} failed (aim 0)`,
    );
    console.log(
      `signed Slack commands among them (status, 4/s): ${cp.slack.count}, p50 ${fmt(cp.slack.p50Ms, 2)} ms, p99 ${fmt(cp.slack.p99Ms, 2)} ms (aim < 1,000 ms), ${cp.slack.failed} failed (aim 0)`,
    );
    console.log(
      `/healthz among them: ${cp.polls.healthz.count} checks, p99 ${fmt(cp.polls.healthz.p99Ms, 2)} ms (aim < 50 ms), p999 ${fmt(cp.polls.healthz.p999Ms, 2)} ms (aim < 200 ms), ${cp.polls.healthz.failed} failed (aim 0)`,
    );
    console.log(
      `the API's event-loop delay meanwhile, as the server measures it: p99 ${fmt(cp.polls.eventLoop.p99Ms, 2)} ms, max ${fmt(cp.polls.eventLoop.maxMs, 2)} ms`,
    );

  
  }

  if (only("schedules")) {
    const environments = Number(process.env.BENCH_SCHEDULE_ENVIRONMENTS ?? 50);
    console.log(`\nA nightly refresh of ${environments} environments firing in the same second (local target, SQLite journal), status polls at 200/s meanwhile`);
    const b = await scheduleBurst(environments);
    const states = Object.entries(b.runs).map(([state, n]) => `${n} ${state}`).join(", ");
    console.log(`runs of the firing: ${states}; schedules without exactly one run: ${b.schedulesWithoutOneRun} (aim: ${environments} succeeded, 0 without one run: ${b.runs.succeeded === environments && b.schedulesWithoutOneRun === 0 ? "met" : "not met"}); the last ended ${fmt(b.lastEndSeconds, 1)} s after the firing`);
    console.log(
      `status polls meanwhile: ${b.polls.count}, p50 ${fmt(b.polls.p50Ms, 2)} ms, p99 ${fmt(b.polls.p99Ms, 2)} ms (aim < 50 ms), p999 ${fmt(b.polls.p999Ms, 2)} ms (aim < 200 ms), ${b.polls.failed} failed (aim 0); /healthz p99 ${fmt(b.polls.healthz.p99Ms, 2)} ms, ${b.polls.healthz.failed} of ${b.polls.healthz.count} failed`,
    );
  }

  if (only("replicas")) {
    const environments = Number(process.env.BENCH_ENVIRONMENTS ?? 20);
    console.log(`\n${environments} environments deploying at once (local target, PostgreSQL journal and state), until all succeeded`);
    const one = await deploymentsThroughReplicas(1, environments);
    const three = await deploymentsThroughReplicas(3, environments);
    console.log(`(status polls at 200/s through the first replica meanwhile)`);
    console.log(`${"".padEnd(28)}${"seconds".padStart(12)}${"per min".padStart(10)}${"vs 1".padStart(10)}${"lost leases".padStart(14)}${"polls p99".padStart(12)}${"p999".padStart(10)}${"failed".padStart(8)}`);
    for (const r of [one, three]) {
      const p = r.polled.polls;
      console.log(
        `${`${r.replicas} replica${r.replicas > 1 ? "s" : ""}`.padEnd(28)}${fmt(r.seconds, 1).padStart(12)}${fmt((r.environments * 60) / r.seconds, 1).padStart(10)}${fmt(one.seconds / r.seconds, 2).padStart(10)}${String(r.lostLeases).padStart(14)}${`${fmt(p.p99Ms, 1)} ms`.padStart(12)}${`${fmt(p.p999Ms, 1)} ms`.padStart(10)}${String(p.failed + r.polled.healthz.failed + r.polled.slack.failed).padStart(8)}`,
      );
    }
    const failed = [one, three].reduce((n, r) => n + r.polled.polls.failed + r.polled.healthz.failed + r.polled.slack.failed, 0);
    console.log(`aim: 0 lost leases (${one.lostLeases + three.lostLeases === 0 ? "met" : "not met"}); polls p99 < 50 ms (${Math.max(one.polled.polls.p99Ms, three.polled.polls.p99Ms) < 50 ? "met" : "not met"}), 0 failed (${failed === 0 ? "met" : "not met"})`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

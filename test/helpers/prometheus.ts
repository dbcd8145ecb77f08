// Runs a real Prometheus (Debian's `prometheus` package, which set-up
// installs) for tests: 127.0.0.1 on a port the OS picks, found from the
// process's own listening socket, scraping the given targets every second.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { listeningPorts } from "./processes";
import { tempDir } from "./temp-dir";
import { waitFor } from "./wait-for";

export interface PrometheusServer {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function prometheusBinary(): string {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/bin"])) {
    const candidate = path.join(dir, "prometheus");
    if (existsSync(candidate)) return candidate;
  }
  throw new Error("prometheus is not installed: run scripts/setup.sh as root (it installs Debian's prometheus), or apt-get install prometheus");
}


export async function startPrometheus(targets: { job: string; address: string; metricsPath?: string }[]): Promise<PrometheusServer> {
  const dir = tempDir("prometheus");
  const config = [
    "global: {scrape_interval: 1s, evaluation_interval: 1s}",
    "scrape_configs:",
    ...targets.map((t) => `  - {job_name: ${t.job}, metrics_path: ${t.metricsPath ?? "/metrics"}, static_configs: [{targets: ["${t.address}"]}]}`),
  ].join("\n");
  writeFileSync(path.join(dir, "prometheus.yml"), `${config}\n`);
  const child = spawn(
    prometheusBinary(),
    [`--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`, "--web.listen-address=127.0.0.1:0", "--log.level=warn"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (c) => (stderr += String(c)));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const port = await waitFor("prometheus to listen", () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr.slice(-500)}`);
    return listeningPorts(child.pid!)[0];
  }, 20_000, 100);
  const url = `http://127.0.0.1:${port}`;
  await waitFor("prometheus to be ready", async () => (await fetch(`${url}/-/ready`)).ok, 20_000, 100);
  return {
    url,
    process: child,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

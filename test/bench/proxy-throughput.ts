// cutover-proxy against nginx as a reverse proxy, side by side, in front of
// the same upstream (nginx answering a fixed body), measured with wrk on
// 127.0.0.1 for a bounded time.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { allocatePorts } from "../../infra/local/provider/port-allocation";
import { waitFor } from "../helpers/wait-for";
import { request } from "../helpers/http";

export interface ThroughputResult {
  name: string;
  requestsPerSecond: number;
  p99Ms: number;
  non2xx: number;
}

function wrk(url: string, seconds: number, connections: number): ThroughputResult & { raw: string } {
  const raw = execFileSync("wrk", ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", url], { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? 0);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(raw);
  const p99Ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2] as "us" | "ms" | "s"] : NaN;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(raw)?.[1] ?? 0);
  return { name: url, requestsPerSecond: rps, p99Ms, non2xx, raw };
}

function nginxConfig(dir: string, body: string): string {
  const file = path.join(dir, `nginx-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(
    file,
    `worker_processes auto;
daemon off;
pid ${file}.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000;
  ${body}
}
`,
  );
  return file;
}

async function startNginx(config: string, port: number): Promise<ChildProcess> {
  const child = spawn("nginx", ["-c", config, "-e", path.join(path.dirname(config), "error.log")], { stdio: "ignore" });
  await waitFor(`nginx on ${port}`, async () => (await request(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status === 200, 10_000);
  return child;
}

export async function proxyThroughput(proxyBin: string, seconds = 10, connections = 64): Promise<ThroughputResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cutover-bench-"));
  // nginx cannot report a port it chose, so its ports come from the allocator, outside the ephemeral range.
  const [upstreamPort, nginxPort] = await allocatePorts(2);
  const children: ChildProcess[] = [];
  try {
    children.push(
      await startNginx(
        nginxConfig(dir, `server { listen 127.0.0.1:${upstreamPort}; location / { return 200 "hello from upstream\\n"; } }`),
        upstreamPort,
      ),
    );
    children.push(
      await startNginx(
        nginxConfig(
          dir,
          `upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; }
  server { listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
        ),
        nginxPort,
      ),
    );
    const config = path.join(dir, "proxy.json");
    writeFileSync(
      config,
      JSON.stringify({
        listen: "127.0.0.1:0",
        admin: "127.0.0.1:0",
        pools: { blue: { weight: 100, endpoints: [`127.0.0.1:${upstreamPort}`] }, green: { weight: 0, endpoints: [] } },
      }),
    );
    const statusFile = path.join(dir, "proxy-status.json");
    const proxy = spawn(proxyBin, ["-config", config, "-status", statusFile], { stdio: "ignore" });
    children.push(proxy);
    let proxyPort = 0;
    await waitFor("cutover-proxy", async () => {
      try {
        const listen = (JSON.parse(readFileSync(statusFile, "utf8")) as { listen: string }).listen;
        proxyPort = Number(listen.slice(listen.lastIndexOf(":") + 1));
      } catch {
        return false;
      }
      return (await request(`http://127.0.0.1:${proxyPort}/`).catch(() => undefined))?.status === 200;
    }, 10_000);

    const results: ThroughputResult[] = [];
    for (const [name, port] of [
      ["upstream direct (no proxy)", upstreamPort],
      ["nginx reverse proxy", nginxPort],
      ["cutover-proxy", proxyPort],
    ] as const) {
      wrk(`http://127.0.0.1:${port}/`, 2, connections); // warm-up
      const r = wrk(`http://127.0.0.1:${port}/`, seconds, connections);
      results.push({ ...r, name });
    }
    return results;
  } finally {
    for (const c of children) c.kill("SIGTERM");
  }
}

// cutover-proxy, and cutover-proxy driving HAProxy (an environment's
// `local.dataPlane: haproxy`), beside nginx and HAProxy, each a reverse
// proxy with 2 workers and keep-alive in front of the same upstream (nginx answering a
// fixed body), measured with wrk on 127.0.0.1 in interleaved rounds: the
// proxies take turns within every round, so drift of the machine spreads
// over all of them. Passes: throughput (wrk -t2 -c64), light load
// (wrk -t1 -c16: the p99 a proxy adds over the upstream direct), 1 MiB
// request bodies, WebSocket echo round trips (Node's client, the fixture
// app as upstream), and over TLS (one ECDSA P-256 certificate for all, TLS
// 1.3): throughput on kept-alive connections, and handshakes a second (a
// new connection per request).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import tls from "node:tls";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { allocatePorts } from "../../infra/local/provider/port-allocation";
import { fixtureApp } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";
import { request } from "../helpers/http";

export interface PassResult {
  name: string;
  /** One figure per round: requests (or messages) a second. */
  rates: number[];
  p99Ms: number[];
  non2xx: number;
}

export const median = (xs: number[]) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function wrk(url: string, seconds: number, threads: number, connections: number, script?: string, headers: string[] = []) {
  const raw = execFileSync("wrk", [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--timeout", "5s", "--latency", ...headers.flatMap((h) => ["-H", h]), ...(script ? ["-s", script] : []), url], { encoding: "utf8" });
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s)/m.exec(raw);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? 0),
    p99Ms: p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2] as "us" | "ms" | "s"] : NaN,
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(raw)?.[1] ?? 0),
  };
}

const TEMP = (dir: string) =>
  `client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`;

function nginxConfig(dir: string, workers: number, body: string): string {
  const file = path.join(dir, `nginx-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(file, `worker_processes ${workers};\ndaemon off;\npid ${file}.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  ${TEMP(dir)}\n  keepalive_requests 1000000;\n  keepalive_timeout 120s;\n  client_max_body_size 64m;\n  ${body}\n}\n`);
  return file;
}

async function ready(name: string, url: string): Promise<void> {
  await waitFor(name, async () => (await request(url).catch(() => undefined))?.status === 200, 10_000);
}

export interface ProxyBench {
  throughput: PassResult[];
  light: PassResult[];
  largeBody: PassResult[];
  websocket: PassResult[];
  tlsThroughput: PassResult[];
  tlsHandshakes: PassResult[];
}

export async function proxyBench(proxyBin: string, seconds: number, rounds: number): Promise<ProxyBench> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cutover-bench-"));
  // nginx and HAProxy cannot report a port they chose, so their ports come from the allocator, outside the ephemeral range.
  const [upstreamPort, wsUpstreamPort, nginxPort, haproxyPort, nginxTlsPort, haproxyTlsPort] = await allocatePorts(6);
  const children: ChildProcess[] = [];
  const start = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
    const c = spawn(cmd, args, { stdio: "ignore", env });
    children.push(c);
    return c;
  };
  try {
    start("nginx", ["-c", nginxConfig(dir, 1, `server { listen 127.0.0.1:${upstreamPort}; location / { return 200 "hello from upstream\\n"; } }`), "-e", `${dir}/error.log`]);
    start(process.execPath, [fixtureApp], { ...process.env, PORT: String(wsUpstreamPort), APP_VERSION: "bench" });
    await ready("upstream", `http://127.0.0.1:${upstreamPort}/`);
    await ready("websocket upstream", `http://127.0.0.1:${wsUpstreamPort}/healthz`);
    // One certificate for every proxy's TLS; HAProxy reads it and its key as one file.
    const cert = path.join(dir, "bench.crt");
    const key = path.join(dir, "bench.key");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    const pem = path.join(dir, "bench.pem");
    writeFileSync(pem, readFileSync(cert, "utf8") + readFileSync(key, "utf8"));
    const appLocation = `location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_request_buffering off; }`;
    start("nginx", [
      "-c",
      nginxConfig(
        dir,
        2,
        `upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; }
  upstream ws { server 127.0.0.1:${wsUpstreamPort}; }
  server { listen 127.0.0.1:${nginxPort};
    location /ws { proxy_pass http://ws; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; }
    ${appLocation} }
  server { listen 127.0.0.1:${nginxTlsPort} ssl; ssl_certificate ${cert}; ssl_certificate_key ${key}; ${appLocation} }`,
      ),
      "-e",
      `${dir}/error.log`,
    ]);
    const haproxyCfg = path.join(dir, "haproxy.cfg");
    writeFileSync(
      haproxyCfg,
      `global\n  nbthread 2\n  maxconn 8192\ndefaults\n  mode http\n  option http-keep-alive\n  option forwardfor\n  http-reuse always\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  timeout tunnel 1h\n  timeout http-keep-alive 120s\nfrontend fe\n  bind 127.0.0.1:${haproxyPort}\n  use_backend ws if { path_beg /ws }\n  default_backend be\nfrontend fe_tls\n  bind 127.0.0.1:${haproxyTlsPort} ssl crt ${pem} alpn http/1.1\n  default_backend be\nbackend be\n  server up1 127.0.0.1:${upstreamPort}\nbackend ws\n  server ws1 127.0.0.1:${wsUpstreamPort}\n`,
    );
    start("haproxy", ["-db", "-f", haproxyCfg]);
    const config = path.join(dir, "proxy.json");
    // Two pools as Cutover runs them. cutover-proxy routes by weight, not by path, so a second one fronts the WebSocket upstream.
    writeFileSync(config, JSON.stringify({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", pools: { blue: { weight: 100, endpoints: [`127.0.0.1:${upstreamPort}`] }, green: { weight: 0, endpoints: [] } } }));
    const wsConfig = path.join(dir, "proxy-ws.json");
    writeFileSync(wsConfig, JSON.stringify({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", pools: { blue: { weight: 100, endpoints: [`127.0.0.1:${wsUpstreamPort}`] }, green: { weight: 0, endpoints: [] } } }));
    const proxyPort = await startCutoverProxy(proxyBin, config, path.join(dir, "status.json"), start);
    const wsProxyPort = await startCutoverProxy(proxyBin, wsConfig, path.join(dir, "status-ws.json"), start);
    // The same two balancers with HAProxy as their data plane, as an environment with `local.dataPlane: haproxy` runs.
    const driven = (file: string) => {
      const dirOf = path.join(dir, path.basename(file, ".json"));
      mkdirSync(dirOf, { recursive: true });
      const cfg = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
      writeFileSync(path.join(dirOf, "config.json"), JSON.stringify({ ...cfg, dataPlane: "haproxy" }));
      return startCutoverProxy(proxyBin, path.join(dirOf, "config.json"), path.join(dirOf, "status.json"), start);
    };
    const drivenPort = await driven(config);
    const drivenWsPort = await driven(wsConfig);
    // The first balancer again with TLS, on each data plane.
    const tlsConfig = path.join(dir, "proxy-tls.json");
    writeFileSync(tlsConfig, JSON.stringify({ ...(JSON.parse(readFileSync(config, "utf8")) as object), tls: { certFile: cert, keyFile: key } }));
    const proxyTlsPort = await startCutoverProxy(proxyBin, tlsConfig, path.join(dir, "status-tls.json"), start, true);
    const drivenTlsDir = path.join(dir, "proxy-tls-driven");
    mkdirSync(drivenTlsDir, { recursive: true });
    writeFileSync(path.join(drivenTlsDir, "config.json"), JSON.stringify({ ...(JSON.parse(readFileSync(tlsConfig, "utf8")) as object), dataPlane: "haproxy" }));
    const drivenTlsPort = await startCutoverProxy(proxyBin, path.join(drivenTlsDir, "config.json"), path.join(drivenTlsDir, "status.json"), start, true);
    await ready("nginx", `http://127.0.0.1:${nginxPort}/`);
    await ready("haproxy", `http://127.0.0.1:${haproxyPort}/`);

    const peers = [
      ["nginx", nginxPort, nginxPort],
      ["HAProxy", haproxyPort, haproxyPort],
      ["cutover-proxy", proxyPort, wsProxyPort],
      ["Cutover-driven HAProxy", drivenPort, drivenWsPort],
    ] as const;
    const bodyScript = path.join(dir, "body.lua");
    writeFileSync(bodyScript, `wrk.method = "POST"\nwrk.body = string.rep("x", 1048576)\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
    const tlsPeers = [
      ["nginx", nginxTlsPort],
      ["HAProxy", haproxyTlsPort],
      ["cutover-proxy", proxyTlsPort],
      ["Cutover-driven HAProxy", drivenTlsPort],
    ] as const;
    const results: ProxyBench = { throughput: [], light: [], largeBody: [], websocket: [], tlsThroughput: [], tlsHandshakes: [] };
    const record = (list: PassResult[], name: string, rate: number, p99Ms: number, non2xx = 0) => {
      let e = list.find((r) => r.name === name);
      if (!e) list.push((e = { name, rates: [], p99Ms: [], non2xx: 0 }));
      e.rates.push(rate);
      e.p99Ms.push(p99Ms);
      e.non2xx += non2xx;
    };
    const short = Math.max(2, Math.round(seconds / 2));
    for (const [, port] of [["upstream", upstreamPort], ...peers]) wrk(`http://127.0.0.1:${port}/`, 2, 2, 64); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const [name, port, wsPort] of [["upstream direct", upstreamPort, wsUpstreamPort] as const, ...peers]) {
        const t = wrk(`http://127.0.0.1:${port}/`, seconds, 2, 64);
        record(results.throughput, name, t.rps, t.p99Ms, t.non2xx);
        const l = wrk(`http://127.0.0.1:${port}/`, seconds, 1, 16);
        record(results.light, name, l.rps, l.p99Ms, l.non2xx);
        if (name !== "upstream direct") {
          const b = wrk(`http://127.0.0.1:${port}/`, short, 2, 8, bodyScript);
          record(results.largeBody, name, b.rps, b.p99Ms, b.non2xx);
        }
        const w = await websocketEcho(`ws://127.0.0.1:${wsPort}/ws`, short, 16);
        record(results.websocket, name, w.perSecond, w.p99Ms);
      }
      for (const [name, port] of tlsPeers) {
        const t = wrk(`https://127.0.0.1:${port}/`, short, 2, 64);
        record(results.tlsThroughput, name, t.rps, t.p99Ms, t.non2xx);
        // A new connection, so a full handshake, for every request.
        const h = wrk(`https://127.0.0.1:${port}/`, short, 2, 16, undefined, ["Connection: close"]);
        record(results.tlsHandshakes, name, h.rps, h.p99Ms, h.non2xx);
      }
    }
    return results;
  } finally {
    for (const c of children) c.kill("SIGTERM");
  }
}

async function startCutoverProxy(bin: string, config: string, statusFile: string, start: (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => ChildProcess, overTls = false): Promise<number> {
  start(bin, ["-config", config, "-status", statusFile], { ...process.env, GOMAXPROCS: "2" });
  let port = 0;
  await waitFor("cutover-proxy", async () => {
    try {
      const listen = (JSON.parse(readFileSync(statusFile, "utf8")) as { listen: string }).listen;
      port = Number(listen.slice(listen.lastIndexOf(":") + 1));
    } catch {
      return false;
    }
    if (overTls) return handshakes(port);
    return (await request(`http://127.0.0.1:${port}/`).catch(() => undefined)) !== undefined;
  }, 10_000);
  return port;
}

/** Whether a TLS handshake on the port completes. */
function handshakes(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** Echo round trips over `connections` WebSockets for `seconds`: messages a second and the p99 round trip. */
async function websocketEcho(url: string, seconds: number, connections: number): Promise<{ perSecond: number; p99Ms: number }> {
  const rtts: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const ws = new WebSocket(url);
      await new Promise<void>((resolve, reject) => {
        ws.addEventListener("open", () => resolve(), { once: true });
        ws.addEventListener("error", () => reject(new Error(`cannot open ${url}`)), { once: true });
      });
      while (Date.now() < deadline) {
        const t = performance.now();
        await new Promise<void>((resolve) => {
          ws.addEventListener("message", () => resolve(), { once: true });
          ws.send("ping");
        });
        rtts.push(performance.now() - t);
      }
      ws.close();
    }),
  );
  rtts.sort((a, b) => a - b);
  return { perSecond: rtts.length / seconds, p99Ms: rtts[Math.floor(rtts.length * 0.99)] ?? NaN };
}

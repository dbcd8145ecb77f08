// One contract for both data planes of the local balancer: cutover-proxy
// itself and cutover-proxy driving HAProxy (Debian's). The same cases run
// against each, through the provider's own balancer controller, with real
// fixture apps as instances and real sockets: routing by weight, a weight
// change served within 300 ms and read back from the balancer, sticky keys
// that stay on a growing pool, the keyed force header (never seen by the
// instance), WebSocket upgrades, 1 MiB bodies, a killed instance skipped
// without a failed request, the per-version metrics the analysis reads,
// the data-plane process killed under load, back within a second, a
// forced request answered by its own pool or not at all, and the upstream
// timeout (a 504 for an instance silent longer).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { applyBalancerRouting, readBalancerRouting, startBalancer, stopBalancer, type BalancerInputs, type BalancerOutputs } from "../../infra/local/provider/balancer-controller";
import { resolveToolchain } from "../../server/engine/toolchain";
import { firstAnswerAfter, request } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { haproxyIn, isRunning } from "../helpers/processes";
import { fixtureApp, tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

const HEADER = "x-cutover-pool";
const KEY = "contract-key";

interface Instance {
  child: ChildProcess;
  address: string;
}

/** A fixture app on a port the kernel chose, as it reports it. */
function instance(version: string): Promise<Instance> {
  const child = spawn(process.execPath, [fixtureApp], { env: { ...process.env, PORT: "0", APP_VERSION: version }, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\d+)/.exec(out);
      if (m) resolve({ child, address: `127.0.0.1:${m[1]}` });
    });
    child.on("exit", (code) => reject(new Error(`instance ${version} exited ${code}`)));
  });
}

/** The process carrying the requests: cutover-proxy's worker, or the haproxy it runs. */
function dataPlaneProcess(balancer: BalancerOutputs, plane: string): number {
  const { workerPid } = JSON.parse(readFileSync(path.join(balancer.dir, "status.json"), "utf8")) as { workerPid: number };
  if (plane === "cutover-proxy") return workerPid;
  const [haproxy] = haproxyIn(balancer.dir);
  if (!haproxy) throw new Error("no haproxy runs for the balancer");
  return haproxy;
}

function websocketEcho(url: string, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error("no echo in 5s")), 5000);
    ws.addEventListener("open", () => ws.send(message), { once: true });
    ws.addEventListener("message", (e) => {
      clearTimeout(timer);
      resolve(String(e.data));
      ws.close();
    });
    ws.addEventListener("error", () => reject(new Error(`cannot open ${url}`)), { once: true });
  });
}

describe.each(["cutover-proxy", "haproxy"])("the %s data plane", (plane) => {
  const runtimeDir = path.join(tempDir(`contract-${plane}`), "runtime");
  const instances: Instance[] = [];
  let inputs: BalancerInputs;
  let balancer: BalancerOutputs;
  let url = "";
  const versionOf = (body: string) => (JSON.parse(body) as { version: string }).version;
  const weigh = async (blue: number, green: number) => {
    inputs = { ...inputs, pools: { blue: { ...inputs.pools.blue, weight: blue }, green: { ...inputs.pools.green, weight: green } } };
    const asked = Date.now();
    expect(await applyBalancerRouting(inputs, { listenPort: balancer.boundListenPort, adminPort: balancer.boundAdminPort })).toBe(true);
    return Date.now() - asked;
  };
  const draw = async (n: number, headers: Record<string, string> = {}) => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await request(`${url}/`, { headers });
      const key = r.status === 200 ? versionOf(r.body) : `status ${r.status}`;
      seen[key] = (seen[key] ?? 0) + 1;
    }
    return seen;
  };

  beforeAll(async () => {
    process.env.CUTOVER_PROXY_BIN = resolveToolchain().proxyBin;
    for (const v of ["v1", "v1", "v2", "v2"]) instances.push(await instance(v));
    inputs = {
      name: `contract-${plane}`,
      listenHost: "127.0.0.1",
      listenPort: 0,
      adminPort: 0,
      pools: { blue: { weight: 100, endpoints: [instances[0].address, instances[1].address], version: "v1" }, green: { weight: 0, endpoints: [instances[2].address, instances[3].address], version: "v2" } },
      stickyHeader: "x-user",
      forceHeader: HEADER,
      forceKey: KEY,
      healthCheck: { path: "/healthz", intervalMs: 200, timeoutMs: 500 },
      runtimeDir,
      ...(plane === "haproxy" ? { dataPlane: "haproxy" as const } : {}),
    };
    balancer = await startBalancer(inputs);
    url = balancer.url;
  });

  afterAll(async () => {
    if (balancer) await stopBalancer(balancer);
    for (const i of instances) i.child.kill("SIGKILL");
  });

  it("routes by weight; a weight change serves within 300 ms and reads back from the balancer", async () => {
    expect(await draw(20)).toEqual({ v1: 20 });
    expect(await weigh(50, 50)).toBeLessThan(300);
    expect((await readBalancerRouting(balancer))?.pools).toMatchObject({ blue: { weight: 50 }, green: { weight: 50 } });
    const seen = await draw(400);
    expect(seen.v1 + seen.v2).toBe(400);
    expect(Math.min(seen.v1, seen.v2)).toBeGreaterThan(120);
  });

  it("keeps a sticky key on the pool that grows", async () => {
    await weigh(70, 30);
    const pick = async () => {
      const picked = new Map<string, string>();
      for (let i = 0; i < 150; i++) picked.set(`user-${i}`, versionOf((await request(`${url}/`, { headers: { "x-user": `user-${i}` } })).body));
      return picked;
    };
    const at30 = await pick();
    expect(await pick()).toEqual(at30);
    await weigh(40, 60);
    const at60 = await pick();
    const green30 = [...at30].filter(([, v]) => v === "v2");
    expect(green30.length).toBeGreaterThan(20);
    for (const [user] of green30) expect(at60.get(user)).toBe("v2");
    expect([...at60.values()].filter((v) => v === "v2").length).toBeGreaterThan(green30.length + 20);
  });

  it("forces a pool only with the key, and the instance never sees the header", async () => {
    await weigh(100, 0);
    expect(await draw(10, { [HEADER]: `green:${KEY}` })).toEqual({ v2: 10 });
    for (const wrong of ["green", "green:", "green:other", `green:${KEY.toUpperCase()}`]) expect(await draw(3, { [HEADER]: wrong })).toEqual({ v1: 3 });
    for (const value of [`green:${KEY}`, "green:other"]) {
      const seen = JSON.parse((await request(`${url}/headers`, { headers: { [HEADER]: value } })).body) as { headers: Record<string, string> };
      expect(seen.headers[HEADER]).toBeUndefined();
      expect(seen.headers["x-forwarded-proto"]).toBe("http");
    }
    expect(JSON.stringify(await readBalancerRouting(balancer))).not.toContain(KEY);
  });

  it("passes a WebSocket upgrade to the pool the weights choose, and a 1 MiB body", async () => {
    expect(await websocketEcho(`${url.replace(/^http/, "ws")}/ws`, "hello")).toBe("v1: hello");
    await weigh(0, 100);
    expect(await websocketEcho(`${url.replace(/^http/, "ws")}/ws`, "again")).toBe("v2: again");
    const big = await request(`${url}/`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: "x".repeat(1024 * 1024) });
    expect(big.status).toBe(200);
    expect(versionOf(big.body)).toBe("v2");
  });

  it("counts each pool's requests by version for the analysis", async () => {
    const metrics = async () => (await request(balancer.metricsUrl)).body;
    const count = (text: string, pool: string, version: string) => Number(new RegExp(`^cutover_proxy_requests_total\\{pool="${pool}",version="${version}"\\} (\\S+)`, "m").exec(text)?.[1] ?? 0);
    // What came before is counted first (a WebSocket's request is logged when its connection closes): the count holds still.
    let last = -1;
    const { before } = await waitFor("the count to hold still", async () => {
      const now = count(await metrics(), "green", "v2");
      const still = now === last;
      last = now;
      return still ? { before: now } : undefined;
    }, 10_000, 300);
    expect(await draw(50)).toEqual({ v2: 50 });
    await waitFor("the 50 requests to be counted", async () => count(await metrics(), "green", "v2") === before + 50);
    const text = await metrics();
    expect(text).toMatch(/^cutover_proxy_request_duration_seconds_bucket\{pool="green",version="v2",le="\+Inf"\} \d+/m);
    expect(text).toMatch(/^cutover_proxy_forced_requests_total\{pool="green",version="v2"\} [1-9]/m);
    expect(text).toMatch(/^cutover_proxy_responses_5xx_total\{pool="green",version="v2"\} 0/m);
  });

  it("skips an instance killed under load without a failed request", async () => {
    const load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, maxMs: 60_000 });
    try {
      await waitFor("load to flow", () => load.result.ok > 200);
      instances[2].child.kill("SIGKILL");
      const ok = load.result.ok;
      await waitFor("load to flow past the dead instance", () => load.result.ok > ok + 1000);
    } finally {
      const result = await load.stop();
      expect(result.errors).toEqual([]);
      expect(result.failed).toBe(0);
    }
    // Back in the pool for the next case.
    instances[2] = await instance("v2");
    inputs = { ...inputs, pools: { ...inputs.pools, green: { ...inputs.pools.green, endpoints: [instances[2].address, instances[3].address] } } };
    await weigh(0, 100);
  });

  it("serves again within a second when its data-plane process is killed under load, with its routing", async () => {
    const pid = dataPlaneProcess(balancer, plane);
    const load = startLoad(`${url}/`, { concurrency: 4, pauseMs: 1, maxMs: 60_000, bodyKey: versionOf });
    try {
      await waitFor("load to flow", () => load.result.ok > 200);
      const killed = Date.now();
      process.kill(pid, "SIGKILL");
      const served = await firstAnswerAfter(`${url}/`, killed);
      expect(served.ms).toBeLessThan(1000);
      expect(versionOf(served.body)).toBe("v2");
      const ok = load.result.ok;
      await waitFor("load to flow again", () => load.result.ok > ok + 500);
      expect(dataPlaneProcess(balancer, plane)).not.toBe(pid);
    } finally {
      const result = await load.stop();
      // Only requests in flight on the dead process's connections can fail; new ones wait in the accept queue.
      expect(result.failed).toBeLessThanOrEqual(4);
      expect([...result.byBody.keys()]).toEqual(["v2"]);
    }
  });
  it("answers a forced request from its own pool or not at all", async () => {
    // Blue takes every routed request; the forced pool's instances all die.
    await weigh(100, 0);
    expect(await draw(5, { [HEADER]: `green:${KEY}` })).toEqual({ v2: 5 });
    const dying = instances.slice(2).map((i) => i.child.pid!);
    for (const i of instances.slice(2)) i.child.kill("SIGKILL");
    await waitFor("the forced pool's instances to be gone", () => !dying.some(isRunning));
    // An error status, or (HAProxy, at times the first) the connection closed with no answer: never blue's.
    const forced = new Set<string>();
    for (let i = 0; i < 10; i++) forced.add(await request(`${url}/`, { headers: { [HEADER]: `green:${KEY}` } }).then((r) => (r.status === 200 ? versionOf(r.body) : "error status"), () => "no answer"));
    expect([...forced].filter((f) => f !== "error status" && f !== "no answer")).toEqual([]);
    expect(forced.has("error status")).toBe(true);
    // Routed requests are not touched.
    expect(await draw(10)).toEqual({ v1: 10 });
  });

  it("answers 504 when an instance stays silent longer than the upstream timeout, and waits for one that answers within it", async () => {
    inputs = { ...inputs, upstreamTimeoutMs: 1000 };
    expect(await applyBalancerRouting(inputs, { listenPort: balancer.boundListenPort, adminPort: balancer.boundAdminPort })).toBe(true);
    const asked = Date.now();
    const silent = await request(`${url}/slow/1600`);
    expect({ status: silent.status, quick: Date.now() - asked < 1500 }).toEqual({ status: 504, quick: true });
    const answered = await request(`${url}/slow/400`);
    expect({ status: answered.status, version: versionOf(answered.body) }).toEqual({ status: 200, version: "v1" });
  });
});

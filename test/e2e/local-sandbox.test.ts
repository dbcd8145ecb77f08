// A scope is a sandbox on the local target: what a scoped admin makes a
// local environment run (a fleet's artifact, a pre-deploy job) runs as the
// environment's own unprivileged uid, and cannot read the server's
// environment, the admin token, the state passphrase or the journal, nor
// write into the data dir, nor read another environment's processes. Tried
// the way an attacker would, through the public API with a scoped admin
// token. Cutover must run as root for this (it is what switches users).
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { environmentRunAs, resolveRunAs, type RunAs } from "../../infra/local/provider/run-as";
import { request } from "../helpers/http";
import { listeningPorts, processesWith } from "../helpers/processes";
import { sharedTempDir } from "../helpers/runnable";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { uniqueMark } from "../helpers/environments";

const asRoot = process.geteuid?.() === 0;
const describeAsRoot = asRoot ? describe : describe.skip;

// Every attempt answers "allowed" or the error code that stopped it.
const PROBE = `
const fs = require("node:fs");
const http = require("node:http");
const attempt = (f) => { try { f(); return "allowed"; } catch (e) { return e.code || String(e); } };
const data = process.env.TARGET_DATA_DIR;
const server = Number(process.env.TARGET_SERVER_PID);
const peer = process.env.TARGET_PEER_PID;
const probe = () => ({
  uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), home: process.env.HOME, user: process.env.USER,
  attempts: {
    serverEnviron: attempt(() => fs.readFileSync("/proc/" + server + "/environ")),
    signalServer: attempt(() => process.kill(server, 0)),
    adminToken: attempt(() => fs.readFileSync(data + "/admin-token")),
    passphrase: attempt(() => fs.readFileSync(data + "/pulumi-passphrase")),
    journal: attempt(() => fs.readFileSync(data + "/cutover.db")),
    listDataDir: attempt(() => fs.readdirSync(data)),
    writeDataDir: attempt(() => fs.writeFileSync(data + "/planted", "x")),
    fleetSpecs: attempt(() => fs.readdirSync(data + "/runtime/fleets")),
    ...(peer ? { peerEnviron: attempt(() => fs.readFileSync("/proc/" + peer + "/environ")), signalPeer: attempt(() => process.kill(Number(peer), 0)) } : {}),
  },
});
if (process.env.PORT) {
  http.createServer((req, res) => res.end(req.url === "/healthz" ? "ok" : JSON.stringify(probe()))).listen(Number(process.env.PORT), "127.0.0.1");
} else {
  const report = probe();
  console.log("PROBE " + JSON.stringify(report));
  process.exit(Object.values(report.attempts).includes("allowed") ? 1 : 0);
}
`;

// What a fleet finds listening on the machine in the kernel's ephemeral range
// (where every server bound to port 0 lands: the engine's among them), and
// what each answers to a gRPC call; and whether a peer fleet's port is still
// reachable. Served once done, so the engine is at work all along.
const ENGINE_PROBE = `
const fs = require("node:fs");
const http = require("node:http");
const http2 = require("node:http2");
const net = require("node:net");
const os = require("node:os");
const [low, high] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\\s+/).map(Number);
const me = process.getuid();
const outside = Object.values(os.networkInterfaces()).flat().filter((i) => !i.internal && i.family === "IPv4").map((i) => i.address);
const listeners = [];
for (const [file, v6] of [["/proc/net/tcp", false], ["/proc/net/tcp6", true]]) {
  for (const line of fs.readFileSync(file, "utf8").trim().split("\\n").slice(1)) {
    const f = line.trim().split(/\\s+/);
    const port = parseInt(f[1].split(":")[1], 16);
    if (f[3] !== "0A" || Number(f[7]) === me || port < low || port > high) continue;
    const any = /^0+$/.test(f[1].split(":")[0]);
    const hosts = v6 ? ["::1", ...(any ? ["127.0.0.1", ...outside] : [])] : ["127.0.0.1", "0.0.0.0", ...(any ? outside : [])];
    listeners.push({ port, uid: Number(f[7]), hosts });
  }
}
const connect = (host, port) => new Promise((resolve) => {
  const s = net.connect(port, host).on("connect", () => { s.destroy(); resolve("connected"); }).on("error", (e) => resolve(e.code));
});
const grpc = (host, port) => new Promise((resolve) => {
  const done = (outcome) => { clearTimeout(timer); session.destroy(); resolve(outcome); };
  const timer = setTimeout(() => done("timeout"), 3000);
  const session = http2.connect("http://" + (host.includes(":") ? "[" + host + "]" : host) + ":" + port);
  session.on("error", (e) => done(e.code || e.message));
  const req = session.request({ ":method": "POST", ":path": "/pulumirpc.ResourceMonitor/SupportsFeature", "content-type": "application/grpc", te: "trailers" });
  req.on("error", (e) => done(e.code || e.message));
  req.on("response", (h) => h["grpc-status"] !== undefined && done("grpc-status " + h["grpc-status"]));
  req.on("trailers", (t) => done("grpc-status " + t["grpc-status"]));
  req.end(Buffer.alloc(5));
});
// A connection the kernel refuses says so; one it lets through is asked as a gRPC server would be.
const call = async (host, port) => { const tcp = await connect(host, port); return tcp === "connected" ? grpc(host, port) : tcp; };
(async () => {
  const answers = [];
  for (const l of listeners) for (const host of l.hosts) answers.push({ port: l.port, uid: l.uid, host, outcome: await call(host, l.port) });
  const report = { range: [low, high], answers, peer: process.env.TARGET_PEER_PORT ? await connect("127.0.0.1", Number(process.env.TARGET_PEER_PORT)) : undefined };
  http.createServer((req, res) => res.end(req.url === "/healthz" ? "ok" : JSON.stringify(report))).listen(Number(process.env.PORT), "127.0.0.1");
})();
`;

describeAsRoot("a scoped admin's local environment, as root", () => {
  let server: RunningServer;
  let runAs: RunAs;
  let adminToken: string;
  let scoped: Record<string, string>;
  let probe: string;
  const env = () => ({ TARGET_DATA_DIR: server.dataDir, TARGET_SERVER_PID: String(server.process.pid) });

  beforeAll(async () => {
    runAs = environmentRunAs(resolveRunAs(undefined), "sbx-fleet")!;
    server = await startServer({ tokenFile: true });
    adminToken = readFileSync(path.join(server.dataDir, "admin-token"), "utf8").trim();
    const token = (await server.api("POST", "/v1/tokens", { name: "sbx-admin", role: "admin", environments: ["sbx-*"] })).json.token;
    scoped = { authorization: `Bearer ${token}` };
    probe = path.join(sharedTempDir("probe"), "probe.js");
    writeFileSync(probe, PROBE, { mode: 0o644 });
  });

  afterAll(() => server?.stop());

  const expectSandboxed = (report: { uid: number; gid: number; groups: number[]; home: string; user: string; attempts: Record<string, string> }) => {
    expect(report).toMatchObject({ uid: runAs.uid, gid: runAs.gid, home: runAs.home, user: runAs.user });
    expect(report.groups.filter((g) => g !== runAs.gid)).toEqual([]);
    expect(report.attempts).toEqual({
      serverEnviron: "EACCES",
      signalServer: "EPERM",
      adminToken: "EACCES",
      passphrase: "EACCES",
      journal: "EACCES",
      listDataDir: "EACCES",
      writeDataDir: "EACCES",
      fleetSpecs: "EACCES",
    });
  };

  let peerMark = "";

  it("runs its fleet as the environment's own user, which reaches none of the server's secrets", async () => {
    const mark = uniqueMark();
    peerMark = mark;
    const created = await server.api(
      "POST",
      "/v1/environments",
      {
        name: "sbx-fleet",
        target: "local",
        fleet: {
          replicas: 1,
          artifact: { command: ["node", probe], env: { ...env(), CUTOVER_TEST_MARK: mark } },
          healthCheck: { path: "/healthz", interval: "100ms", timeout: "1s", healthyThreshold: 1, startTimeout: "8s" },
          drainTimeout: "1s",
        },
        local: { listenPort: 0 },
      },
      scoped,
    );
    expect(created.status).toBe(201);
    await waitForEnvironment(server, "sbx-fleet", "ready");
    const id = (await server.api("POST", "/v1/environments/sbx-fleet/deployments", { version: "v1" }, scoped)).json.id;
    await waitForDeployment(server, id, "succeeded");
    const view = (await server.api("GET", "/v1/environments/sbx-fleet", undefined, scoped)).json;
    expectSandboxed(JSON.parse((await request(view.traffic.url)).body));
    // Seen from outside too: the instance's credentials, and no supplementary group.
    const [pid] = processesWith(mark);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    expect(status).toMatch(new RegExp(`^Uid:\\s+${runAs.uid}\\s+${runAs.uid}\\s+${runAs.uid}\\s+${runAs.uid}$`, "m"));
    expect(status).toMatch(new RegExp(`^Gid:\\s+${runAs.gid}\\s+${runAs.gid}\\s+${runAs.gid}\\s+${runAs.gid}$`, "m"));
    expect(status).toMatch(/^Groups:\s*$/m);
  });

  it("runs its pre-deploy job as the run-as user, whose output holds no secret of the server", async () => {
    const id = (
      await server.api("POST", "/v1/environments/sbx-fleet/deployments", { version: "v2", preDeploy: { command: ["node", probe], env: env(), timeout: "30s" } }, scoped)
    ).json.id;
    const d = await waitForDeployment(server, id, "terminal");
    const log = readFileSync(path.join(server.dataDir, "runtime", "jobs", `${id}.log`), "utf8");
    expect({ state: d.state, log }).toMatchObject({ state: "succeeded" });
    expectSandboxed(JSON.parse(/^PROBE (.*)$/m.exec(log)![1]));
    expect(log).not.toContain(adminToken);
    expect(JSON.stringify((await server.api("GET", `/v1/deployments/${id}/events`, undefined, { accept: "application/json" })).json)).not.toContain(adminToken);
  });

  it("fails a fleet the run-as user cannot reach at once, naming the user and the path", async () => {
    const hidden = mkdtempSync(path.join(os.tmpdir(), "cutover-hidden-"));
    chmodSync(hidden, 0o700);
    const created = await server.api(
      "POST",
      "/v1/environments",
      {
        name: "sbx-hidden",
        target: "local",
        fleet: { replicas: 1, artifact: { command: ["node", "app.js"], cwd: hidden }, healthCheck: { path: "/healthz", startTimeout: "60s" } },
        local: { listenPort: 0 },
      },
      scoped,
    );
    expect(created.status).toBe(201);
    await waitForEnvironment(server, "sbx-hidden", "ready");
    const started = Date.now();
    const id = (await server.api("POST", "/v1/environments/sbx-hidden/deployments", { version: "v1" }, scoped)).json.id;
    const d = await waitForDeployment(server, id, "terminal");
    expect(d.state).not.toBe("succeeded");
    expect(Date.now() - started).toBeLessThan(30_000);
    const hiddenAs = environmentRunAs(resolveRunAs(undefined), "sbx-hidden")!;
    expect(d.error.message).toContain(
      `fleet sbx-hidden-blue cannot start: the user ${hiddenAs.user} (uid ${hiddenAs.uid}, gid ${hiddenAs.gid}) cannot reach the working directory ${hidden}: ${hidden} is mode 0700`,
    );

    const job = (await server.api("POST", "/v1/environments/sbx-fleet/deployments", { version: "v3", preDeploy: { command: ["node", "migrate.js"], cwd: hidden } }, scoped)).json.id;
    const failed = await waitForDeployment(server, job, "rolled_back");
    expect(failed.error.code).toBe("predeploy_failed");
    expect(failed.error.message).toContain(`the user ${runAs.user} (uid ${runAs.uid}, gid ${runAs.gid}) cannot reach the working directory ${hidden}`);
  });

  it("keeps its fleet off the engine's servers: nothing listening on an ephemeral loopback port answers it", async () => {
    const [peer] = processesWith(peerMark);
    const [peerPort] = listeningPorts(peer);
    const spy = path.join(sharedTempDir("probe"), "engine-probe.js");
    writeFileSync(spy, ENGINE_PROBE, { mode: 0o644 });
    const created = await server.api(
      "POST",
      "/v1/environments",
      {
        name: "sbx-spy",
        target: "local",
        fleet: { replicas: 1, artifact: { command: ["node", spy], env: { TARGET_PEER_PORT: String(peerPort) } }, healthCheck: { path: "/healthz", interval: "100ms", startTimeout: "60s" } },
        local: { listenPort: 0 },
      },
      scoped,
    );
    expect(created.status).toBe(201);
    await waitForEnvironment(server, "sbx-spy", "ready");
    const id = (await server.api("POST", "/v1/environments/sbx-spy/deployments", { version: "v1" }, scoped)).json.id;
    await waitForDeployment(server, id, "succeeded");
    const view = (await server.api("GET", "/v1/environments/sbx-spy", undefined, scoped)).json;
    const report = JSON.parse((await request(view.traffic.url)).body) as { answers: { port: number; host: string; outcome: string }[]; peer: string };
    // While its fleet started, the engine (the CLI's resource monitor, the program's language host, the provider) listened there.
    expect(report.answers.length).toBeGreaterThanOrEqual(3);
    // Not one of them answered: each connection was refused by the kernel before it reached a server.
    expect(report.answers.filter((a) => a.outcome !== "ECONNREFUSED" && a.outcome !== "ECONNRESET")).toEqual([]);
    // Another environment's fleet, outside that range, is still a network service like any other.
    expect(report.peer).toBe("connected");
  });

  it("keeps environments apart: one environment's job cannot read or signal another's fleet", async () => {
    const [peer] = processesWith(peerMark);
    expect(peer).toBeDefined();
    const other = environmentRunAs(resolveRunAs(undefined), "sbx-other")!;
    expect(other.uid).not.toBe(runAs.uid);
    const created = await server.api("POST", "/v1/environments", { name: "sbx-other", target: "local", fleet: { replicas: 1, artifact: { command: ["node", probe] } }, local: { listenPort: 0 } }, scoped);
    expect(created.status).toBe(201);
    await waitForEnvironment(server, "sbx-other", "ready");
    const id = (
      await server.api(
        "POST",
        "/v1/environments/sbx-other/deployments",
        { version: "v1", preDeploy: { command: ["node", probe], env: { ...env(), TARGET_PEER_PID: String(peer) }, timeout: "30s" } },
        scoped,
      )
    ).json.id;
    await waitForDeployment(server, id, "terminal");
    const log = readFileSync(path.join(server.dataDir, "runtime", "jobs", `${id}.log`), "utf8");
    const report = JSON.parse(/^PROBE (.*)$/m.exec(log)![1]);
    expect(report).toMatchObject({ uid: other.uid, gid: other.gid });
    expect(report.attempts).toMatchObject({ peerEnviron: "EACCES", signalPeer: "EPERM" });
  });
});

describeAsRoot("a run-as user that cannot be used", () => {
  it("stops the server's start with a clear message", async () => {
    const server = await startServer({ env: { CUTOVER_LOCAL_RUN_AS: "no-such-user-4711" }, waitReady: false });
    await server.exited;
    expect(server.process.exitCode).toBe(1);
    expect(server.log.join("\n")).toContain("cutover: invalid configuration: CUTOVER_LOCAL_RUN_AS=no-such-user-4711: there is no such user");
  });
});

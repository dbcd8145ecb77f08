// Gates, approvals and the pre-deploy job end to end on the local target:
// URL gates asked in order and signed (checked with the standardwebhooks
// library), a confirm gate retried until it says yes, a pre-rollout gate
// that rolls back, a person's approval with the four-eyes rule, a
// rejection, a pre-deploy job that runs before anything is built (and one
// that fails with nothing built), and a job a crash left running stopped by
// the restarted server.
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { sharedTempDir } from "../helpers/runnable";
import { waitFor } from "../helpers/wait-for";

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

const OWN_SECRET = `whsec_${Buffer.from("a gate's own secret, 32 bytes..").toString("base64")}`;

let server: RunningServer;
let receiver: http.Server;
let base = "";
const received: Received[] = [];
const answers = new Map<string, number[]>();
const mark = uniqueMark();
const tokens: Record<string, string> = {};

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers, body, json: JSON.parse(body) });
      const list = answers.get(req.url ?? "") ?? [200];
      res.writeHead(list.length > 1 ? list.shift()! : list[0]).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  server = await startServer({ env: { CUTOVER_WEBHOOK_ALLOW: "127.0.0.1" } });
  await Promise.all([
    server.api("POST", "/v1/environments", await environmentSpec("gated", mark)),
    server.api("POST", "/v1/environments", await environmentSpec("approved", mark, { gates: [{ kind: "approval", requireDistinctApprover: true }] })),
  ]);
  await waitForEnvironment(server, "gated", "ready");
  await waitForEnvironment(server, "approved", "ready");
  // The first version of each goes live without gates (an admin may replace an environment's gates).
  for (const env of ["gated", "approved"]) {
    await waitForDeployment(server, (await server.api("POST", `/v1/environments/${env}/deployments`, { version: "v1", gates: [] })).json.id, "succeeded");
  }
  for (const [name, role] of [
    ["dev", "deployer"],
    ["alice", "approver"],
    ["bob", "approver"],
  ]) {
    tokens[name] = (await server.api("POST", "/v1/tokens", { name, role, environments: ["approved"] })).json.token;
  }
});

afterAll(async () => {
  await server?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

const as = (who: string) => ({ authorization: `Bearer ${tokens[who]}` });
const events = async (id: string) => ((await server.api("GET", `/v1/deployments/${id}/events`, undefined, { accept: "application/json" })).json.events as any[]);
const deploy = async (env: string, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const r = await server.api("POST", `/v1/environments/${env}/deployments`, body, headers);
  expect(r.status).toBe(202);
  return r.json.id as string;
};
const gatesAt = (prefix: string) => received.filter((r) => r.path.startsWith(prefix));

describe("URL gates", () => {
  it("asks each gate in order, signed, retries a confirm gate until it says yes, and tells the outcome", async () => {
    answers.set("/ok/confirm-rollout", [503, 503, 200]);
    const id = await deploy("gated", {
      version: "v2",
      gates: [
        { kind: "confirm-rollout", url: `${base}/ok/confirm-rollout`, timeout: "20s" },
        { kind: "pre-rollout", url: `${base}/ok/pre-rollout`, secret: OWN_SECRET },
        { kind: "confirm-promotion", url: `${base}/ok/confirm-promotion` },
        { kind: "post-rollout", url: `${base}/ok/post-rollout` },
        { kind: "rollback", url: `${base}/ok/rollback` },
      ],
    });
    const d = await waitForDeployment(server, id, "succeeded");
    await waitFor("the post-rollout gate to be told", () => gatesAt("/ok/post-rollout").length === 1);
    const asked = gatesAt("/ok/");
    expect(asked.map((r) => r.path)).toEqual(["/ok/confirm-rollout", "/ok/confirm-rollout", "/ok/confirm-rollout", "/ok/pre-rollout", "/ok/confirm-promotion", "/ok/post-rollout"]);
    expect(asked[0].json).toMatchObject({ type: "deployment.gate", gate: { kind: "confirm-rollout" }, deployment: { id, environment: "gated", version: "v2", fromVersion: "v1" } });
    // A gate that stops the deployment is told what it lets through: the preview of each stack that changes.
    expect(asked[0].json.preview.stacks.map((s: { purpose: string }) => s.purpose)).toEqual(["create-fleet", "shift-traffic", "retire-fleet"]);
    expect(asked[5].json.preview).toBeUndefined();
    expect(asked[2].json.attempt).toBe(3);
    expect(asked[5].json.deployment.state).toBe("succeeded");

    // Signed with Cutover's gate signing secret, or the gate's own.
    const secret = (await server.api("GET", "/v1/gates/signing-secret")).json.secret as string;
    expect(secret).toMatch(/^whsec_/);
    const verify = (r: Received, s: string) => new Webhook(s).verify(r.body, r.headers as Record<string, string>);
    expect(() => verify(asked[0], secret)).not.toThrow();
    expect(() => verify(asked[3], OWN_SECRET)).not.toThrow();
    expect(() => verify(asked[3], secret)).toThrow();

    const passed = (await events(id)).filter((e) => e.type === "gate:passed").map((e) => [e.data.gate, e.data.attempts]);
    expect(passed).toEqual([
      ["confirm-rollout", 3],
      ["pre-rollout", 1],
      ["confirm-promotion", 1],
    ]);
    expect(d.gates.find((g: any) => g.kind === "pre-rollout").secret).toBe("[secret]");
  });

  it("rolls back when the pre-rollout gate says no: the new fleet goes, traffic never moved", async () => {
    answers.set("/no/pre-rollout", [500]);
    const id = await deploy("gated", {
      version: "v3",
      gates: [
        { kind: "pre-rollout", url: `${base}/no/pre-rollout` },
        { kind: "rollback", url: `${base}/no/rollback` },
        { kind: "post-rollout", url: `${base}/no/post-rollout` },
      ],
    });
    const d = await waitForDeployment(server, id, "rolled_back");
    expect(d.error).toMatchObject({ code: "gate_failed" });
    expect(d.error.message).toContain("answered 500");
    await waitFor("the post-rollout gate to be told", () => gatesAt("/no/post-rollout").length === 1);
    expect(gatesAt("/no/").map((r) => r.path)).toEqual(["/no/pre-rollout", "/no/rollback", "/no/post-rollout"]);
    expect(gatesAt("/no/post-rollout")[0].json.deployment).toMatchObject({ state: "rolled_back", error: { code: "gate_failed" } });
    const env = (await server.api("GET", "/v1/environments/gated")).json;
    expect(env.liveVersion).toBe("v2");
    expect(Object.keys(env.fleets)).toEqual([env.activeColor]);
    expect((await events(id)).some((e) => e.type === "deployment:traffic_intent")).toBe(false);
  });

  it("rolls back a confirm gate that never says yes within its timeout", async () => {
    answers.set("/never/confirm-promotion", [409]);
    const id = await deploy("gated", { version: "v4", gates: [{ kind: "confirm-promotion", url: `${base}/never/confirm-promotion`, timeout: "3s" }] });
    const d = await waitForDeployment(server, id, "rolled_back");
    expect(d.error.code).toBe("gate_timed_out");
    expect(gatesAt("/never/").length).toBeGreaterThanOrEqual(2);
  });

  it("refuses gates it cannot use, and gates from a deployer", async () => {
    const bad = await server.api("POST", "/v1/environments/gated/deployments", { version: "v5", gates: [{ kind: "pre-rollout" }] });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain("needs a url");
    const twice = await server.api("POST", "/v1/environments/gated/deployments", { version: "v5", gates: [{ kind: "approval" }, { kind: "approval" }] });
    expect(twice.status).toBe(400);
    const dev = (await server.api("POST", "/v1/tokens", { name: "gated-dev", role: "deployer", environments: ["gated"] })).json.token;
    const r = await server.api("POST", "/v1/environments/gated/deployments", { version: "v5", gates: [] }, { authorization: `Bearer ${dev}` });
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe("gates_override_forbidden");
  });
});

describe("manual approval", () => {
  it("holds the deployment for an approver other than who asked for it (four eyes)", async () => {
    const id = await deploy("approved", { version: "v2" }, as("alice"));
    await waitFor("the deployment to wait at its gate", async () => (await server.api("GET", `/v1/deployments/${id}`)).json.pausedBy === "gate");
    const d = (await server.api("GET", `/v1/deployments/${id}`)).json;
    expect(d.state).toBe("paused");
    // Nothing is live yet: the new fleet is built and healthy, the old one serves everything.
    const env = (await server.api("GET", "/v1/environments/approved")).json;
    expect(env.liveVersion).toBe("v1");
    // What the approver approves: the Pulumi preview of each stack that changes once approved. The new fleet exists,
    // so the traffic stack is previewed at its final weights (its balancer's pools change), and the old fleet goes.
    const preview = d.gateLog.approval.preview as { stacks: { stack: string; purpose: string; counts: Record<string, number>; changes: { op: string; changed?: string[] }[]; note?: string }[] };
    expect(preview.stacks.map((s) => [s.purpose, s.stack])).toEqual([
      ["create-fleet", `approved.${d.toColor}`],
      ["shift-traffic", "approved.traffic"],
      ["retire-fleet", `approved.${env.activeColor}`],
    ]);
    const [built, shift, retire] = preview.stacks;
    expect(built.note).toMatch(/built/);
    expect(shift.note).toBeUndefined();
    expect(shift.counts).toEqual({ update: 1 });
    expect(shift.changes[0].changed?.length).toBeGreaterThan(0);
    expect(retire.counts).toEqual({ delete: 1 });
    // The same preview travels with the gate's event (and so its webhook and chat message).
    const waiting = (await events(id)).find((e) => e.type === "gate:waiting");
    expect(waiting.data.preview).toEqual(preview);

    const self = await server.api("POST", `/v1/deployments/${id}/gates/approval/approve`, {}, as("alice"));
    expect(self.status).toBe(403);
    expect(self.json.error.code).toBe("approver_is_requester");
    const deployer = await server.api("POST", `/v1/deployments/${id}/gates/approval/approve`, {}, as("dev"));
    expect(deployer.status).toBe(403);
    expect(deployer.json.error.code).toBe("insufficient_role");
    const unknown = await server.api("POST", `/v1/deployments/${id}/gates/nope/approve`, {}, as("bob"));
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("gate_not_found");
    const promote = await server.api("POST", `/v1/deployments/${id}/promote`, {}, as("alice"));
    expect(promote.status).toBe(409);

    const ok = await server.api("POST", `/v1/deployments/${id}/gates/approval/approve`, { reason: "looks good" }, as("bob"));
    expect(ok.status).toBe(202);
    const done = await waitForDeployment(server, id, "succeeded");
    expect(done.gateLog.approval).toMatchObject({ state: "approved", by: { kind: "token", name: "bob" }, reason: "looks good" });
    const timeline = (await events(id)).filter((e) => e.type.startsWith("gate:")).map((e) => [e.type, e.data.by?.name ?? null]);
    expect(timeline).toEqual([
      ["gate:waiting", null],
      ["gate:approved", "bob"],
    ]);
    const again = await server.api("POST", `/v1/deployments/${id}/gates/approval/approve`, {}, as("bob"));
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("gate_not_waiting");
    const audit = (await server.api("GET", "/v1/audit?action=deployment.gate.approve")).json.entries as any[];
    expect(audit.map((e) => e.actor.name)).toContain("bob");
  });

  it("rolls back when an approver rejects, saying who and why", async () => {
    const id = await deploy("approved", { version: "v3" }, as("dev"));
    await waitFor("the deployment to wait at its gate", async () => (await server.api("GET", `/v1/deployments/${id}`)).json.pausedBy === "gate");
    expect((await server.api("POST", `/v1/deployments/${id}/gates/approval/reject`, { reason: "not on a Friday" }, as("alice"))).status).toBe(202);
    const d = await waitForDeployment(server, id, "rolled_back");
    expect(d.error.code).toBe("gate_rejected");
    expect(d.error.message).toContain("alice");
    expect(d.error.message).toContain("not on a Friday");
    expect((await server.api("GET", "/v1/environments/approved")).json.liveVersion).toBe("v2");
  });
});

describe("pre-deploy job", () => {
  it("runs once before any fleet is built, with the version and its secrets", async () => {
    const out = path.join(sharedTempDir("job"), "migrated");
    const id = await deploy("gated", {
      version: "v6",
      preDeploy: {
        command: ["node", "-e", `require("fs").writeFileSync(${JSON.stringify(out)}, process.env.APP_VERSION + ":" + process.env.DB_PASSWORD)`],
        env: { DB_PASSWORD: { secret: "hunter22" } },
        timeout: "30s",
      },
    });
    const d = await waitForDeployment(server, id, "succeeded");
    expect(readFileSync(out, "utf8")).toBe("v6:hunter22");
    expect(d.job).toMatchObject({ state: "succeeded", exitCode: 0 });
    const types = (await events(id)).map((e) => e.type);
    expect(types.indexOf("job:succeeded")).toBeGreaterThan(-1);
    expect(types.indexOf("job:succeeded")).toBeLessThan(types.indexOf("engine:step_started"));
    expect(JSON.stringify(d)).not.toContain("hunter22");
  });

  it("ends the deployment with nothing built when the job fails, and keeps secrets out of what it printed", async () => {
    const before = (await server.api("GET", "/v1/environments/gated")).json;
    const id = await deploy("gated", {
      version: "v7",
      preDeploy: { command: ["node", "-e", 'console.log("password is " + process.env.DB_PASSWORD); console.error("relation already exists"); process.exit(3)'], env: { DB_PASSWORD: { secret: "hunter22" } }, timeout: "30s" },
    });
    const d = await waitForDeployment(server, id, "rolled_back");
    expect(d.error.code).toBe("predeploy_failed");
    expect(d.error.message).toContain("exited with 3");
    const evs = await events(id);
    expect(evs.some((e) => e.type === "engine:step_started")).toBe(false);
    const failed = evs.find((e) => e.type === "job:failed");
    expect(failed.data.output).toContain("password is [secret]");
    expect(JSON.stringify(evs)).not.toContain("hunter22");
    const after = (await server.api("GET", "/v1/environments/gated")).json;
    expect(after.liveVersion).toBe(before.liveVersion);
    expect(after.fleets).toEqual(before.fleets);
  });

  it("stops a job that a crash left running, and rolls the deployment back", async () => {
    const pidFile = path.join(sharedTempDir("job"), "pid");
    const id = await deploy("gated", {
      version: "v8",
      preDeploy: { command: ["node", "-e", `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`], timeout: "5m" },
    });
    await waitFor("the job to start", () => existsSync(pidFile) && readFileSync(pidFile, "utf8").length > 0);
    const pid = Number(readFileSync(pidFile, "utf8"));
    await server.kill();
    expect(alive(pid)).toBe(true);
    const dataDir = server.dataDir;
    server = await startServer({ dataDir, env: { CUTOVER_WEBHOOK_ALLOW: "127.0.0.1" } });
    const d = await waitForDeployment(server, id, "rolled_back");
    expect(d.error.code).toBe("interrupted");
    await waitFor("the job to be stopped", () => !alive(pid), 10_000);
    expect((await events(id)).some((e) => e.type === "job:stopped")).toBe(true);
    // The balancer kept serving the live version throughout.
    const env = (await server.api("GET", "/v1/environments/gated")).json;
    expect((await request(`${env.traffic.url}/version`)).body).toContain(env.liveVersion);
  });
});

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

// Outgoing webhooks end to end: a real server and deployment, a local
// receiver, signatures checked with the standardwebhooks library, the retry
// schedule against a receiver that fails twice, 410 Gone, redelivery, and
// deliveries that outlive a crash.
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

interface Received {
  path: string;
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const WEBHOOK_ENV = { CUTOVER_WEBHOOK_ALLOW: "127.0.0.1,localhost", CUTOVER_WEBHOOK_RETRY_SCHEDULE: "1s,2s,4s" };

let server: RunningServer;
let receiver: http.Server;
let base = "";
const received: Received[] = [];
/** Status to answer per path: a list is consumed one answer per request, then its last value repeats. */
const answers = new Map<string, number[]>();

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ path: req.url ?? "", at: Date.now(), headers: req.headers, body });
      const list = answers.get(req.url ?? "") ?? [200];
      const status = list.length > 1 ? list.shift()! : list[0];
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  server = await startServer({ env: WEBHOOK_ENV });
});

afterAll(async () => {
  await server?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

const at = (path: string) => received.filter((r) => r.path === path);
const parsed = (r: Received) => JSON.parse(r.body);

async function register(path: string, events: string[], extra: Record<string, unknown> = {}) {
  const r = await server.api("POST", "/v1/webhooks", { url: `${base}${path}`, events, environments: ["hook-*"], ...extra });
  expect(r.status).toBe(201);
  expect(r.json.secret).toMatch(/^whsec_/);
  return r.json as { id: string; secret: string };
}

describe("outgoing webhooks", () => {
  const hooks: Record<string, { id: string; secret: string }> = {};
  let v1 = "";

  it("refuses targets inside the network unless allowlisted", async () => {
    const strict = await startServer();
    try {
      const r = await strict.api("POST", "/v1/webhooks", { url: `${base}/ok`, events: ["deployment.succeeded"] });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe("webhook_target_forbidden");
      expect((await strict.api("POST", "/v1/webhooks", { url: "http://169.254.169.254/latest", events: ["deployment.succeeded"] })).json.error.code).toBe("webhook_target_forbidden");
      expect((await strict.api("POST", "/v1/webhooks", { url: "https://hooks.example.com/x", events: ["deployment.nope"] })).status).toBe(400);
    } finally {
      await strict.stop();
    }
  });

  it("delivers signed events of a deployment, retries on the schedule, and stops at 410 Gone", async () => {
    hooks.ok = await register("/ok", ["deployment.started", "deployment.succeeded"]);
    hooks.flaky = await register("/flaky", ["deployment.succeeded"]);
    hooks.gone = await register("/gone", ["deployment.started", "deployment.succeeded"]);
    hooks.slack = await register("/slack", ["deployment.succeeded"], { format: "slack" });
    hooks.other = (await server.api("POST", "/v1/webhooks", { url: `${base}/other`, events: ["deployment.succeeded"], environments: ["else"] })).json;
    // A host name, resolved at send time (every address it resolves to is checked).
    hooks.named = await register("/named", ["deployment.succeeded"], { url: `${base.replace("127.0.0.1", "localhost")}/named` });
    answers.set("/flaky", [500, 500, 200]);
    answers.set("/gone", [410]);
    expect((await server.api("GET", "/v1/webhooks")).json.webhooks.every((w: any) => w.secret === undefined)).toBe(true);

    expect((await server.api("POST", "/v1/environments", await environmentSpec("hook-a", uniqueMark()))).status).toBe(201);
    await waitForEnvironment(server, "hook-a", "ready");
    v1 = (await server.api("POST", "/v1/environments/hook-a/deployments", { version: "v1" })).json.id;
    await waitForDeployment(server, v1, "succeeded");

    await waitFor("started and succeeded at /ok", () => at("/ok").length >= 2, 15_000);
    const types = at("/ok").map((r) => parsed(r).type);
    expect(types).toEqual(["deployment.started", "deployment.succeeded"]);
    for (const r of at("/ok")) {
      const payload = new Webhook(hooks.ok.secret).verify(r.body, r.headers as Record<string, string>) as any;
      expect(payload.data).toMatchObject({ deploymentId: v1, environment: "hook-a", version: "v1" });
      expect(r.headers["webhook-id"]).toMatch(/^msg_/);
    }

    // 500, 500, then 200: three attempts, about 1 s and then 2 s apart.
    await waitFor("the third attempt at /flaky", () => at("/flaky").length >= 3, 20_000);
    const [a, b, c] = at("/flaky");
    expect(new Set([a, b, c].map((r) => r.headers["webhook-id"])).size).toBe(1);
    expect(b.at - a.at).toBeGreaterThanOrEqual(950);
    expect(b.at - a.at).toBeLessThan(1900);
    expect(c.at - b.at).toBeGreaterThanOrEqual(1950);
    expect(c.at - b.at).toBeLessThan(3500);
    const [flaky] = (await server.api("GET", `/v1/webhooks/${hooks.flaky.id}/deliveries`)).json.deliveries;
    await waitFor("the delivery to be recorded delivered", async () => (await server.api("GET", `/v1/webhooks/${hooks.flaky.id}/deliveries`)).json.deliveries[0].state === "delivered");
    const delivered = (await server.api("GET", `/v1/webhooks/${hooks.flaky.id}/deliveries`)).json.deliveries[0];
    expect(delivered.id).toBe(flaky.id);
    expect(delivered.attempts.map((x: any) => x.status)).toEqual([500, 500, 200]);

    // 410 Gone: the webhook is disabled after its first delivery, and gets nothing more.
    await waitFor("the webhook to be disabled", async () => (await server.api("GET", `/v1/webhooks/${hooks.gone.id}`)).json.disabledAt, 10_000);
    expect(at("/gone")).toHaveLength(1);

    await waitFor("the delivery to a host name", () => at("/named").length === 1, 10_000);
    const slack = await waitFor("the Slack message", () => at("/slack")[0], 10_000);
    expect(parsed(slack).text).toMatch(/v1 → hook-a .* succeeded/);
    expect(parsed(slack).blocks[0].type).toBe("section");
    expect(at("/other")).toHaveLength(0);
  });

  it("tells of a release the webhooks whose environments it reaches, and of a deployment waiting for approval with its preview and buttons", async () => {
    hooks.releases = await register("/releases", ["release.created"]);
    hooks.elseReleases = (await server.api("POST", "/v1/webhooks", { url: `${base}/else-releases`, events: ["release.created"], environments: ["else"] })).json;
    hooks.approval = await register("/approval", ["deployment.awaiting_approval"]);
    hooks.approvalSlack = await register("/approval-slack", ["deployment.awaiting_approval"], { format: "slack" });
    const admin = async (name: string, environments: string[]) => (await server.api("POST", "/v1/tokens", { name, role: "admin", environments })).json.token as string;
    const hookAdmin = await admin("hook-admin", ["hook-a"]);
    const elseAdmin = await admin("else-admin", ["else"]);
    const record = async (token: string, version: string) =>
      (await server.api("POST", "/v1/releases", { version, artifact: { command: ["node", "app.js"] }, provenance: { commit: "abc1234" } }, { authorization: `Bearer ${token}` })).json;
    const hookRelease = await record(hookAdmin, "v7");
    const elseRelease = await record(elseAdmin, "v8");
    await waitFor("each release at its webhook", () => at("/releases").length >= 1 && at("/else-releases").length >= 1, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(at("/releases").map((r) => parsed(r).data.id)).toEqual([hookRelease.id]);
    expect(at("/else-releases").map((r) => parsed(r).data.id)).toEqual([elseRelease.id]);
    expect(parsed(at("/releases")[0])).toMatchObject({ type: "release.created", data: { version: "v7", digest: hookRelease.digest, provenance: { commit: "abc1234" }, scope: ["hook-a"] } });

    const id = (await server.api("POST", "/v1/environments/hook-a/deployments", { version: "v1.1", gates: [{ kind: "approval" }] })).json.id;
    const standard = await waitFor("the approval request at its webhook", () => at("/approval")[0], 30_000);
    const payload = new Webhook(hooks.approval.secret).verify(standard.body, standard.headers as Record<string, string>) as any;
    expect(payload).toMatchObject({ type: "deployment.awaiting_approval", data: { deploymentId: id, version: "v1.1", event: { gate: "approval" } } });
    expect(payload.data.event.preview.stacks.map((s: { purpose: string }) => s.purpose)).toEqual(["create-fleet", "shift-traffic", "retire-fleet"]);
    const slack = parsed(await waitFor("the Slack approval request", () => at("/approval-slack")[0], 10_000));
    expect(slack.text).toMatch(/v1\.1 → hook-a .* waits for approval at gate approval/);
    expect(slack.text).toMatch(/shift-traffic hook-a\.traffic: 1 to update \(balancer: pools\)/);
    const actions = slack.blocks.find((b: { type: string }) => b.type === "actions");
    expect(actions.elements.map((e: { action_id: string; value: string }) => [e.action_id, e.value])).toEqual([
      ["approve", `${id}:approval`],
      ["reject", `${id}:approval`],
    ]);
    expect((await server.api("POST", `/v1/deployments/${id}/gates/approval/approve`, {})).status).toBe(202);
    await waitForDeployment(server, id, "succeeded");
  });

  it("keeps no signing secret at rest, not even for an idempotent replay", async () => {
    const body = { url: `${base}/kept`, events: ["deployment.failed"] };
    const first = await server.api("POST", "/v1/webhooks", body, { "idempotency-key": "wh-create-1" });
    expect(first.json.secret).toMatch(/^whsec_/);
    const replay = await server.api("POST", "/v1/webhooks", body, { "idempotency-key": "wh-create-1" });
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json.id).toBe(first.json.id);
    expect(replay.json.secret).toBeUndefined();
    expect(replay.json.replay.redacted).toBe(true);
    const secretPart = first.json.secret.slice("whsec_".length);
    for (const file of ["cutover.db", "cutover.db-wal"]) {
      let bytes = "";
      try {
        bytes = readFileSync(path.join(server.dataDir, file)).toString("latin1");
      } catch {
        continue;
      }
      expect(bytes.includes(secretPart)).toBe(false);
    }
  });

  it("redelivers a delivery with the same webhook-id", async () => {
    const [last] = (await server.api("GET", `/v1/webhooks/${hooks.ok.id}/deliveries`)).json.deliveries;
    const before = at("/ok").length;
    const r = await server.api("POST", `/v1/webhooks/${hooks.ok.id}/deliveries/${last.id}/redeliver`);
    expect(r.status).toBe(202);
    await waitFor("the redelivery", () => at("/ok").length > before, 10_000);
    const again = at("/ok")[before];
    expect(again.headers["webhook-id"]).toBe(last.id);
    expect(new Webhook(hooks.ok.secret).verify(again.body, again.headers as Record<string, string>)).toMatchObject({ type: last.eventType });
    expect((await server.api("POST", `/v1/webhooks/${hooks.ok.id}/deliveries/msg_000000000000000000000000/redeliver`)).json.error.code).toBe("delivery_not_found");
  });

  it("keeps a delivery that was waiting for a retry across a crash", async () => {
    const down = await register("/down", ["deployment.succeeded"]);
    answers.set("/down", [503]);
    const v2 = (await server.api("POST", "/v1/environments/hook-a/deployments", { version: "v2" })).json.id;
    await waitForDeployment(server, v2, "succeeded");
    await waitFor("a first, failed attempt", () => at("/down").length >= 1, 10_000);
    await server.kill();
    answers.set("/down", [200]);
    server = await startServer({ dataDir: server.dataDir, env: WEBHOOK_ENV });
    await waitFor("the delivery after the restart", async () => {
      const [d] = (await server.api("GET", `/v1/webhooks/${down.id}/deliveries`)).json.deliveries;
      return d.state === "delivered" ? d : undefined;
    }, 20_000);
    const bodies = at("/down").map(parsed);
    expect(bodies.every((b) => b.data.deploymentId === v2)).toBe(true);
    expect(at("/down").at(-1)!.headers["webhook-id"]).toBe(at("/down")[0].headers["webhook-id"]);
  });
});

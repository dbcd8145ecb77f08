// A release travelling a three-stage pipeline on the local target, real
// fleets under load through each stage's balancer the whole time: into dev
// by name, into staging automatically once it has soaked in dev, into prod
// by hand once prod's deny window no longer holds it. A version that fails
// in dev goes no further; a person promoting an older release holds the
// automatic stage until the hold is released; forcing past the rules takes
// an admin and a reason, and is recorded; the server killed while an
// automatic promotion runs neither repeats nor skips it.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { startLoad } from "../helpers/load";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { fixtureApp, tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(8 * 60_000);

const STAGES = ["pl-dev", "pl-staging", "pl-prod"];
const ENV = { CUTOVER_PROMOTION_INTERVAL: "500ms", CUTOVER_WEBHOOK_ALLOW: "127.0.0.1" };
const FREEZE = { cron: "* * * * *", duration: "2m", timeZone: "Europe/Berlin" };
/** Where staging's analysis asks how a version does (the test's receiver: v2 does badly). */
let quality = "";
const stagesWith = (prod: Record<string, unknown>) => [
  { environment: "pl-dev" },
  {
    environment: "pl-staging",
    promotion: "auto",
    soak: "3s",
    strategy: {
      type: "canary",
      steps: [{ weight: 50, pause: "2s" }],
      analysis: { interval: "1s", metrics: [{ name: "quality", provider: { web: { url: `${quality}/{{version}}`, jsonPath: "$.problems" } }, successCondition: "result == 0" }] },
    },
  },
  { environment: "pl-prod", strategy: { type: "canary", steps: [{ weight: 50 }] }, approval: { requireDistinctApprover: true }, ...prod },
];

interface Deployment {
  id: string;
  state: string;
  error?: { code: string; message: string };
  version: string;
  createdAt: string;
  finishedAt?: string;
  promotion?: Record<string, unknown>;
  release?: { id: string; digest: string };
  requestedBy?: { kind: string };
}

describe("pipelines", () => {
  const dataDir = tempDir("pipelines");
  let server: RunningServer;
  const mark = uniqueMark();
  const urls: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const as = (who: string) => ({ authorization: `Bearer ${tokens[who]}` });
  const release = async (version: string, env: Record<string, string> = {}) =>
    (await server.api("POST", "/v1/releases", { version, artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, ...env } } })).json as { id: string; digest: string };
  const stage = async (name: string) => (await server.api("GET", "/v1/pipelines/shop")).json.stages.find((s: { environment: string }) => s.environment === name);
  const promote = (body: Record<string, unknown>, who?: string) => server.api("POST", "/v1/pipelines/shop/promote", body, who ? as(who) : {});
  const deploymentsOf = async (env: string) => (await server.api("GET", `/v1/environments/${env}/deployments`)).json.deployments as Deployment[];
  const live = async (env: string) => (await server.api("GET", `/v1/environments/${env}`)).json.liveVersion as string;
  /** The environment runs `version` and has no deployment going on. */
  const settled = async (env: string, version: string) =>
    (await live(env)) === version && (await deploymentsOf(env)).every((d) => ["succeeded", "rolled_back", "failed", "cancelled"].includes(d.state));
  /** Load through a stage's balancer, once it has something live. */
  const loadOn = (env: string) => load.push(startLoad(`${urls[env]}/`, { concurrency: 2, pauseMs: 1, maxMs: 8 * 60_000 }));
  const load: ReturnType<typeof startLoad>[] = [];
  let r1: { id: string; digest: string };
  /** What the pipeline's webhook was sent. */
  const told: { type: string; data: Record<string, any> }[] = [];
  let receiver: http.Server;

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (req.method === "GET") {
          // Staging's analysis: v2 has a problem no request shows (its load sees no error), the others none.
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ problems: req.url?.endsWith("/v2") ? 1 : 0 }));
          return;
        }
        told.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    quality = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/quality`;
    server = await startServer({ dataDir, env: ENV });
    const hook = { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, events: ["promotion.held", "release.created", "deployment.awaiting_approval", "promotion.eligible"] };
    expect((await server.api("POST", "/v1/webhooks", hook)).status).toBe(201);
    for (const env of STAGES) expect((await server.api("POST", "/v1/environments", await environmentSpec(env, mark))).status).toBe(201);
    for (const env of STAGES) urls[env] = (await waitForEnvironment(server, env, "ready")).traffic.url;
    const mint = async (name: string, role: string, environments?: string[]) =>
      (tokens[name] = (await server.api("POST", "/v1/tokens", { name, role, ...(environments ? { environments } : {}) })).json.token);
    await mint("deployer", "deployer");
    await mint("prod-viewer", "viewer", ["pl-prod"]);
    await mint("dev-admin", "admin", ["pl-dev", "pl-staging"]);
    await mint("deploying-approver", "approver", ["pl-prod"]);
    await mint("dev-deployer", "deployer", ["pl-dev"]);
    await mint("prod-approver", "approver", ["pl-prod"]);
  });

  afterAll(async () => {
    await Promise.all(load.map((l) => l.stop()));
    await server?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it("declares a pipeline over existing environments, only as an admin of every stage", async () => {
    const stages = stagesWith({ denyWindows: [FREEZE] });
    expect((await server.api("PUT", "/v1/pipelines/shop", { stages }, as("deployer"))).json.error.code).toBe("insufficient_role");
    expect((await server.api("PUT", "/v1/pipelines/shop", { stages }, as("dev-admin"))).json.error.code).toBe("environment_out_of_scope");
    expect((await server.api("PUT", "/v1/pipelines/shop", { stages: [{ environment: "pl-dev" }, { environment: "pl-nowhere" }] })).json.error.code).toBe("environment_not_found");
    expect((await server.api("PUT", "/v1/pipelines/shop", { stages: [{ environment: "pl-dev" }, { environment: "pl-dev" }] })).status).toBe(400);
    const badCron = await server.api("PUT", "/v1/pipelines/shop", { stages: stagesWith({ denyWindows: [{ ...FREEZE, cron: "every day" }] }) });
    expect({ status: badCron.status, code: badCron.json.error.code }).toEqual({ status: 400, code: "invalid_cron" });
    const put = await server.api("PUT", "/v1/pipelines/shop", { stages });
    expect(put.status).toBe(201);
    expect(put.json.stages.map((s: { environment: string; next: { code?: string } }) => [s.environment, s.next.code])).toEqual([
      ["pl-dev", "first_stage"],
      ["pl-staging", "nothing_upstream"],
      ["pl-prod", "nothing_upstream"],
    ]);
  });

  it("promotes a release into dev by name; staging takes it automatically once it has soaked in dev", async () => {
    r1 = await release("v1");
    const intoDev = await promote({ to: "pl-dev", release: r1.id }, "deployer");
    expect(intoDev.status).toBe(202);
    expect(intoDev.json.promotion).toEqual({ pipeline: "shop" });
    const dev = await waitForDeployment(server, intoDev.json.id, "terminal");
    expect(dev).toMatchObject({ state: "succeeded", release: { id: r1.id, digest: r1.digest } });
    loadOn("pl-dev");
    await waitFor("staging to run v1", () => settled("pl-staging", "v1"), 120_000);
    loadOn("pl-staging");
    const [auto] = await deploymentsOf("pl-staging");
    expect(auto).toMatchObject({ state: "succeeded", release: { digest: r1.digest }, promotion: { pipeline: "shop", from: "pl-dev" }, requestedBy: { kind: "system" } });
    // Not before the release had soaked 3 s in dev.
    expect(Date.parse(auto.createdAt) - Date.parse(dev.finishedAt!)).toBeGreaterThanOrEqual(3000);
    expect((await stage("pl-staging")).next).toMatchObject({ eligible: false, code: "already_live" });
  });

  it("holds prod inside its deny window, manual or forced by a deployer; outside it, a deployer promotes", async () => {
    const prod = await stage("pl-prod");
    expect(prod.next).toMatchObject({ eligible: false, code: "denied", release: { id: r1.id } });
    expect(Date.parse(prod.next.until)).toBeGreaterThan(Date.now());
    const denied = await promote({ to: "pl-prod" }, "deployer");
    expect({ status: denied.status, code: denied.json.error.code }).toEqual({ status: 409, code: "promotion_denied" });
    expect((await server.api("POST", "/v1/pipelines/shop/promote?dryRun=true", { to: "pl-prod" })).json.error.code).toBe("promotion_denied");
    expect((await promote({ to: "pl-prod", force: true, reason: "hotfix" }, "deployer")).json.error.code).toBe("insufficient_role");
    expect((await promote({ to: "pl-prod", force: true })).status).toBe(400);
    // Frozen, nothing is announced for prod; staging is automatic and never announced.
    expect(told.filter((m) => m.type === "promotion.eligible")).toEqual([]);
    // The freeze is lifted: prod takes what staging runs, and whoever follows the pipeline is told it may.
    expect((await server.api("PUT", "/v1/pipelines/shop", { stages: stagesWith({}) })).status).toBe(200);
    const eligible = await waitFor("prod's eligible release announced", () => told.find((m) => m.type === "promotion.eligible"), 10_000);
    expect(eligible.data).toMatchObject({ pipeline: "shop", stage: "pl-prod", from: "pl-staging", release: { id: r1.id, version: "v1", digest: r1.digest } });
    // A dry run first: what the promotion would do, in order, and nothing queued.
    const dry = await server.api("POST", "/v1/pipelines/shop/promote?dryRun=true", { to: "pl-prod" }, as("deployer"));
    expect(dry.status).toBe(200);
    expect(dry.json).toMatchObject({ environment: "pl-prod", version: "v1", strategy: "canary", release: { id: r1.id, digest: r1.digest }, promotion: { pipeline: "shop", from: "pl-staging" } });
    expect(dry.json.steps.filter((x: { phase: string }) => x.phase === "shifting").map((x: { weights: Record<string, number> }) => x.weights.blue)).toEqual([50, 100]);
    expect(await deploymentsOf("pl-prod")).toEqual([]);
    expect(dry.json.gates).toEqual([{ name: "promotion", kind: "approval", manual: true, requireDistinctApprover: true }]);
    // Promoted by an approver, who therefore may not approve it too (four eyes).
    const intoProd = await promote({ to: "pl-prod" }, "deploying-approver");
    expect(intoProd.status).toBe(202);
    expect(intoProd.json).toMatchObject({ promotion: { pipeline: "shop", from: "pl-staging" }, strategy: { type: "canary" } });
    // Prod's approval: the new fleet built and half the traffic on it, the rest waits for a person, with the preview of what approving changes.
    const waiting = await waitFor("the promotion to wait for its approval", async () => {
      const d = (await server.api("GET", `/v1/deployments/${intoProd.json.id}`)).json;
      return d.pausedBy === "gate" ? d : undefined;
    }, 120_000);
    const preview = waiting.gateLog.promotion.preview.stacks as { purpose: string; counts: Record<string, number>; changes: { changed?: string[] }[] }[];
    expect(preview.map((s) => [s.purpose, s.counts])).toEqual([
      ["create-fleet", {}],
      ["shift-traffic", { update: 1 }],
    ]);
    const asked = await waitFor("the approval request at the webhook", () => told.find((m) => m.type === "deployment.awaiting_approval"), 10_000);
    expect(asked.data).toMatchObject({ deploymentId: intoProd.json.id, promotion: { pipeline: "shop" }, release: { digest: r1.digest }, event: { gate: "promotion", requireDistinctApprover: true } });
    expect(asked.data.event.preview.stacks).toEqual(waiting.gateLog.promotion.preview.stacks);
    const self = await server.api("POST", `/v1/deployments/${intoProd.json.id}/gates/promotion/approve`, {}, as("deploying-approver"));
    expect({ status: self.status, code: self.json.error.code }).toEqual({ status: 403, code: "approver_is_requester" });
    expect((await server.api("POST", `/v1/deployments/${intoProd.json.id}/gates/promotion/approve`, {}, as("deployer"))).json.error.code).toBe("insufficient_role");
    expect((await server.api("POST", `/v1/deployments/${intoProd.json.id}/gates/promotion/approve`, { reason: "CAB-42" }, as("prod-approver"))).status).toBe(202);
    const done = await waitForDeployment(server, intoProd.json.id, "terminal");
    expect(done).toMatchObject({ state: "succeeded", release: { digest: r1.digest }, gateLog: { promotion: { state: "approved", by: { name: "prod-approver" } } } });
    loadOn("pl-prod");
    // The same digest runs in all three stages.
    for (const env of STAGES) expect(JSON.parse((await request(`${urls[env]}/`)).body).version).toBe("v1");
    // Promotions by pipeline, stage and result, and the time from the release's recording to production.
    const metrics = (await server.api("GET", "/metrics")).body;
    for (const stage of STAGES) expect(metrics).toContain(`cutover_promotions_total{pipeline="shop",stage="${stage}",result="succeeded",forced="false"} 1`);
    expect(metrics).toMatch(/cutover_release_lead_seconds_count\{pipeline="shop",stage="pl-prod"\} 1/);
    for (const l of load) expect(l.result.failed).toBe(0);
  });

  it("a version whose analysis fails in staging goes no further: prod is not promoted, and naming it there is refused", async () => {
    const bad = await release("v2");
    const intoDev = await promote({ to: "pl-dev", release: bad.id }, "deployer");
    expect(await waitForDeployment(server, intoDev.json.id, "terminal")).toMatchObject({ state: "succeeded" });
    // Staging takes it once it has soaked in dev; its canary's analysis fails, so it is rolled back there.
    const intoStaging = await waitFor("staging's promotion of v2 to end", async () => {
      const [d] = (await deploymentsOf("pl-staging")).filter((x) => x.release?.id === bad.id);
      return d && ["succeeded", "rolled_back", "failed"].includes(d.state) ? d : undefined;
    }, 120_000);
    expect(intoStaging).toMatchObject({ state: "rolled_back", error: { code: "analysis_failed" } });
    expect(await live("pl-staging")).toBe("v1");
    expect((await stage("pl-prod")).next).toMatchObject({ eligible: false, code: "already_live", release: { id: r1.id } });
    const named = await promote({ to: "pl-prod", release: bad.id }, "deployer");
    expect({ status: named.status, code: named.json.error.code }).toEqual({ status: 409, code: "release_not_promoted_upstream" });
    expect(await live("pl-prod")).toBe("v1");
    // An admin may force it past the rule, with a reason, and it is recorded; prod's approver still decides, and says no.
    const forced = await promote({ to: "pl-prod", release: bad.id, force: true, reason: "the analysis is wrong, says the admin" });
    expect(forced.json.promotion).toEqual({ pipeline: "shop", from: "pl-staging", forced: true, reason: "the analysis is wrong, says the admin" });
    await waitFor("the forced promotion to wait for prod's approval", async () => (await server.api("GET", `/v1/deployments/${forced.json.id}`)).json.pausedBy === "gate", 120_000);
    expect((await server.api("POST", `/v1/deployments/${forced.json.id}/gates/promotion/reject`, { reason: "not past staging" }, as("prod-approver"))).status).toBe(202);
    expect(await waitForDeployment(server, forced.json.id, "terminal")).toMatchObject({ state: "rolled_back", error: { code: "gate_rejected" } });
    expect(await live("pl-prod")).toBe("v1");
    const audit = (await server.api("GET", "/v1/audit?limit=200")).json.entries as { action: string }[];
    expect(audit.filter((e) => e.action === "pipeline.promote").length).toBeGreaterThanOrEqual(4);
    for (const l of load) expect(l.result.failed).toBe(0);
  });

  it("an older release promoted by hand holds the automatic stage until someone releases the hold", async () => {
    const r3 = await release("v3");
    await waitForDeployment(server, (await promote({ to: "pl-dev", release: r3.id }, "deployer")).json.id, "succeeded");
    await waitFor("staging to run v3", () => settled("pl-staging", "v3"), 120_000);
    // Back to v1 in staging by hand: v1 is older than v3, so staging's automatic promotion holds.
    await waitForDeployment(server, (await promote({ to: "pl-staging", release: r1.id }, "deployer")).json.id, "succeeded");
    expect((await stage("pl-staging")).hold).toMatchObject({ release: { id: r1.id, version: "v1" } });
    // Whoever follows the pipeline is told why staging stopped taking new releases.
    const held = await waitFor("the hold at the webhook", () => told.find((m) => m.type === "promotion.held"), 10_000);
    expect(held.data).toMatchObject({ pipeline: "shop", stage: "pl-staging", release: { id: r1.id, version: "v1" }, by: { name: "deployer" } });
    expect(told.filter((m) => m.type === "release.created").map((m) => m.data.version)).toEqual(["v1", "v2", "v3"]);
    const r4 = await release("v4");
    await waitForDeployment(server, (await promote({ to: "pl-dev", release: r4.id }, "deployer")).json.id, "succeeded");
    await new Promise((r) => setTimeout(r, 5000));
    expect(await live("pl-staging")).toBe("v1");
    expect((await stage("pl-staging")).next).toMatchObject({ eligible: true, release: { id: r4.id } });
    expect((await server.api("DELETE", "/v1/pipelines/shop/holds/pl-staging", undefined, as("deployer"))).status).toBe(204);
    expect((await server.api("DELETE", "/v1/pipelines/shop/holds/pl-staging")).json.error.code).toBe("hold_not_found");
    await waitFor("staging to run v4", () => settled("pl-staging", "v4"), 120_000);
    for (const l of load) expect(l.result.failed).toBe(0);
  });

  it("the server killed while an automatic promotion runs: after the restart it ends once, and is not made again", async () => {
    // Staging frozen while v5 goes live in dev, so its automatic promotion waits for the server that will die in it.
    const frozen: Record<string, unknown>[] = stagesWith({});
    frozen[1] = { ...frozen[1], denyWindows: [FREEZE] };
    expect((await server.api("PUT", "/v1/pipelines/shop", { stages: frozen })).status).toBe(200);
    const r5 = await release("v5");
    await waitForDeployment(server, (await promote({ to: "pl-dev", release: r5.id }, "deployer")).json.id, "succeeded");
    // Past its soak in dev, v5 would be eligible: the freeze is what holds it.
    await waitFor("v5 to be held only by the freeze", async () => (await stage("pl-staging")).next.code === "denied", 30_000);
    expect((await stage("pl-staging")).next).toMatchObject({ eligible: false, code: "denied", release: { id: r5.id } });
    await server.terminate();
    server = await startServer({ dataDir, env: { ...ENV, CUTOVER_FAULT_KILL_AT: "provisioning:engine" } });
    expect((await server.api("PUT", "/v1/pipelines/shop", { stages: stagesWith({}) })).status).toBe(200);
    await server.exited;
    server = await startServer({ dataDir, env: ENV });
    const promotions = async () => (await deploymentsOf("pl-staging")).filter((d) => d.release?.id === r5.id);
    await waitFor("staging's promotion of v5 to end", async () => {
      const made = await promotions();
      return made.length > 0 && made.every((d) => ["succeeded", "rolled_back"].includes(d.state));
    }, 120_000);
    await new Promise((r) => setTimeout(r, 3000));
    // One promotion of v5 into staging: interrupted, so rolled back, and not made again (a person may promote it by hand).
    expect((await promotions()).map((d) => [d.state, d.requestedBy?.kind])).toEqual([["rolled_back", "system"]]);
    expect(await live("pl-staging")).toBe("v4");
    for (const l of load) expect(l.result.failed).toBe(0);
  });

  it("shows a scoped viewer only its own stages' state, and refuses promotions out of scope", async () => {
    const seen = (await server.api("GET", "/v1/pipelines/shop", undefined, as("prod-viewer"))).json;
    expect(seen.stages.map((s: { environment: string; hidden?: boolean }) => [s.environment, s.hidden ?? false])).toEqual([
      ["pl-dev", true],
      ["pl-staging", true],
      ["pl-prod", false],
    ]);
    expect(JSON.stringify(seen.stages[0])).not.toContain("v4");
    expect((await promote({ to: "pl-prod" }, "prod-viewer")).json.error.code).toBe("insufficient_role");
    // A dry run is refused as the promotion would be: it says nothing of a stage out of the caller's scope.
    for (const [path, body] of [
      ["/v1/pipelines/shop/promote?dryRun=true", { to: "pl-staging" }],
      ["/v1/environments/pl-staging/deployments?dryRun=true", { release: r1.id }],
    ] as const) {
      const dry = await server.api("POST", path, body, as("dev-deployer"));
      expect({ status: dry.status, code: dry.json.error?.code, leaked: JSON.stringify(dry.json).includes("pl-staging.") }).toEqual({ status: 403, code: "environment_out_of_scope", leaked: false });
    }
    expect((await server.api("GET", "/v1/pipelines/nope")).json.error.code).toBe("pipeline_not_found");
    // An admin of some stages cannot replace the pipeline and so drop the stages out of its reach.
    const replaced = await server.api("PUT", "/v1/pipelines/shop", { stages: [{ environment: "pl-dev" }, { environment: "pl-staging" }] }, as("dev-admin"));
    expect({ status: replaced.status, code: replaced.json.error?.code }).toEqual({ status: 403, code: "environment_out_of_scope" });
    expect((await server.api("GET", "/v1/pipelines/shop")).json.stages.length).toBe(3);
    expect((await promote({ to: "pl-nowhere" })).json.error.code).toBe("stage_not_found");
  });

  it("the server killed between holding a stage and queuing the older release: the stage stays held, nothing is deployed", async () => {
    // Staging runs v4; v1 is older, so promoting it by hand holds staging first, then queues it: the kill falls between.
    const before = (await deploymentsOf("pl-staging")).length;
    await server.terminate();
    server = await startServer({ dataDir, env: { ...ENV, CUTOVER_FAULT_KILL_AT: "promotion:held" } });
    await promote({ to: "pl-staging", release: r1.id }, "deployer").catch(() => undefined);
    await server.exited;
    server = await startServer({ dataDir, env: ENV });
    expect((await stage("pl-staging")).hold).toMatchObject({ release: { id: r1.id, version: "v1" }, by: { name: "deployer" } });
    await new Promise((r) => setTimeout(r, 3000));
    expect((await deploymentsOf("pl-staging")).length).toBe(before);
    expect(await live("pl-staging")).toBe("v4");
    // A deployer of another stage cannot release it; a deployer of staging can.
    const outside = await server.api("DELETE", "/v1/pipelines/shop/holds/pl-staging", undefined, as("dev-deployer"));
    expect({ status: outside.status, code: outside.json.error.code }).toEqual({ status: 403, code: "environment_out_of_scope" });
    expect((await stage("pl-staging")).hold).toBeDefined();
    expect((await server.api("DELETE", "/v1/pipelines/shop/holds/pl-staging", undefined, as("deployer"))).status).toBe(204);
    for (const l of load) expect(l.result.failed).toBe(0);
  });
});

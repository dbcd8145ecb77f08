// Each way out of a scope, tried through the public API as a caller with
// the smallest role would: metric analysis pointed at the server's files
// and the inside of the network, destroy by schedule, four eyes with one
// person behind two credentials, secrets shown to viewers or kept in
// idempotency records, replayed chat requests and chat response URLs
// pointed inside. Then one table: every mutating route and chat command,
// each caller kind, role and scope, allowed or refused.
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";
import { INSIDE } from "../helpers/inside-addresses";

const SIGNING_SECRET = "scope-test-signing-secret";
const MM_TOKEN = "scope-test-mattermost-token";
const TEAM = "T0SCOPE";
const PROVIDER_TOKEN = `prov_${randomBytes(12).toString("hex")}`;

let server: RunningServer;
/** An "internal" JSON service on loopback: a metric provider's endpoint, and a target for SSRF attempts. */
let inside: http.Server;
let insideUrl = "";
const insideHits: { url: string; authorization?: string }[] = [];
const tokens: Record<string, string> = {};
const mark = uniqueMark();

beforeAll(async () => {
  inside = http.createServer((req, res) => {
    insideHits.push({ url: req.url ?? "", authorization: req.headers.authorization });
    res.setHeader("content-type", "application/json");
    if (req.url?.startsWith("/value")) {
      if (req.headers.authorization !== `Bearer ${PROVIDER_TOKEN}`) return void res.writeHead(401).end('{"error":"no"}');
      return void res.end(JSON.stringify({ value: 7 }));
    }
    res.end(JSON.stringify({ secret: "internal-only", value: 1 }));
  });
  await new Promise<void>((r) => inside.listen(0, "127.0.0.1", r));
  insideUrl = `http://127.0.0.1:${(inside.address() as AddressInfo).port}`;

  const dir = tempDir("providers");
  writeFileSync(path.join(dir, "stats-token"), `${PROVIDER_TOKEN}\n`, { mode: 0o600 });
  const providers = {
    stats: { web: { baseUrl: insideUrl, bearerTokenFile: path.join(dir, "stats-token") }, environments: ["alpha"] },
    "beta-only": { web: { baseUrl: insideUrl }, environments: ["beta"] },
  };
  writeFileSync(path.join(dir, "providers.json"), JSON.stringify(providers));
  server = await startServer({
    env: { CUTOVER_METRIC_PROVIDERS: path.join(dir, "providers.json"), CUTOVER_SLACK_SIGNING_SECRET: SIGNING_SECRET, CUTOVER_MATTERMOST_TOKEN: MM_TOKEN },
  });
  // alpha: every deployment waits for a person other than its requester; beta: plain, out of the scoped callers' reach.
  const gates = [{ name: "release", kind: "approval", requireDistinctApprover: true }];
  expect((await server.api("POST", "/v1/environments", await environmentSpec("alpha", mark, { gates }))).status).toBe(201);
  expect((await server.api("POST", "/v1/environments", await environmentSpec("beta", mark))).status).toBe(201);
  await waitForEnvironment(server, "alpha", "ready");
  await waitForEnvironment(server, "beta", "ready");
  const mint = async (name: string, role: string, environments: string[] | undefined, person?: string) => {
    const r = await server.api("POST", "/v1/tokens", { name, role, ...(environments ? { environments } : {}), ...(person ? { person } : {}) });
    expect(r.status).toBe(201);
    tokens[name] = r.json.token;
    return r.json;
  };
  for (const role of ["viewer", "deployer", "approver", "admin"]) await mint(role, role, ["alpha", "alpha-*"]);
  await mint("beta-admin", "admin", ["beta"]);
  await mint("alice-approver", "approver", ["alpha"], "alice@example.com");
  await mint("alice-deployer", "deployer", ["alpha"], "alice@example.com");
  await mint("bob-approver", "approver", ["alpha"], "bob@example.com");
  for (const role of ["viewer", "deployer", "approver", "admin"]) {
    expect((await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: TEAM, user: `U${role.toUpperCase()}`, role, environments: ["alpha"] })).status).toBe(201);
  }
  expect(
    (await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: TEAM, user: "UALICE", role: "deployer", environments: ["alpha"], person: "alice@example.com" })).status,
  ).toBe(201);
  expect((await server.api("POST", "/v1/chatops/identities", { provider: "mattermost", team: TEAM, user: "mm-deployer", role: "deployer", environments: ["beta"] })).status).toBe(201);
});

afterAll(async () => {
  await server?.stop();
  await new Promise<void>((r) => (inside ? inside.close(() => r()) : r()));
});

const as = (token: string) => (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
  server.api(method, p, body, { authorization: `Bearer ${tokens[token]}`, ...headers });

let triggers = 0;
function slackBody(user: string, text: string): string {
  return new URLSearchParams({ team_id: TEAM, user_id: user, user_name: user.toLowerCase(), command: "/cutover", text, trigger_id: `t.${++triggers}.${randomBytes(4).toString("hex")}` }).toString();
}
function slackHeaders(body: string) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac("sha256", SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest("hex")}`;
  return { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": timestamp, "x-slack-signature": signature };
}
async function slack(user: string, text: string): Promise<string> {
  const body = slackBody(user, text);
  const reply = await request(`${server.url}/v1/chatops/slack/commands`, { method: "POST", headers: slackHeaders(body), body });
  expect(reply.status).toBe(200);
  return JSON.parse(reply.body).text as string;
}

const deploymentsOf = async (env: string) => (await server.api("GET", `/v1/environments/${env}/deployments`)).json.deployments as any[];

async function rampEvents(id: string, type: string) {
  return waitFor(`a ${type} of ramp ${id}`, async () => {
    const r = (await server.api("GET", `/v1/flag-ramps/${id}`)).json;
    const found = (r.events as any[]).filter((e) => e.type === type);
    return found.length ? { ramp: r, events: found } : undefined;
  }, 30_000);
}

describe("metric analysis on a deployer's word", () => {
  beforeAll(async () => {
    expect((await server.api("PUT", "/v1/environments/alpha/flags/probe", { enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 0 } })).status).toBe(201);
  });

  it("never names a file: bearerTokenFile is not part of any request", async () => {
    const prom = { prometheus: { address: "https://prometheus.example.com", query: "up", bearerTokenFile: "/proc/self/environ" } };
    const analysis = { interval: "1s", metrics: [{ name: "m", provider: prom, successCondition: "result > 0" }] };
    const deploy = await as("deployer")("POST", "/v1/environments/alpha/deployments", { version: "x1", strategy: { type: "canary", steps: [{ weight: 50, pause: "1s" }], analysis } });
    expect(deploy.status).toBe(400);
    expect(deploy.json.error.code).toBe("validation_failed");
    const ramp = await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", { steps: [{ percentage: 10, pause: "1s" }], analysis });
    expect(ramp.json.error.code).toBe("validation_failed");
    const schedule = await as("deployer")("POST", "/v1/environments/alpha/schedules", {
      kind: "deploy",
      cron: "0 3 * * *",
      deployment: { version: "x1", strategy: { type: "blue-green", bake: "1s", analysis } },
    });
    expect(schedule.json.error.code).toBe("validation_failed");
  });

  it("never reaches inside the network through a caller's URL, and keeps no answer text", async () => {
    const before = insideHits.length;
    const metric = (provider: unknown) => ({ interval: "1s", metrics: [{ name: "m", provider, successCondition: "result >= 0" }] });
    // An address inside is refused when the analysis comes in, on every path.
    for (const url of [`${insideUrl}/internal?x=1`, "http://169.254.169.254/latest/meta-data/iam", "http://[::ffff:7f00:1]/"]) {
      for (const provider of [{ web: { url, jsonPath: "$.value" } }, { prometheus: { address: url, query: "up" } }]) {
        const ramp = await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", { steps: [{ percentage: 10, pause: "1s" }], analysis: metric(provider) });
        expect(ramp.json.error.code).toBe("metric_target_forbidden");
        const deploy = await as("deployer")("POST", "/v1/environments/alpha/deployments", {
          version: "x2",
          strategy: { type: "blue-green", bake: "1s", analysis: metric(provider) },
        });
        expect(deploy.json.error.code).toBe("metric_target_forbidden");
        const schedule = await as("deployer")("POST", "/v1/environments/alpha/schedules", {
          kind: "deploy",
          cron: "0 3 * * *",
          deployment: { version: "x2", strategy: { type: "blue-green", bake: "1s", prePromotion: metric(provider) } },
        });
        expect(schedule.json.error.code).toBe("metric_target_forbidden");
      }
    }
    // A name is checked on the address it resolves to: this machine's own name leads inside.
    const started = await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", {
      steps: [{ percentage: 10, pause: "1s" }, { percentage: 20 }],
      analysis: metric({ web: { url: `http://${os.hostname()}:${new URL(insideUrl).port}/internal`, jsonPath: "$.value" } }),
    });
    expect(started.status).toBe(202);
    const { ramp, events } = await rampEvents(started.json.id, "ramp:measurement");
    expect(events[0].data.outcome).toBe("inconclusive");
    expect(insideHits.length).toBe(before);
    expect(JSON.stringify(ramp)).not.toContain("internal-only");
    await server.api("POST", `/v1/flag-ramps/${started.json.id}/abort`, {});
  });

  it("uses the operator's provider, with its credentials, only where the operator allows it", async () => {
    const ref = (provider: string, url = "/value?v={{version}}") => ({
      steps: [{ percentage: 30, pause: "1s" }, { percentage: 40 }],
      analysis: { interval: "1s", metrics: [{ name: "orders", provider: { web: { provider, url, jsonPath: "$.value" } }, successCondition: "result >= 5" }] },
    });
    expect((await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", ref("beta-only"))).json.error.code).toBe("metric_provider_unknown");
    expect((await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", ref("nope"))).json.error.code).toBe("metric_provider_unknown");
    expect((await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", ref("stats", "//evil.example/value"))).json.error.code).toBe("validation_failed");
    expect((await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", ref("stats", "https://evil.example/value"))).json.error.code).toBe("validation_failed");
    const listed = await as("viewer")("GET", "/v1/metric-providers");
    expect(listed.json.providers).toEqual([{ name: "stats", kind: "web", environments: ["alpha"] }]);
    await server.api("PUT", "/v1/environments/alpha/flags/probe", { enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 20 } });
    const started = await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", ref("stats"));
    expect(started.status).toBe(202);
    const { ramp, events } = await rampEvents(started.json.id, "ramp:measurement");
    expect(events[0].data).toMatchObject({ metric: "orders", outcome: "successful", value: [7] });
    expect(insideHits.some((h) => h.url.startsWith("/value") && h.authorization === `Bearer ${PROVIDER_TOKEN}`)).toBe(true);
    for (const body of [ramp, listed.json, (await server.api("GET", "/v1/audit")).json]) expect(JSON.stringify(body)).not.toContain(PROVIDER_TOKEN);
    expect(server.log.join("\n")).not.toContain(PROVIDER_TOKEN);
    await server.api("POST", `/v1/flag-ramps/${started.json.id}/abort`, {});
  });
});

describe("a target's credentials on a scoped admin's word", () => {
  const kube = (kubernetes: Record<string, unknown>) => ({
    name: "alpha-k8s",
    target: "kubernetes",
    fleet: { artifact: { command: [] } },
    kubernetes: { image: "registry.example.com/shop:{version}", ...kubernetes },
  });

  it("refuses a kubeconfig, a context or an AWS profile named by an admin scoped to some environments", async () => {
    for (const body of [
      kube({ kubeconfig: "/root/.kube/config" }),
      kube({ context: "production" }),
      { name: "alpha-aws", target: "aws", fleet: { artifact: { command: ["/srv/app"] } }, aws: { region: "eu-west-1", ami: "ami-0123456789abcdef0", instancePort: 8080, profile: "prod" } },
    ]) {
      const r = await as("admin")("POST", "/v1/environments", body);
      expect({ status: r.status, code: r.json.error?.code }).toEqual({ status: 403, code: "target_credentials_forbidden" });
    }
    expect((await server.api("GET", "/v1/environments/alpha-k8s")).status).toBe(404);
  });

  it("lets the scoped admin use Cutover's own credentials, and an unscoped admin name a kubeconfig", async () => {
    // Both pass authorization; the plugin is what is missing on this server.
    for (const [who, body] of [
      [as("admin"), kube({})],
      [(m: string, p: string, b?: unknown) => server.api(m, p, b), kube({ kubeconfig: "/etc/cutover/kubeconfig" })],
    ] as const) {
      const r = await who("POST", "/v1/environments", body);
      expect({ status: r.status, code: r.json.error?.code }).toEqual({ status: 400, code: "target_unavailable" });
    }
  });
});

describe("schedules act at their creator's role", () => {
  it("needs an admin to schedule a destroy, or to change one", async () => {
    const destroy = { kind: "destroy", cron: "0 20 * * 1-5" };
    const refused = await as("deployer")("POST", "/v1/environments/alpha/schedules", destroy);
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe("insufficient_role");
    const made = await as("admin")("POST", "/v1/environments/alpha/schedules", destroy);
    expect(made.status).toBe(201);
    for (const action of ["pause", "resume"]) expect((await as("deployer")("POST", `/v1/schedules/${made.json.id}/${action}`)).status).toBe(403);
    expect((await as("deployer")("DELETE", `/v1/schedules/${made.json.id}`)).status).toBe(403);
    expect((await as("viewer")("GET", `/v1/schedules/${made.json.id}`)).status).toBe(200);
    expect((await as("admin")("DELETE", `/v1/schedules/${made.json.id}`)).status).toBe(204);
  });

  it.each([
    ["a refresh", { kind: "refresh" }],
    ["a maintenance window", { kind: "maintenance", maintenance: { on: true, message: "down" } }],
  ])("stops acting once its creator's token is revoked: %s", async (_, kind) => {
    const minted = await server.api("POST", "/v1/tokens", { name: "short-lived", role: "deployer", environments: ["beta"] });
    // Made early in a two-second window and revoked well before the window ends: no firing can come before the revocation.
    await waitFor("the start of a two-second window", async () => Date.now() % 2000 < 300, 5000, 5);
    const s = await server.api("POST", "/v1/environments/beta/schedules", { ...kind, cron: "*/2 * * * * *" }, { authorization: `Bearer ${minted.json.token}` });
    expect(s.status).toBe(201);
    expect((await server.api("DELETE", `/v1/tokens/${minted.json.id}`)).status).toBe(204);
    const refusedRun = await waitFor("a refused run", async () => {
      const runs = (await server.api("GET", `/v1/schedules/${s.json.id}/runs`)).json.runs as any[];
      return runs.find((r) => r.error?.code === "schedule_creator_revoked");
    }, 30_000);
    expect(refusedRun.state).toBe("failed");
    expect((await server.api("GET", `/v1/schedules/${s.json.id}/runs`)).json.runs.every((r: any) => r.state !== "succeeded")).toBe(true);
    expect((await server.api("GET", "/v1/environments/beta")).json.maintenance).toBeUndefined();
    await server.api("DELETE", `/v1/schedules/${s.json.id}`);
  });
});

describe("ramps act at their creator's role", () => {
  it("stop widening a rollout once their creator's token is revoked", async () => {
    const minted = await server.api("POST", "/v1/tokens", { name: "ramp-owner", role: "deployer", environments: ["alpha"] });
    await server.api("PUT", "/v1/environments/alpha/flags/owned", { enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 0 } });
    const started = await server.api("POST", "/v1/environments/alpha/flags/owned/ramps", { steps: [{ percentage: 10, pause: "2s" }, { percentage: 90 }] }, { authorization: `Bearer ${minted.json.token}` });
    expect(started.status).toBe(202);
    await waitFor("the first step", async () => ((await server.api("GET", "/v1/environments/alpha/flags/owned")).json.rollout.percentage === 10 ? true : undefined), 20_000);
    expect((await server.api("DELETE", `/v1/tokens/${minted.json.id}`)).status).toBe(204);
    const ramp = await waitFor("the ramp to stop", async () => {
      const r = (await server.api("GET", `/v1/flag-ramps/${started.json.id}`)).json;
      return r.state === "aborted" ? r : undefined;
    }, 30_000);
    expect(ramp.reason).toMatch(/no longer exists/);
    expect((await server.api("GET", "/v1/environments/alpha/flags/owned")).json.rollout.percentage).toBe(10);
  });
});

describe("four eyes are two people", () => {
  it("refuses an approval by the person who asked, through a chat identity or a schedule", async () => {
    // Alice deploys from chat; her approver token is the same person.
    expect(await slack("UALICE", "deploy alpha v1")).not.toMatch(/Nothing was done/);
    const fromChat = await waitFor("alice's deployment", async () => (await deploymentsOf("alpha")).find((d) => d.version === "v1"), 20_000);
    await waitFor("the gate", async () => ((await server.api("GET", `/v1/deployments/${fromChat.id}`)).json.pausedBy === "gate" ? true : undefined), 90_000);
    const self = await as("alice-approver")("POST", `/v1/deployments/${fromChat.id}/gates/release/approve`, {});
    expect(self.status).toBe(403);
    expect(self.json.error.code).toBe("approver_is_requester");
    expect((await as("bob-approver")("POST", `/v1/deployments/${fromChat.id}/gates/release/approve`, {})).status).toBe(202);
    await waitForDeployment(server, fromChat.id, "succeeded");

    // Alice's schedule deploys; the deployment is hers as well.
    const s = await as("alice-deployer")("POST", "/v1/environments/alpha/schedules", { kind: "deploy", cron: "*/2 * * * * *", deployment: { version: "v2" } });
    expect(s.status).toBe(201);
    const fromSchedule = await waitFor("the scheduled deployment", async () => (await deploymentsOf("alpha")).find((d) => d.version === "v2"), 30_000);
    expect((await as("alice-deployer")("DELETE", `/v1/schedules/${s.json.id}`)).status).toBe(204);
    await waitFor("the gate", async () => ((await server.api("GET", `/v1/deployments/${fromSchedule.id}`)).json.pausedBy === "gate" ? true : undefined), 90_000);
    const again = await as("alice-approver")("POST", `/v1/deployments/${fromSchedule.id}/gates/release/approve`, {});
    expect(again.json.error?.code).toBe("approver_is_requester");
    expect((await as("bob-approver")("POST", `/v1/deployments/${fromSchedule.id}/abort`, {})).status).toBe(202);
    await waitForDeployment(server, fromSchedule.id, "terminal");
  });
});

describe("secrets stay with those who need them", () => {
  it("shows viewers gate URLs without query or userinfo, and sealed values to no one", async () => {
    const gates = [
      { name: "release", kind: "approval", requireDistinctApprover: true },
      { kind: "post-rollout", url: "https://hooks.example.com/deployed?token=gate-credential", secret: "whsec_c2VjcmV0LXZhbHVlLWZvci1nYXRlcy0xMjM0" },
    ];
    const d = await server.api("POST", "/v1/environments/alpha/deployments", { version: "v-gated", gates });
    expect(d.status).toBe(202);
    for (const who of ["viewer", "deployer", "approver"]) {
      const seen = JSON.stringify((await as(who)("GET", `/v1/deployments/${d.json.id}`)).json);
      expect(seen).toContain("https://hooks.example.com/deployed");
      expect(seen).not.toContain("gate-credential");
      expect(seen).not.toContain("sealed");
      expect(seen).not.toContain("whsec_");
    }
    expect(JSON.stringify((await server.api("GET", `/v1/deployments/${d.json.id}`)).json)).not.toContain("sealed");
    await server.api("POST", `/v1/deployments/${d.json.id}/abort`, {});
  });

  it("keeps a webhook's URL out of the idempotency record", async () => {
    const url = "https://hooks.slack.com/services/T000/B000/webhookPathCredential";
    const created = await server.api("POST", "/v1/webhooks", { url, events: ["deployment.succeeded"], format: "slack" }, { "idempotency-key": "wh-create-1" });
    expect(created.status).toBe(201);
    const replay = await server.api("POST", "/v1/webhooks", { url, events: ["deployment.succeeded"], format: "slack" }, { "idempotency-key": "wh-create-1" });
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(JSON.stringify(replay.json)).not.toContain("webhookPathCredential");
    const files = readdirSync(server.dataDir).filter((f) => f.startsWith("cutover.db"));
    for (const f of files) expect(readFileSync(path.join(server.dataDir, f)).includes("webhookPathCredential")).toBe(false);
    await server.api("DELETE", `/v1/webhooks/${created.json.id}`);
  });
});

describe("a browser session is its token, no more", () => {
  it("refuses a scoped deployer's session, CSRF token and all, everything outside its scope", async () => {
    const signIn = await request(`${server.url}/ui/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: tokens.deployer }) });
    expect(signIn.status).toBe(201);
    const cookie = String(signIn.headers["set-cookie"]?.[0] ?? "").split(";")[0];
    const { csrf } = JSON.parse(signIn.body) as { csrf: string };
    expect(cookie).toMatch(/^cutover_session=/);
    const session = (method: string, p: string, body?: unknown, withCsrf = true) =>
      request(`${server.url}${p}`, {
        method,
        headers: { cookie, ...(withCsrf ? { "x-cutover-csrf": csrf } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const betaBefore = (await deploymentsOf("beta")).length;
    const refused = [
      await session("POST", "/v1/environments/beta/deployments", { version: "v9" }),
      await session("POST", "/v1/environments/beta/rollback", {}),
      await session("POST", "/v1/environments/beta/refresh", {}),
      await session("POST", "/v1/environments/beta/schedules", { kind: "refresh", cron: "0 3 * * *" }),
      await session("DELETE", "/v1/environments/beta"),
      await session("POST", "/v1/environments", await environmentSpec("alpha-web", mark)),
      await session("POST", "/v1/tokens", { name: "escape", role: "admin" }),
    ];
    for (const r of refused) {
      expect([403, 404]).toContain(r.status);
      expect(JSON.parse(r.body).error.code).toMatch(/forbidden|insufficient_role|environment_not_found|out_of_scope/);
    }
    // Within its scope it acts, but only with its CSRF token.
    const forged = await session("POST", "/v1/environments/alpha/refresh", {}, false);
    expect(forged.status).toBe(403);
    expect(JSON.parse(forged.body).error.code).toBe("csrf_token_invalid");
    const listed = JSON.parse((await session("GET", "/v1/environments")).body).environments.map((e: { name: string }) => e.name);
    expect(listed).toContain("alpha");
    expect(listed).not.toContain("beta");
    // Nothing happened to beta.
    expect((await deploymentsOf("beta")).length).toBe(betaBefore);
    expect((await server.api("GET", "/v1/environments/beta")).json.status).toBe("ready");
  });
});

describe("signed chat requests", () => {
  it("acts once on a replayed Slack request", async () => {
    const before = (await deploymentsOf("alpha")).length;
    const body = slackBody("UDEPLOYER", "deploy alpha v-replayed");
    const headers = slackHeaders(body);
    const first = await request(`${server.url}/v1/chatops/slack/commands`, { method: "POST", headers, body });
    const second = await request(`${server.url}/v1/chatops/slack/commands`, { method: "POST", headers, body });
    expect(first.status).toBe(200);
    expect(JSON.parse(second.body).text).toMatch(/already handled/);
    const after = await deploymentsOf("alpha");
    expect(after.filter((d) => d.version === "v-replayed")).toHaveLength(1);
    expect(after.length).toBe(before + 1);
    for (const d of after.filter((x) => x.state === "queued")) await server.api("POST", `/v1/deployments/${d.id}/abort`, {});
  });

  it("does not post to a Mattermost response_url inside the network", async () => {
    const before = insideHits.length;
    const body = new URLSearchParams({ team_id: TEAM, user_id: "mm-deployer", user_name: "mm", command: "/cutover", text: "deploy beta v-mm", response_url: `${insideUrl}/mm`, trigger_id: "mm-1" }).toString();
    const reply = await request(`${server.url}/v1/chatops/mattermost/commands`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Token ${MM_TOKEN}` }, body });
    expect(reply.status).toBe(200);
    const d = await waitFor("the mattermost deployment", async () => (await deploymentsOf("beta")).find((x) => x.version === "v-mm"), 20_000);
    await waitForDeployment(server, d.id, "terminal");
    // Progress and the outcome would have gone to response_url by now.
    expect(insideHits.slice(before).filter((h) => h.url.startsWith("/mm"))).toEqual([]);
  });
});

describe("hostile input: 0 5xx, 0 actions taken", () => {
  it("refuses every address form that leads inside, for webhooks, gates and metric analysis", async () => {
    const before = { hits: insideHits.length, deployments: (await deploymentsOf("alpha")).length, webhooks: (await server.api("GET", "/v1/webhooks")).json.webhooks.length };
    for (const url of [...INSIDE, `${insideUrl}/`]) {
      const webhook = await server.api("POST", "/v1/webhooks", { url, events: ["deployment.succeeded"] });
      expect({ url, status: webhook.status, code: webhook.json.error.code }).toEqual({ url, status: 400, code: "webhook_target_forbidden" });
      const gate = await server.api("POST", "/v1/environments/alpha/deployments", { version: "g1", gates: [{ kind: "pre-rollout", url }] });
      expect({ url, status: gate.status, code: gate.json.error.code }).toEqual({ url, status: 400, code: "gate_target_forbidden" });
      const web = await as("deployer")("POST", "/v1/environments/alpha/flags/probe/ramps", {
        steps: [{ percentage: 90 }],
        analysis: { metrics: [{ name: "m", provider: { web: { url, jsonPath: "$.v" } }, successCondition: "result > 0" }] },
      });
      expect({ url, status: web.status, code: web.json.error.code }).toEqual({ url, status: 400, code: "metric_target_forbidden" });
    }
    expect(insideHits.length).toBe(before.hits);
    expect((await deploymentsOf("alpha")).length).toBe(before.deployments);
    expect((await server.api("GET", "/v1/webhooks")).json.webhooks.length).toBe(before.webhooks);
  });

  it("answers forged, stale and over-sized chat requests with 4xx and acts on none", async () => {
    const before = (await deploymentsOf("alpha")).length;
    const body = slackBody("UDEPLOYER", "deploy alpha forged");
    const good = slackHeaders(body);
    const stale = String(Math.floor(Date.now() / 1000) - 600);
    const attempts: { path: string; headers: Record<string, string>; body: string }[] = [
      { path: "slack/commands", headers: { ...good, "x-slack-signature": good["x-slack-signature"].replace(/.$/, (c) => (c === "0" ? "1" : "0")) }, body },
      { path: "slack/commands", headers: { "content-type": "application/x-www-form-urlencoded" }, body },
      { path: "slack/commands", headers: { ...good, "x-slack-signature": "v0=" }, body },
      { path: "slack/commands", headers: { ...good, "x-slack-signature": `v0=${"0".repeat(64)}x` }, body },
      {
        path: "slack/commands",
        headers: { ...good, "x-slack-request-timestamp": stale, "x-slack-signature": `v0=${createHmac("sha256", SIGNING_SECRET).update(`v0:${stale}:${body}`).digest("hex")}` },
        body,
      },
      { path: "slack/commands", headers: good, body: `${body}&text=deploy+alpha+other` },
      { path: "slack/commands", ...(() => { const big = slackBody("UDEPLOYER", `deploy alpha big ${"x".repeat(80_000)}`); return { headers: slackHeaders(big), body: big }; })() },
      { path: "slack/interactions", headers: good, body: `payload=${encodeURIComponent(JSON.stringify({ type: "block_actions", actions: [{ action_id: "abort", value: "dep_0123456789abcdef" }] }))}` },
      { path: "mattermost/commands", headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Token wrong-token" }, body },
      { path: "mattermost/commands", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `${body}&token=${MM_TOKEN.slice(0, -1)}` },
      { path: "mattermost/commands", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Token ${MM_TOKEN}` }, body: "x".repeat(80_000) },
    ];
    for (const a of attempts) {
      const r = await request(`${server.url}/v1/chatops/${a.path}`, { method: "POST", headers: a.headers, body: a.body });
      expect({ path: a.path, status: r.status >= 400 && r.status < 500 }).toEqual({ path: a.path, status: true });
    }
    expect((await deploymentsOf("alpha")).length).toBe(before);
    expect((await request(`${server.url}/healthz`)).status).toBe(200);
  });
});

describe("every mutating route and chat command, each caller kind, role and scope", () => {
  let queued = "";
  let release = "";

  beforeAll(async () => {
    // A deployment that holds the lane at its gate, and one queued behind it to act on.
    const held = await server.api("POST", "/v1/environments/alpha/deployments", { version: "hold" });
    const behind = await server.api("POST", "/v1/environments/alpha/deployments", { version: "behind" });
    queued = behind.json.id;
    expect(held.status).toBe(202);
    release = (await server.api("POST", "/v1/releases", { version: "r-table", artifact: { command: ["node", "-e", "0"] } })).json.id;
    expect((await server.api("PUT", "/v1/pipelines/ab", { stages: [{ environment: "alpha" }, { environment: "beta" }] })).status).toBe(201);
  });

  const ROLES = ["viewer", "deployer", "approver", "admin"] as const;
  const rank = (r: string) => ROLES.indexOf(r as (typeof ROLES)[number]);
  type Case = { name: string; least: (typeof ROLES)[number]; call: (who: string) => Promise<{ status: number; json: any }> };
  const CASES: Case[] = [
    { name: "deploy", least: "deployer", call: (w) => as(w)("POST", "/v1/environments/alpha/deployments", { version: `t-${w}` }) },
    { name: "deploy with artifact", least: "admin", call: (w) => as(w)("POST", "/v1/environments/alpha/deployments", { version: "t-a", artifact: { command: ["node", "-e", "0"] } }) },
    { name: "deploy with preDeploy", least: "admin", call: (w) => as(w)("POST", "/v1/environments/alpha/deployments", { version: "t-p", preDeploy: { command: ["true"] } }) },
    { name: "deploy with gates", least: "admin", call: (w) => as(w)("POST", "/v1/environments/alpha/deployments", { version: "t-g", gates: [{ kind: "approval" }] }) },
    { name: "deploy a release", least: "deployer", call: (w) => as(w)("POST", "/v1/environments/alpha/deployments", { release }) },
    { name: "promote through a pipeline", least: "deployer", call: (w) => as(w)("POST", "/v1/pipelines/ab/promote", { to: "alpha", release }) },
    { name: "rollback", least: "deployer", call: (w) => as(w)("POST", "/v1/environments/alpha/rollback", {}) },
    { name: "refresh", least: "deployer", call: (w) => as(w)("POST", "/v1/environments/alpha/refresh", {}) },
    { name: "pause", least: "deployer", call: (w) => as(w)("POST", `/v1/deployments/${queued}/pause`, {}) },
    { name: "resume", least: "deployer", call: (w) => as(w)("POST", `/v1/deployments/${queued}/resume`, {}) },
    { name: "promote", least: "deployer", call: (w) => as(w)("POST", `/v1/deployments/${queued}/promote`, {}) },
    { name: "approve", least: "approver", call: (w) => as(w)("POST", `/v1/deployments/${queued}/gates/release/approve`, {}) },
    { name: "reject", least: "approver", call: (w) => as(w)("POST", `/v1/deployments/${queued}/gates/release/reject`, {}) },
    { name: "schedule refresh", least: "deployer", call: (w) => as(w)("POST", "/v1/environments/alpha/schedules", { kind: "refresh", cron: "0 3 1 1 *" }) },
    { name: "schedule repave", least: "deployer", call: (w) => as(w)("POST", "/v1/environments/alpha/schedules", { kind: "repave", cron: "0 3 1 1 *" }) },
    { name: "schedule deploy", least: "deployer", call: (w) => as(w)("POST", "/v1/environments/alpha/schedules", { kind: "deploy", cron: "0 3 1 1 *", deployment: { version: "s1" } }) },
    { name: "schedule destroy", least: "admin", call: (w) => as(w)("POST", "/v1/environments/alpha/schedules", { kind: "destroy", cron: "0 3 1 1 *" }) },
    { name: "set a flag", least: "deployer", call: (w) => as(w)("PUT", `/v1/environments/alpha/flags/t-${w}`, { enabled: false, variants: { on: true, off: false }, defaultVariant: "off" }) },
    { name: "maintenance on, holding requests", least: "deployer", call: (w) => as(w)("POST", "/v1/environments/alpha/maintenance", { mode: "hold", holdTimeout: "1s" }) },
    { name: "maintenance off", least: "deployer", call: (w) => as(w)("DELETE", "/v1/environments/alpha/maintenance") },
    {
      name: "create an HAProxy environment that holds through outages",
      least: "admin",
      call: async (w) => as(w)("POST", "/v1/environments", await environmentSpec(`alpha-held-${w}`, mark, { local: { listenPort: 0, dataPlane: "haproxy", holdWhenUnavailable: "5s" } })),
    },
    { name: "delete an environment", least: "admin", call: (w) => as(w)("DELETE", "/v1/environments/alpha-absent") },
    { name: "create a token", least: "admin", call: (w) => as(w)("POST", "/v1/tokens", { name: `t-${w}`, role: "viewer", environments: ["alpha"] }) },
    { name: "link a chat user", least: "admin", call: (w) => as(w)("POST", "/v1/chatops/identities", { provider: "slack", team: "TT", user: `U${w}`, role: "viewer", environments: ["alpha"] }) },
  ];
  const refused = (status: number) => status === 401 || status === 403 || status === 404;

  it.each(CASES.flatMap((c) => ROLES.map((role) => [c.name, role, c] as const)))("API token: %s as %s", async (_name, role, c) => {
    const r = await c.call(role);
    const allowed = rank(role) >= rank(c.least);
    if (allowed) expect({ status: r.status, code: r.json?.error?.code }).not.toMatchObject({ status: 403 });
    else expect({ status: r.status, code: r.json?.error?.code }).toMatchObject({ status: 403 });
  });

  it.each(CASES.map((c) => [c.name, c] as const))("API token out of scope: %s", async (_name, c) => {
    const r = await c.call("beta-admin");
    expect(refused(r.status)).toBe(true);
  });

  const CHAT: { text: string; least: (typeof ROLES)[number] }[] = [
    { text: "status alpha", least: "viewer" },
    { text: "history alpha", least: "viewer" },
    { text: "flags alpha", least: "viewer" },
    { text: "deploy alpha c1", least: "deployer" },
    { text: "pause alpha", least: "deployer" },
    { text: "resume alpha", least: "deployer" },
    { text: "rollback alpha", least: "deployer" },
    { text: "flag enable alpha probe", least: "deployer" },
    { text: "approve alpha release", least: "approver" },
    { text: "status beta", least: "admin" },
  ];
  it.each(CHAT.flatMap((c) => ROLES.map((role) => [c.text, role, c] as const)))("chat identity: %s as %s", async (text, role, c) => {
    const answer = await slack(`U${role.toUpperCase()}`, text);
    // beta lies outside every chat identity's scope: refused whatever the role.
    const allowed = !text.endsWith("beta") && rank(role) >= rank(c.least);
    if (allowed) expect(answer).not.toMatch(/^:no_entry:/);
    else expect(answer).toMatch(/^:no_entry:.*Nothing was done/);
  });

  it.each([
    ["refresh", "deployer", true],
    ["deploy", "deployer", true],
    ["destroy", "deployer", false],
    ["destroy", "admin", true],
    ["refresh", "viewer", false],
  ] as const)("schedule: %s created by %s", async (kind, role, allowed) => {
    const body = kind === "deploy" ? { kind, cron: "0 4 1 1 *", deployment: { version: "s2" } } : { kind, cron: "0 4 1 1 *" };
    const r = await as(role)("POST", "/v1/environments/alpha/schedules", body);
    expect(r.status).toBe(allowed ? 201 : 403);
  });
});

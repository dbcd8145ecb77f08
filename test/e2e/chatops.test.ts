// ChatOps end to end: a real server, requests signed as Slack and
// Mattermost sign them, a local fake Slack for the Web API and for
// response_url, and real deployments on the local target.
import { createHmac } from "node:crypto";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startFakeSlack, type FakeSlack } from "../helpers/fake-slack";
import { request } from "../helpers/http";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

const SIGNING_SECRET = "slack-signing-secret-for-tests";
const MM_TOKEN = "mattermost-command-token";
const TEAM = "T0CUTOVER";
const DEPLOYER = "U0DEPLOYER";
const VIEWER = "U0VIEWER";
const APPROVER = "U0APPROVER";
const NARROW = "U0NARROW";
const NAMES: Record<string, string> = { [DEPLOYER]: "dana", [VIEWER]: "vic", [APPROVER]: "avery", [NARROW]: "nell" };

let server: RunningServer;
let slack: FakeSlack;

beforeAll(async () => {
  slack = await startFakeSlack();
  server = await startServer({
    env: {
      CUTOVER_SLACK_SIGNING_SECRET: SIGNING_SECRET,
      CUTOVER_SLACK_BOT_TOKEN: "xoxb-test-bot-token",
      CUTOVER_SLACK_API_URL: slack.apiUrl,
      CUTOVER_MATTERMOST_TOKEN: MM_TOKEN,
      // The fake Slack serves response_url on loopback, which the outbound guard refuses unless allowed.
      CUTOVER_OUTBOUND_ALLOW: "127.0.0.1",
      CUTOVER_PROMOTION_INTERVAL: "500ms",
    },
  });
});

afterAll(async () => {
  await server?.stop();
  await slack?.close();
});

function signed(body: string, opts: { secret?: string; timestamp?: number } = {}) {
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac("sha256", opts.secret ?? SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest("hex")}`;
  return { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": timestamp, "x-slack-signature": signature };
}

let responseCount = 0;
/** Sends a slash command as Slack would; returns the immediate answer and the key of its response_url. */
async function slash(text: string, user = DEPLOYER, sign: (body: string) => Record<string, string> = signed) {
  const key = `cmd-${++responseCount}`;
  const body = new URLSearchParams({
    token: "legacy-verification-token",
    team_id: TEAM,
    team_domain: "cutover",
    channel_id: "C0RELEASES",
    channel_name: "releases",
    user_id: user,
    user_name: NAMES[user],
    command: "/cutover",
    text,
    response_url: slack.responseUrl(key),
    trigger_id: `1.2.${responseCount}`,
  }).toString();
  const reply = await request(`${server.url}/v1/chatops/slack/commands`, { method: "POST", headers: sign(body), body });
  return { reply, json: reply.body ? JSON.parse(reply.body) : undefined, key };
}

async function press(action: "promote" | "abort" | "approve" | "reject" | "promote_stage", value: string, user = DEPLOYER) {
  const key = `press-${++responseCount}`;
  const payload = {
    type: "block_actions",
    user: { id: user, username: NAMES[user], team_id: TEAM },
    team: { id: TEAM },
    channel: { id: "C0RELEASES" },
    response_url: slack.responseUrl(key),
    actions: [{ action_id: action, block_id: `steer:${value}`, value, type: "button" }],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const reply = await request(`${server.url}/v1/chatops/slack/interactions`, { method: "POST", headers: signed(body), body });
  return { reply, key };
}

const texts = (key: string) => (slack.responses.get(key) ?? []).map((m) => m.text as string);
const deploymentIdIn = (text: string) => /dep_[0-9a-f]{16}/.exec(text)?.[0];

describe("Slack slash commands", () => {
  it("refuses requests without a valid signature and does nothing", async () => {
    const before = (await server.api("GET", "/v1/deployments")).json.deployments.length;
    const stale = await slash("deploy chat-a v1", DEPLOYER, (b) => signed(b, { timestamp: Math.floor(Date.now() / 1000) - 600 }));
    expect(stale.reply.status).toBe(401);
    expect(stale.json.error.code).toBe("invalid_signature");
    const wrong = await slash("deploy chat-a v1", DEPLOYER, (b) => signed(b, { secret: "not-the-secret" }));
    expect(wrong.reply.status).toBe(401);
    const altered = await slash("deploy chat-a v1", DEPLOYER, (b) => signed(b.replace("v1", "v0")));
    expect(altered.reply.status).toBe(401);
    const unsigned = await slash("deploy chat-a v1", DEPLOYER, () => ({ "content-type": "application/x-www-form-urlencoded" }));
    expect(unsigned.reply.status).toBe(401);
    expect(unsigned.json.error.message).toMatch(/X-Slack-Signature/);
    expect((await server.api("GET", "/v1/deployments")).json.deployments.length).toBe(before);
  });

  it("refuses an unlinked user with an ephemeral message and records the refusal", async () => {
    const r = await slash("status chat-a");
    expect(r.reply.status).toBe(200);
    expect(r.json.response_type).toBe("ephemeral");
    expect(r.json.text).toMatch(/not linked/);
    const audit = (await server.api("GET", "/v1/audit?actor=chat&action=chat.refused")).json.entries;
    expect(audit[0]).toMatchObject({ action: "chat.refused", actor: { kind: "chat", provider: "slack" }, data: { verb: "status" } });
  });

  it("answers nonsense with help, never an error", async () => {
    for (const text of ["", "launch the rockets", "deploy", "deploy chat-a v1 --canary ten", "status a b c"]) {
      const r = await slash(text);
      expect(r.reply.status).toBe(200);
      expect(r.json.response_type).toBe("ephemeral");
      expect(r.json.text).toMatch(/Usage:/);
    }
  });

  it("links identities, deploys, pauses at a canary step, promotes by button, and reports each step", async () => {
    const link = await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: TEAM, user: DEPLOYER, role: "deployer", environments: ["chat-*"] });
    expect(link.status).toBe(201);
    expect(link.json.id).toMatch(/^chi_/);
    expect((await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: TEAM, user: DEPLOYER, role: "viewer" })).json.error.code).toBe("identity_exists");
    expect((await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: TEAM, user: VIEWER, role: "viewer", environments: ["chat-a"] })).status).toBe(201);
    expect((await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: TEAM, user: "bad id!", role: "viewer" })).status).toBe(400);

    expect((await server.api("POST", "/v1/environments", await environmentSpec("chat-a", uniqueMark()))).status).toBe(201);
    await waitForEnvironment(server, "chat-a", "ready");

    // A plain deploy: the ephemeral answer at once, progress and outcome to response_url, a status message kept up to date.
    const first = await slash("deploy chat-a v1");
    expect(first.json.response_type).toBe("ephemeral");
    const v1 = deploymentIdIn(first.json.text)!;
    expect(v1).toBeDefined();
    await waitForDeployment(server, v1, "succeeded");
    await waitFor("the outcome in chat", () => texts(first.key).some((t) => /succeeded/.test(t)), 10_000);
    const progress = texts(first.key);
    expect(progress.some((t) => /started/.test(t))).toBe(true);
    expect(progress.some((t) => /provisioning/.test(t))).toBe(true);
    expect(slack.apiCalls.find((c) => c.method === "chat.postMessage")?.args).toMatchObject({ channel: "C0RELEASES" });
    await waitFor("the status message updated to the outcome", () =>
      slack.apiCalls.some((c) => c.method === "chat.update" && /succeeded/.test(c.args.text)),
    );

    // A manual canary: the pause message carries Promote and Abort (with a confirm dialog).
    const second = await slash("deploy chat-a v2 --canary 50,100");
    const v2 = deploymentIdIn(second.json.text)!;
    await waitForDeployment(server, v2, "paused");
    const paused = await waitFor("the pause in chat", () => (slack.responses.get(second.key) ?? []).find((m) => /paused/.test(m.text)), 10_000);
    const actions = paused.blocks.find((b: any) => b.type === "actions");
    expect(actions.elements.map((e: any) => e.action_id)).toEqual(["promote", "abort"]);
    expect(actions.elements[1].confirm).toBeDefined();
    expect(actions.elements[0].value).toBe(v2);

    // A viewer's press is refused and changes nothing.
    const refused = await press("promote", v2, VIEWER);
    expect(refused.reply.status).toBe(200);
    await waitFor("the refusal", () => texts(refused.key).some((t) => /deployer role/.test(t)), 10_000);
    expect((await server.api("GET", `/v1/deployments/${v2}`)).json.state).toBe("paused");

    const promoted = await press("promote", v2);
    expect(promoted.reply.status).toBe(200);
    await waitForDeployment(server, v2, "succeeded");
    await waitFor("the promote answer", () => texts(promoted.key).some((t) => /promoted/.test(t)), 10_000);
    await waitFor("the outcome of v2 in chat", () => texts(second.key).some((t) => /succeeded/.test(t)), 10_000);

    const events = (await server.api("GET", `/v1/deployments/${v2}/events`, undefined, { accept: "application/json" })).json.events;
    expect(events.find((e: any) => e.type === "deployment:promote_requested").data.by).toMatchObject({ kind: "chat", provider: "slack", name: "dana (U0DEPLOYER)" });
    expect(events.find((e: any) => e.type === "deployment:queued").data.by).toMatchObject({ kind: "chat", provider: "slack" });

    const status = await slash("status chat-a", VIEWER);
    expect(status.json.text).toMatch(/chat-a is ready: live v2/);
    const history = await slash("history chat-a", VIEWER);
    expect(history.json.text).toContain(v1);
    expect(history.json.text).toContain(v2);

    const audit = (await server.api("GET", "/v1/audit?actor=chat&environment=chat-a")).json.entries;
    expect(audit.map((e: any) => e.action)).toEqual(expect.arrayContaining(["deployment.create", "deployment.promote", "chat.refused"]));
    expect(audit.find((e: any) => e.action === "deployment.promote")).toMatchObject({ subject: v2, actor: { provider: "slack" }, data: { via: "button" } });
  });

  it("refuses commands outside a user's role or scope", async () => {
    const viewerDeploy = await slash("deploy chat-a v3", VIEWER);
    expect(viewerDeploy.json.text).toMatch(/deployer role/);
    const outOfScope = await slash("rollback prod");
    expect(outOfScope.json.text).toMatch(/not allowed to act on environment prod/);
    const deployments = (await server.api("GET", "/v1/environments/chat-a/deployments")).json.deployments;
    expect(deployments.map((d: any) => d.version)).not.toContain("v3");
  });

  it("lists flags, pulls the kill switch, and ramps a flag from chat, within the user's role", async () => {
    await server.api("PUT", "/v1/environments/chat-a/flags/new-nav", { enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 10 } });
    expect((await slash("flags chat-a", VIEWER)).json.text).toMatch(/`new-nav` on, default off, 10% get on/);
    expect((await slash("flag disable chat-a new-nav", VIEWER)).json.text).toMatch(/deployer role/);
    const off = await slash("flag disable chat-a new-nav");
    expect(off.json.text).toMatch(/dana \(U0DEPLOYER\) switched \*new-nav\* off on \*chat-a\* \(version 2\)/);
    const flag = (await server.api("GET", "/v1/environments/chat-a/flags/new-nav")).json;
    expect(flag).toMatchObject({ enabled: false, updatedBy: { kind: "chat", name: "dana (U0DEPLOYER)" } });
    expect((await slash("flag enable chat-a new-nav")).json.text).toMatch(/switched \*new-nav\* on/);
    const ramp = await slash("flag ramp chat-a new-nav 40:1s,100");
    expect(ramp.json.text).toMatch(/dana \(U0DEPLOYER\) started ramp `ramp_[0-9a-f]{16}` of \*new-nav\* on \*chat-a\*: 40% for 1s → 100%/);
    await waitFor("the ramp to finish", async () => ((await server.api("GET", "/v1/environments/chat-a/flags/new-nav")).json.rollout.percentage === 100 ? true : undefined), 30_000);
    await waitFor("the ramp to be succeeded", async () => (/ramp `ramp_[0-9a-f]{16}` succeeded/.test((await slash("flag status chat-a new-nav", VIEWER)).json.text) ? true : undefined), 10_000);
    expect((await slash("flag ramp chat-a new-nav fast")).json.text).toMatch(/steps such as 10:5m/);
    expect((await slash("flag status chat-a nope", VIEWER)).json.text).toMatch(/no flag nope/);
  });

  it("puts an environment in maintenance from chat and takes it out, within the user's role", async () => {
    expect((await slash("maintenance on chat-a", VIEWER)).json.text).toMatch(/deployer role/);
    expect((await slash("maintenance on chat-a --hold 10m")).json.text).toMatch(/a hold lasts between 1ms and 5m/);
    expect((await slash("maintenance sideways chat-a")).json.text).toMatch(/`maintenance` takes on or off and an environment/);
    const url = (await server.api("GET", "/v1/environments/chat-a")).json.traffic.url as string;
    const on = await slash("maintenance on chat-a --retry-after 1m");
    expect(on.json.text).toMatch(/Putting \*chat-a\* in maintenance \(a 503 page\): `op_[0-9a-f]{16}`/);
    await waitFor("the page", async () => (await request(`${url}/`)).status === 503, 30_000);
    expect((await server.api("GET", "/v1/environments/chat-a")).json.maintenance).toMatchObject({ mode: "page", retryAfterSeconds: 60, by: { kind: "chat", name: "dana (U0DEPLOYER)" } });
    expect((await slash("maintenance off chat-a")).json.text).toMatch(/Taking \*chat-a\* out of maintenance/);
    await waitFor("the fleet again", async () => (await request(`${url}/`)).status === 200, 30_000);
    const audit = (await server.api("GET", "/v1/audit?actor=chat&environment=chat-a")).json.entries as { action: string; environment?: string }[];
    expect(audit.filter((e) => e.environment === "chat-a").map((e) => e.action)).toEqual(expect.arrayContaining(["environment.maintenance_on", "environment.maintenance_off"]));
  });

  it("aborts from chat and reports the rollback with its reason", async () => {
    const third = await slash("deploy chat-a v3 --canary 50,100");
    const v3 = deploymentIdIn(third.json.text)!;
    await waitForDeployment(server, v3, "paused");
    const abort = await slash("abort chat-a");
    expect(abort.json.text).toMatch(/abort requested/);
    const done = await waitForDeployment(server, v3, "rolled_back");
    expect(done.error.message).toMatch(/aborted by dana/);
    await waitFor("the rollback in chat", () => texts(third.key).some((t) => /rolled back: aborted by dana/.test(t)), 10_000);
  });

  it("promotes through a pipeline from chat: what runs in the stage before, within the user's role and scope", async () => {
    expect((await server.api("POST", "/v1/environments", await environmentSpec("chat-b", uniqueMark()))).status).toBe(201);
    await waitForEnvironment(server, "chat-b", "ready");
    const spec = (await server.api("GET", "/v1/environments/chat-a")).json.spec;
    const release = (await server.api("POST", "/v1/releases", { version: "r1", artifact: spec.fleet.artifact })).json;
    await waitForDeployment(server, (await server.api("POST", "/v1/environments/chat-a/deployments", { release: release.id })).json.id, "succeeded");
    // A channel's Slack webhook is told once when a release may go into a manual stage, with a Promote button.
    const hook = { url: slack.responseUrl("eligible"), events: ["promotion.eligible"], format: "slack", environments: ["chat-*"] };
    expect((await server.api("POST", "/v1/webhooks", hook)).status).toBe(201);
    expect((await server.api("PUT", "/v1/pipelines/chat-line", { stages: [{ environment: "chat-a" }, { environment: "chat-b" }] })).status).toBe(201);
    const told = await waitFor("the eligible release announced", () => slack.responses.get("eligible")?.[0], 20_000);
    expect(told.text).toMatch(/r1 may be promoted into chat-b \(pipeline chat-line\): it is live and soaked in chat-a/);
    const button = told.blocks.find((b: any) => b.type === "actions").elements[0];
    expect([button.action_id, button.value]).toEqual(["promote_stage", `chat-line/chat-b/${release.id}`]);
    // Pressing it is the user's own promotion: a viewer is refused, a deployer promotes.
    const refused = await press("promote_stage", button.value, VIEWER);
    expect(refused.reply.status).toBe(200);
    await waitFor("the refusal", () => texts(refused.key).some((t) => /deployer role/.test(t)), 10_000);
    // Forged presses: a deployer of chat-a alone, a stage that is not the pipeline's, a release beyond the presser's reach.
    expect((await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: TEAM, user: NARROW, role: "deployer", environments: ["chat-a"] })).status).toBe(201);
    const narrow = await press("promote_stage", button.value, NARROW);
    await waitFor("the out-of-scope refusal", () => texts(narrow.key).some((t) => /not allowed to act on environment chat-b/.test(t)), 10_000);
    const notAStage = await press("promote_stage", `chat-line/chat-z/${release.id}`);
    await waitFor("the refusal of a stage the pipeline lacks", () => texts(notAStage.key).some((t) => /chat-z/.test(t) && !/promoted/.test(t)), 10_000);
    const elsewhereAdmin = (await server.api("POST", "/v1/tokens", { name: "other-admin", role: "admin", environments: ["other-*"] })).json.token;
    const elsewhere = (await server.api("POST", "/v1/releases", { version: "r-other", artifact: spec.fleet.artifact }, { authorization: `Bearer ${elsewhereAdmin}` })).json;
    expect(elsewhere.id).toMatch(/^rel_/);
    const beyond = await press("promote_stage", `chat-line/chat-b/${elsewhere.id}`);
    await waitFor("the refusal of a release beyond reach", () => texts(beyond.key).some((t) => t.includes(`no release with id ${elsewhere.id}`)), 10_000);
    expect((await server.api("GET", "/v1/deployments?environment=chat-b")).json.deployments).toEqual([]);
    const pressed = await press("promote_stage", button.value);
    const answer = await waitFor("the promotion's answer", () => texts(pressed.key).find((t) => /promoted r1 into chat-b through pipeline chat-line/.test(t)), 10_000);
    const d = await waitForDeployment(server, deploymentIdIn(answer)!, "terminal");
    expect(d).toMatchObject({ state: "succeeded", release: { id: release.id }, promotion: { pipeline: "chat-line", from: "chat-a" }, requestedBy: { kind: "chat" } });
    expect(slack.responses.get("eligible")).toHaveLength(1);
    // The same by command, for the next release.
    const r2 = (await server.api("POST", "/v1/releases", { version: "r2", artifact: spec.fleet.artifact })).json;
    await waitForDeployment(server, (await server.api("POST", "/v1/environments/chat-a/deployments", { release: r2.id })).json.id, "succeeded");
    expect((await slash("promote chat-line chat-b", VIEWER)).json.text).toMatch(/deployer role/);
    const promoted = await slash("promote chat-line chat-b");
    expect(promoted.json.text).toMatch(/Promoting \*r2\* from \*chat-a\* into \*chat-b\* through pipeline `chat-line`/);
    expect(await waitForDeployment(server, deploymentIdIn(promoted.json.text)!, "terminal")).toMatchObject({ state: "succeeded", release: { id: r2.id } });
    expect((await slash("promote chat-line chat-b")).json.text).toMatch(/r2 is live here already|nothing may be promoted/);
    expect((await slash("promote chat-line prod")).json.text).toMatch(/not allowed to act on environment prod/);
  });

  it("holds a deployment at an approval gate until an approver presses Approve", async () => {
    expect((await server.api("POST", "/v1/chatops/identities", { provider: "slack", team: TEAM, user: APPROVER, role: "approver", environments: ["chat-*"] })).status).toBe(201);
    const id = (await server.api("POST", "/v1/environments/chat-a/deployments", { version: "v4", gates: [{ kind: "approval" }] })).json.id;
    await waitFor("the gate to wait", async () => (await server.api("GET", `/v1/deployments/${id}`)).json.pausedBy === "gate");
    const status = await slash("status chat-a", VIEWER);
    // The status says what approving changes: the preview of each stack, made when the gate began waiting.
    expect(status.json.text).toMatch(/waits for approval at gate approval\nApproving changes:\n• create-fleet chat-a\.\w+: built: v4's fleet exists\n• shift-traffic chat-a\.traffic: 1 to update \(balancer: pools\)\n• retire-fleet chat-a\.\w+: 1 to delete/);
    const actions = status.json.blocks.find((b: any) => b.type === "actions");
    expect(actions.elements.map((e: any) => [e.action_id, e.value])).toEqual([
      ["approve", `${id}:approval`],
      ["reject", `${id}:approval`],
    ]);
    const byDeployer = await slash("approve chat-a");
    expect(byDeployer.json.text).toMatch(/approver role/);
    const pressed = await press("approve", `${id}:approval`, APPROVER);
    expect(pressed.reply.status).toBe(200);
    const d = await waitForDeployment(server, id, "succeeded");
    expect(d.gateLog.approval).toMatchObject({ state: "approved", by: { kind: "chat", provider: "slack", name: "avery (U0APPROVER)" } });
    await waitFor("the approval answer", () => texts(pressed.key).some((t) => /avery \(U0APPROVER\) approved v4/.test(t)), 10_000);
  });

  it("lists and unlinks identities; an unlinked user is refused again", async () => {
    const list = (await server.api("GET", "/v1/chatops/identities")).json.identities;
    const viewer = list.find((i: any) => i.user === VIEWER);
    expect(viewer).toMatchObject({ provider: "slack", team: TEAM, role: "viewer", environments: ["chat-a"] });
    expect((await server.api("DELETE", `/v1/chatops/identities/${viewer.id}`)).status).toBe(204);
    expect((await slash("status chat-a", VIEWER)).json.text).toMatch(/not linked/);
    // API calls are audited too, with the token as the actor.
    const [unlink] = (await server.api("GET", "/v1/audit?action=chat.identity.unlink")).json.entries;
    expect(unlink).toMatchObject({ subject: viewer.id, actor: { kind: "token", id: "admin" } });
    const created = (await server.api("GET", "/v1/audit?actor=token&environment=chat-a")).json.entries;
    expect(created.map((e: any) => e.action)).toContain("environment.create");
  });
});

describe("Mattermost slash commands", () => {
  const mattermost = (text: string, token = MM_TOKEN, user = "mm-user-1") =>
    request(`${server.url}/v1/chatops/mattermost/commands`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Token ${token}` },
      body: new URLSearchParams({ team_id: "mmteam", user_id: user, user_name: "mo", channel_id: "mmchan", command: "/cutover", text }).toString(),
    });

  it("checks the command token, then runs the same grammar as the linked user", async () => {
    const wrong = await mattermost("status chat-a", "not-the-token");
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body).error.code).toBe("invalid_signature");
    expect(JSON.parse((await mattermost("status chat-a")).body).text).toMatch(/not linked/);
    expect((await server.api("POST", "/v1/chatops/identities", { provider: "mattermost", team: "mmteam", user: "mm-user-1", role: "viewer" })).status).toBe(201);
    const status = JSON.parse((await mattermost("status chat-a")).body);
    expect(status).toMatchObject({ response_type: "ephemeral" });
    expect(status.text).toMatch(/chat-a is ready/);
    expect(status.blocks).toBeUndefined();
    expect(JSON.parse((await mattermost("promote chat-a")).body).text).toMatch(/deployer role/);
    expect(JSON.parse((await mattermost("what")).body).text).toMatch(/Usage:/);
  });
});

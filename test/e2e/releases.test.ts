// Releases through the public API, on the local target with real fleets: a
// release is recorded once and never changed, the same one is deployed into
// two environments (the same digest, the same processes' environment, its
// secret opened only where it runs), and a release reaches no environment
// its maker's scope did not. Every refusal is tried as the smallest caller
// would try it.
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { processesWith } from "../helpers/processes";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { fixtureApp } from "../helpers/temp-dir";
import { readdirSync } from "node:fs";
import path from "node:path";

/** The stacks in the server's own file backend, by name. */
const stacksOf = (server: RunningServer) =>
  readdirSync(path.join(server.dataDir, "state", ".pulumi", "stacks", "cutover"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .sort();

jest.setTimeout(5 * 60_000);

const SECRET = "release-secret-0123456789";

describe("releases", () => {
  let server: RunningServer;
  const mark = uniqueMark();
  const urls: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const as = (who: string) => ({ authorization: `Bearer ${tokens[who]}` });
  const artifact = (greeting: string) => ({ command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, GREETING: greeting, RELEASE_SECRET: { secret: SECRET } } });
  let v2 = "";

  beforeAll(async () => {
    server = await startServer();
    for (const env of ["rel-dev", "rel-prod"]) {
      expect((await server.api("POST", "/v1/environments", await environmentSpec(env, mark))).status).toBe(201);
    }
    for (const env of ["rel-dev", "rel-prod"]) urls[env] = (await waitForEnvironment(server, env, "ready")).traffic.url;
    const mint = async (name: string, role: string, environments?: string[]) =>
      (tokens[name] = (await server.api("POST", "/v1/tokens", { name, role, ...(environments ? { environments } : {}) })).json.token);
    await mint("ci-deployer", "deployer");
    await mint("dev-deployer", "deployer", ["rel-dev"]);
    await mint("dev-admin", "admin", ["rel-dev"]);
    await mint("dev-viewer", "viewer", ["rel-dev"]);
    await mint("prod-viewer", "viewer", ["rel-prod"]);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("records a release once: its digest names its content, its secret is sealed, and the same request again answers with it", async () => {
    const body = { version: "v2", artifact: artifact("hello"), provenance: { commit: "0123abcd", link: "https://ci.example.com/builds/42", source: "ci" } };
    const created = await server.api("POST", "/v1/releases", body);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ version: "v2", provenance: body.provenance, createdBy: { kind: "token" } });
    expect(created.json.id).toMatch(/^rel_[0-9a-f]{16}$/);
    expect(created.json.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(created.json)).not.toContain(SECRET);
    v2 = created.json.id;

    const again = await server.api("POST", "/v1/releases", body);
    expect(again.status).toBe(200);
    expect(again.json).toEqual(created.json);
    // The same version with other content (a different secret, a different value) is refused: a release is never changed.
    for (const other of [artifact("bonjour"), { ...artifact("hello"), env: { ...artifact("hello").env, RELEASE_SECRET: { secret: "another" } } }]) {
      const changed = await server.api("POST", "/v1/releases", { ...body, artifact: other });
      expect(changed.status).toBe(409);
      expect(changed.json.error).toMatchObject({ code: "release_exists", details: { release: v2, version: "v2" } });
    }
    expect((await server.api("GET", `/v1/releases/${v2}`)).json).toEqual(created.json);
    expect((await server.api("GET", "/v1/releases")).json.releases.map((r: { id: string }) => r.id)).toEqual([v2]);
  });

  it("deploys the same release into two environments: the same digest, the same artifact, its secret only in the processes that run it", async () => {
    const digest = (await server.api("GET", `/v1/releases/${v2}`)).json.digest;
    for (const env of ["rel-dev", "rel-prod"]) {
      // A deployer needs no right over artifacts to deploy a release: the admin who made it chose what runs.
      const asked = await server.api("POST", `/v1/environments/${env}/deployments`, { release: v2 }, as("ci-deployer"));
      expect(asked.status).toBe(202);
      const done = await waitForDeployment(server, asked.json.id, "terminal");
      expect(done).toMatchObject({ state: "succeeded", version: "v2", release: { id: v2, digest } });
      expect(JSON.parse((await request(`${urls[env]}/`)).body).version).toBe("v2");
    }
    const running = processesWith(mark, "APP_VERSION=v2", "GREETING=hello", `RELEASE_SECRET=${SECRET}`);
    expect(running.length).toBe(4);
    const events = (await server.api("GET", `/v1/environments/rel-prod/deployments`)).json.deployments;
    expect(JSON.stringify(events)).not.toContain(SECRET);
  });

  it("a dry run answers what a deployment would do, in order, with the same checks, and queues nothing", async () => {
    const before = (await server.api("GET", "/v1/environments/rel-dev/deployments")).json.deployments.length;
    const strategy = { type: "canary", steps: [{ weight: 25, pause: "1m" }, { weight: 100 }] };
    const dry = await server.api("POST", "/v1/environments/rel-dev/deployments?dryRun=true", { release: v2, strategy }, as("ci-deployer"));
    expect(dry.status).toBe(200);
    const live = (await server.api("GET", "/v1/environments/rel-dev")).json;
    const to = live.activeColor === "blue" ? "green" : "blue";
    expect(dry.json).toMatchObject({ environment: "rel-dev", version: "v2", strategy: "canary", from: { color: live.activeColor, version: "v2" }, to: { color: to }, behind: 0 });
    expect(dry.json.release).toMatchObject({ id: v2 });
    expect(dry.json.steps.map((s: { phase: string; weights?: Record<string, number> }) => [s.phase, s.weights?.[to]])).toEqual([
      ["provisioning", undefined],
      ["verifying", undefined],
      ["shifting", 25],
      ["shifting", 100],
      ["retiring", undefined],
    ]);
    // The Pulumi preview of each stack it touches: the new fleet (previewed in a stack made for it, so nothing is
    // created), the traffic change (known once the new fleet exists), the fleet it retires (read from its state).
    const preview = dry.json.preview as { stacks: { stack: string; purpose: string; counts: Record<string, number>; changes: { op: string; type: string }[]; note?: string }[] };
    expect(preview.stacks.map((s) => [s.purpose, s.stack])).toEqual([
      ["create-fleet", `rel-dev.${to}`],
      ["shift-traffic", "rel-dev.traffic"],
      ["retire-fleet", `rel-dev.${live.activeColor}`],
    ]);
    const [create, shift, retire] = preview.stacks;
    expect(create.note).toBeUndefined();
    expect(create.counts.create).toBeGreaterThan(0);
    expect(create.changes.every((c) => c.op === "create")).toBe(true);
    expect(shift.note).toMatch(/once the new fleet exists/);
    expect(retire.counts).toEqual({ delete: create.counts.create });
    expect(retire.changes.map((c) => c.type).sort()).toEqual(create.changes.map((c) => c.type).sort());
    expect(JSON.stringify(dry.json)).not.toContain(SECRET);
    expect((await server.api("GET", "/v1/environments/rel-dev/deployments")).json.deployments.length).toBe(before);
    // Nothing was made: no fleet of the other color, no stack left from the preview.
    const after = (await server.api("GET", "/v1/environments/rel-dev")).json;
    expect(Object.keys(after.fleets)).toEqual([live.activeColor]);
    expect(stacksOf(server).filter((s) => s.startsWith("rel-dev."))).toEqual([`rel-dev.${live.activeColor}`, "rel-dev.traffic"].sort());
    for (const dir of ["state", "workspaces"]) {
      expect(readdirSync(path.join(server.dataDir, dir), { recursive: true, encoding: "utf8" }).filter((f) => f.includes(".preview-"))).toEqual([]);
    }
    // Without the preview it answers at once, from the records alone.
    const quick = await server.api("POST", "/v1/environments/rel-dev/deployments?dryRun=true&preview=false", { release: v2 }, as("ci-deployer"));
    expect(quick.status).toBe(200);
    expect(quick.json.preview).toBeUndefined();
    // Refused exactly as the deployment itself would be.
    const override = await server.api("POST", "/v1/environments/rel-dev/deployments?dryRun=true", { version: "v9", artifact: artifact("x") }, as("ci-deployer"));
    expect({ status: override.status, code: override.json.error.code }).toEqual({ status: 403, code: "artifact_override_forbidden" });
    expect((await server.api("POST", "/v1/environments/rel-dev/deployments?dryRun=maybe", { version: "v9" })).status).toBe(400);
    const audit = (await server.api("GET", "/v1/audit?limit=100")).json.entries as { action: string; subject?: string }[];
    expect(audit.filter((e) => e.action === "deployment.create").length).toBe(2);
  });

  it("refuses what a release cannot be asked with, and an unknown release", async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ release: v2, version: "v9" }, 400, "validation_failed"],
      [{ release: v2, artifact: artifact("x") }, 400, "validation_failed"],
      [{ release: v2, preDeploy: { command: ["true"] } }, 400, "validation_failed"],
      [{}, 400, "validation_failed"],
      [{ release: "rel_00000000000000ff" }, 404, "release_not_found"],
      [{ release: "../etc/passwd" }, 400, "validation_failed"],
    ];
    for (const [body, status, code] of cases) {
      const res = await server.api("POST", "/v1/environments/rel-dev/deployments", body);
      expect({ body, status: res.status, code: res.json.error?.code }).toEqual({ body, status, code });
    }
    // An image is recorded only pinned by its digest, and runs only where containers do (kubernetes).
    const tagged = await server.api("POST", "/v1/releases", { version: "v30", artifact: { command: ["node"], image: "registry.example.com/shop:latest" } });
    expect({ status: tagged.status, code: tagged.json.error.code }).toEqual({ status: 400, code: "validation_failed" });
    const pinned = await server.api("POST", "/v1/releases", { version: "v31", artifact: { command: ["node"], image: `registry.example.com/shop@sha256:${"0".repeat(64)}` } });
    expect(pinned.status).toBe(201);
    const local = await server.api("POST", "/v1/environments/rel-dev/deployments", { release: pinned.json.id });
    expect({ status: local.status, code: local.json.error.code }).toEqual({ status: 400, code: "image_unsupported" });
  });

  it("a release reaches no further than its maker's scope, and only an admin records one", async () => {
    expect((await server.api("POST", "/v1/releases", { version: "v3", artifact: artifact("x") }, as("ci-deployer"))).json.error.code).toBe("insufficient_role");
    const scoped = await server.api("POST", "/v1/releases", { version: "v3", artifact: artifact("dev only") }, as("dev-admin"));
    expect(scoped.status).toBe(201);
    expect(scoped.json.scope).toEqual(["rel-dev"]);
    // Not into prod, whoever asks (an unscoped admin included): its maker could not choose what runs there.
    for (const who of ["ci-deployer", undefined]) {
      const res = await server.api("POST", "/v1/environments/rel-prod/deployments", { release: scoped.json.id }, who ? as(who) : {});
      expect({ status: res.status, code: res.json.error?.code }).toEqual({ status: 403, code: "release_out_of_scope" });
    }
    // Out of sight for a caller whose scope it does not share; in sight (and deployable) for one whose it does.
    expect((await server.api("GET", `/v1/releases/${scoped.json.id}`, undefined, as("prod-viewer"))).status).toBe(404);
    const listed = (await server.api("GET", "/v1/releases", undefined, as("prod-viewer"))).json.releases.map((r: { id: string }) => r.id);
    expect(listed).toContain(v2);
    expect(listed).not.toContain(scoped.json.id);
    expect((await server.api("GET", `/v1/releases/${scoped.json.id}`, undefined, as("dev-viewer"))).status).toBe(200);
    expect((await server.api("POST", "/v1/environments/rel-prod/deployments", { release: v2 }, as("dev-deployer"))).json.error.code).toBe("environment_out_of_scope");
    const dev = await server.api("POST", "/v1/environments/rel-dev/deployments", { release: scoped.json.id }, as("dev-deployer"));
    expect(dev.status).toBe(202);
    expect(await waitForDeployment(server, dev.json.id, "terminal")).toMatchObject({ state: "succeeded", version: "v3" });
    // A viewer sees that a secret is there, never its value, nor the artifact's other values.
    const seen = (await server.api("GET", `/v1/releases/${v2}`, undefined, as("dev-viewer"))).json;
    expect(JSON.stringify(seen)).not.toContain(SECRET);
    expect(JSON.stringify(seen)).not.toContain("hello");
    const audit = (await server.api("GET", "/v1/audit?limit=50")).json.entries as { action: string }[];
    expect(audit.filter((e) => e.action === "release.create").length).toBeGreaterThanOrEqual(2);
  });
});

// One suite for every journal adapter: the SQLite file and a real
// PostgreSQL server. Both must behave the same to the domain.
import { randomBytes } from "node:crypto";
import type { Deployment, DeploymentEvent, Environment } from "../../server/deployments/model";
import { failCreation, intendTraffic, markDeleting, markReady, settleTraffic } from "../../server/deployments/environment-changes";
import { openJournal, type Journal } from "../../server/store/database";
import { DeploymentStore } from "../../server/store/deployment-store";
import { EnvironmentStore } from "../../server/store/environment-store";
import { IdempotencyStore } from "../../server/store/idempotency-store";
import { TokenStore } from "../../server/store/token-store";
import { LeaseStore } from "../../server/store/lease-store";
import { MIGRATION_NAMES } from "../../server/store/migrations";
import { DeploymentRequestStore } from "../../server/store/deployment-request-store";
import { FencedOffError, runFenced } from "../../server/deployments/fencing";
import { RunStore, ScheduleStore } from "../../server/store/schedule-store";
import { OperationStore } from "../../server/store/operation-store";
import { DeliveryStore, WebhookStore } from "../../server/store/webhook-store";
import { ChatIdentityStore } from "../../server/store/chat-store";
import { AuditStore } from "../../server/store/audit-store";
import { ReleaseStore } from "../../server/store/release-store";
import { AnnouncementStore, PipelineStore } from "../../server/store/pipeline-store";
import type { Release } from "../../server/releases/release";
import type { Schedule } from "../../server/schedules/ports";
import type { Operation } from "../../server/environments/ports";
import { SecretBox } from "../../server/secrets/secret-box";
import { startPostgres, type PostgresServer } from "../helpers/postgres";
import { tempDir } from "../helpers/temp-dir";

let postgres: PostgresServer;
beforeAll(async () => {
  postgres = await startPostgres();
}, 60_000);
afterAll(() => postgres?.stop());

const fresh = () => `j${randomBytes(5).toString("hex")}`;

const ADAPTERS: [string, () => Promise<Journal>][] = [
  ["sqlite", () => openJournal({ dataDir: tempDir("journal") })],
  ["postgres", async () => openJournal({ dataDir: tempDir("journal"), databaseUrl: await postgres.createDatabase(fresh()) })],
];

function environment(name: string): Environment {
  const now = new Date().toISOString();
  return {
    name,
    spec: { name, target: "local" } as Environment["spec"],
    status: "creating",
    weights: { blue: 0, green: 0 },
    fleets: {},
    createdAt: now,
    updatedAt: now,
  };
}

function deployment(environmentName: string, version: string): Deployment {
  const now = new Date().toISOString();
  return {
    id: `dep_${randomBytes(6).toString("hex")}`,
    environment: environmentName,
    version,
    artifact: { command: ["app"] },
    strategy: { type: "blue-green" },
    kind: "deploy",
    state: "queued",
    phase: "queued",
    steps: [{ weight: 100 }],
    createdAt: now,
    updatedAt: now,
  };
}

describe.each(ADAPTERS)("journal on %s", (_name, open) => {
  let journal: Journal;
  beforeEach(async () => {
    journal = await open();
  });
  afterEach(() => journal.close());

  it("keeps environments: insert once, read, update atomically, remove", async () => {
    const store = new EnvironmentStore(journal.db, journal.dialect);
    expect(await store.insert(environment("shop"))).toBe(true);
    expect(await store.insert(environment("shop"))).toBe(false);
    await store.insert(environment("api"));
    expect((await store.list()).map((e) => e.name)).toEqual(["api", "shop"]);
    await store.update("shop", markReady());
    await store.update("shop", settleTraffic({ blue: 100, green: 0 }, undefined, false, "now"));
    const updated = await store.update("shop", intendTraffic({ blue: 0, green: 100 }, undefined, "now"));
    expect(updated).toMatchObject({ status: "ready" });
    expect(await store.get("shop")).toMatchObject({ status: "ready", weights: { blue: 100, green: 0 }, trafficIntent: { weights: { blue: 0, green: 100 } } });
    // Concurrent read-modify-write transactions lose no update.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        // A change relative to what is stored (no transition of the domain is), so a lost update would show.
        store.update("shop", {
          transition: "traffic_settled",
          apply: (e) => (e.weights = { blue: e.weights.blue - 1, green: e.weights.green + 1 }),
        }),
      ),
    );
    expect((await store.get("shop"))?.weights).toEqual({ blue: 80, green: 20 });
    await expect(store.update("nope", markReady())).rejects.toThrow(/vanished/);
    await store.remove("shop");
    expect(await store.get("shop")).toBeUndefined();
  });

  it("finds the environments whose ttl has run out once they are ready or failed", async () => {
    const store = new EnvironmentStore(journal.db, journal.dialect);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const made = (name: string, ttl?: string): Environment => {
      const env = environment(name);
      return { ...env, spec: { ...env.spec, ...(ttl ? { ttl } : {}) }, createdAt: hourAgo };
    };
    for (const env of [made("past", "30m"), made("future", "2h"), made("forever"), made("broken", "1m")]) await store.insert(env);
    const now = new Date();
    // Still being created, none expires.
    expect(await store.expired(now)).toEqual([]);
    for (const name of ["past", "future", "forever"]) await store.update(name, markReady());
    await store.update("broken", failCreation({ code: "environment_create_failed", message: "broken" }));
    expect((await store.expired(now)).map((e) => e.name)).toEqual(["broken", "past"]);
    expect((await store.expired(now))[1]).toMatchObject({ status: "ready", spec: { ttl: "30m" } });
    expect((await store.expired(new Date(now.getTime() + 3 * 3_600_000))).map((e) => e.name)).toEqual(["broken", "past", "future"]);
    // Being deleted, it is no longer due.
    await store.update("past", markDeleting());
    expect((await store.expired(now)).map((e) => e.name)).toEqual(["broken"]);
  });

  it("tells which names are environments", async () => {
    const store = new EnvironmentStore(journal.db, journal.dialect);
    await store.insert(environment("shop"));
    await store.insert(environment("api"));
    expect(await store.existing([])).toEqual(new Set());
    expect(await store.existing(["shop", "gone", "api", "shop"])).toEqual(new Set(["shop", "api"]));
    await store.remove("shop");
    expect(await store.existing(["shop", "api"])).toEqual(new Set(["api"]));
  });

  it("keeps deployments in order, finds the unfinished ones, filters lists", async () => {
    const store = new DeploymentStore(journal.db, journal.dialect);
    const a = deployment("shop", "v1");
    const b = deployment("shop", "v2");
    const c = deployment("api", "v1");
    for (const d of [a, b, c]) await store.insert(d);
    a.state = "succeeded";
    a.phase = "done";
    await store.save(a);
    expect((await store.get(a.id))?.state).toBe("succeeded");
    expect((await store.unfinished("shop")).map((d) => d.id)).toEqual([b.id]);
    expect((await store.unfinished()).map((d) => d.id)).toEqual([b.id, c.id]);
    expect((await store.forEnvironment("shop")).map((d) => d.version)).toEqual(["v2", "v1"]);
    expect((await store.list({ state: "queued", limit: 10 })).map((d) => d.id)).toEqual([c.id, b.id]);
    expect((await store.list({ environment: "api", limit: 10 })).map((d) => d.id)).toEqual([c.id]);
    expect(await store.get("dep_missing")).toBeUndefined();
  });

  it("counts deployments by state, and hands requests to a running deployment over once, in order", async () => {
    const store = new DeploymentStore(journal.db, journal.dialect);
    const a = deployment("shop", "v1");
    await store.insert(a);
    await store.insert(deployment("shop", "v2"));
    a.state = "succeeded";
    await store.save(a);
    expect(await store.countByState()).toEqual({ queued: 1, succeeded: 1 });
    const requests = new DeploymentRequestStore(journal.db);
    await requests.add({ deploymentId: a.id, action: "pause" });
    await requests.add({ deploymentId: a.id, action: "abort", reason: "bad canary" });
    await requests.add({ deploymentId: "dep_other", action: "promote" });
    const taken = await Promise.all([requests.take(a.id), requests.take(a.id)]);
    expect(taken.flat()).toEqual([
      { deploymentId: a.id, action: "pause", reason: undefined },
      { deploymentId: a.id, action: "abort", reason: "bad canary" },
    ]);
    expect(await requests.take("dep_other")).toHaveLength(1);
  });

  it("appends events with increasing ids and reads them after an id", async () => {
    const store = new DeploymentStore(journal.db, journal.dialect);
    const d = deployment("shop", "v1");
    await store.insert(d);
    const events = [];
    for (const type of ["deployment:queued", "deployment:phase", "deployment:succeeded"]) {
      events.push(await store.appendEvent({ deploymentId: d.id, environment: "shop", type, at: new Date().toISOString(), data: { type } }));
    }
    expect(events[1].id).toBeGreaterThan(events[0].id);
    expect(typeof events[0].id).toBe("number");
    expect((await store.events(d.id)).map((e) => e.type)).toEqual(["deployment:queued", "deployment:phase", "deployment:succeeded"]);
    expect((await store.events(d.id, events[0].id)).map((e) => e.id)).toEqual([events[1].id, events[2].id]);
    expect((await store.events(d.id, 0, 1))[0].data).toEqual({ type: "deployment:queued" });
  });

  it("saves a deployment and its events in one write, or neither", async () => {
    const store = new DeploymentStore(journal.db, journal.dialect);
    const d = deployment("shop", "v1");
    await store.insert(d);
    const at = new Date().toISOString();
    const ended = { ...d, state: "succeeded" as const, phase: "done" as const };
    const stored = await store.saveWithEvents(ended, [
      { deploymentId: d.id, environment: "shop", type: "deployment:phase", at, data: { phase: "done" } },
      { deploymentId: d.id, environment: "shop", type: "deployment:succeeded", at, data: {} },
    ]);
    expect(stored.map((e) => e.type)).toEqual(["deployment:phase", "deployment:succeeded"]);
    expect(stored[1].id).toBeGreaterThan(stored[0].id);
    expect((await store.get(d.id))?.state).toBe("succeeded");
    expect((await store.events(d.id)).map((e) => e.id)).toEqual(stored.map((e) => e.id));
    // An event the database refuses takes the document's change with it.
    const refused: Omit<DeploymentEvent, "id"> = { deploymentId: d.id, environment: null as unknown as string, type: "deployment:failed", at, data: {} };
    await expect(store.saveWithEvents({ ...ended, state: "failed" }, [refused])).rejects.toThrow();
    expect((await store.get(d.id))?.state).toBe("succeeded");
    expect(await store.events(d.id)).toHaveLength(2);
  });

  it("claims an idempotency key once, keeps the response, and forgets released or old ones", async () => {
    const store = new IdempotencyStore(journal.db);
    const req = { method: "POST", path: "/v1/x", requestHash: "h1" };
    const claims = await Promise.all([store.claim("p", "k", req), store.claim("p", "k", req)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.get("p", "k")).toMatchObject({ status: 0, requestHash: "h1" });
    await store.complete("p", "k", { status: 202, body: { id: "dep_1" } });
    expect(await store.get("p", "k")).toMatchObject({ status: 202, body: { id: "dep_1" } });
    // A completed key is not released; another principal's key is its own.
    await store.release("p", "k");
    expect(await store.get("p", "k")).toBeDefined();
    expect(await store.claim("q", "k", req)).toBe(true);
    await store.release("q", "k");
    expect(await store.get("q", "k")).toBeUndefined();
    await store.prune(new Date(Date.now() + 1000));
    expect(await store.get("p", "k")).toBeUndefined();
  });

  it("gives an environment's lease to one holder at a time, with a growing token", async () => {
    const leases = new LeaseStore(journal.db, journal.dialect);
    const attempts = await Promise.all(["a", "b", "c"].map((h) => leases.acquire("shop", h, 60_000)));
    const winners = attempts.filter((l) => l !== undefined);
    expect(winners).toHaveLength(1);
    const first = winners[0]!;
    expect(await leases.acquire("shop", first.holder === "a" ? "b" : "a", 60_000)).toBeUndefined();
    expect(await leases.renew(first, 60_000)).toBe(true);
    // Released (or expired), the lease goes to the next holder with a larger token; the old one cannot renew it.
    await leases.release(first);
    const second = (await leases.acquire("shop", "z", 200))!;
    expect(second.token).toBeGreaterThan(first.token);
    expect(await leases.renew(first, 60_000)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    const third = (await leases.acquire("shop", "y", 60_000))!;
    expect(third.token).toBeGreaterThan(second.token);
    expect(await leases.current("shop")).toMatchObject({ holder: "y", token: third.token });
    // Other environments are independent.
    expect(await leases.acquire("api", "z", 60_000)).toBeDefined();
  });

  it("refuses every write of fenced work whose token is no longer the lease's", async () => {
    const leases = new LeaseStore(journal.db, journal.dialect);
    const environments = new EnvironmentStore(journal.db, journal.dialect);
    const deployments = new DeploymentStore(journal.db, journal.dialect);
    await environments.insert(environment("shop"));
    const d = deployment("shop", "v1");
    await deployments.insert(d);
    const old = (await leases.acquire("shop", "old", 60_000))!;
    const asOld = <T>(work: () => Promise<T>) => runFenced({ environment: "shop", token: old.token }, work);
    await asOld(() => environments.update("shop", markReady()));
    await leases.release(old);
    const current = (await leases.acquire("shop", "new", 60_000))!;
    const event = { deploymentId: d.id, environment: "shop", type: "deployment:phase", at: new Date().toISOString(), data: {} };
    await expect(asOld(() => environments.update("shop", markDeleting()))).rejects.toThrow(FencedOffError);
    await expect(asOld(() => deployments.save({ ...d, state: "running" }))).rejects.toThrow(FencedOffError);
    await expect(asOld(() => deployments.appendEvent(event))).rejects.toThrow(FencedOffError);
    await expect(asOld(() => environments.remove("shop"))).rejects.toThrow(FencedOffError);
    expect(await environments.get("shop")).toMatchObject({ status: "ready" });
    expect((await deployments.get(d.id))?.state).toBe("queued");
    expect(await deployments.events(d.id)).toEqual([]);
    // The holder's own fenced work, and unfenced work (an API call), go through.
    await runFenced({ environment: "shop", token: current.token }, () => deployments.appendEvent(event));
    await deployments.appendEvent(event);
    expect(await deployments.events(d.id)).toHaveLength(2);
  });

  it("keeps token hashes, finds active ones, revokes once", async () => {
    const store = new TokenStore(journal.db);
    const record = { id: "tok_1", name: "ci", role: "deployer" as const, environments: ["shop-*"], createdAt: new Date().toISOString() };
    await store.insert(record, "hash-1");
    expect(await store.byHash("hash-1")).toMatchObject({ id: "tok_1", environments: ["shop-*"] });
    expect(await store.revoke("tok_1")).toBe(true);
    expect(await store.revoke("tok_1")).toBe(false);
    expect(await store.byHash("hash-1")).toBeUndefined();
    expect((await store.list())[0].revokedAt).toBeDefined();
  });

  it("lets one of many claimants fire a schedule's time, and records one run per time", async () => {
    const schedules = new ScheduleStore(journal.db);
    const runs = new RunStore(journal.db);
    const now = new Date().toISOString();
    const s: Schedule = { id: "sch_1", environment: "shop", kind: "refresh", cron: "* * * * *", timezone: "UTC", startingDeadline: "10m", paused: false, nextRunAt: "2026-01-01T00:00:00.000Z", createdAt: now, updatedAt: now };
    await schedules.insert(s);
    expect((await schedules.due(new Date("2026-01-01T00:00:01Z"))).map((x) => x.id)).toEqual(["sch_1"]);
    expect(await schedules.due(new Date("2025-12-31T23:59:59Z"))).toEqual([]);
    const claims = await Promise.all([0, 1, 2, 3].map(() => schedules.advance("sch_1", s.nextRunAt!, "2026-01-01T00:01:00.000Z")));
    expect(claims.filter(Boolean)).toHaveLength(1);
    const run = { scheduleId: "sch_1", environment: "shop", scheduledAt: s.nextRunAt!, state: "running" as const, data: {} };
    const inserted = await Promise.all([0, 1, 2].map((i) => runs.insert({ ...run, id: `run_${i}` })));
    expect(inserted.filter(Boolean)).toHaveLength(1);
    const [only] = await runs.forSchedule("sch_1", 10);
    await runs.setOperation(only.id, "op_1");
    expect((await runs.byOperation("op_1")).map((r) => r.id)).toEqual([only.id]);
    expect(await runs.finish(only.id, "succeeded")).toMatchObject({ state: "succeeded" });
    expect(await runs.finish(only.id, "failed")).toBeUndefined();
    await schedules.setPaused("sch_1", true, undefined);
    expect(await schedules.due(new Date("2027-01-01T00:00:00Z"))).toEqual([]);
  });

  it("queues an environment's operations in order, and fails those left when the environment goes", async () => {
    const operations = new OperationStore(journal.db);
    const op = (id: string, environment: string): Operation => {
      const now = new Date().toISOString();
      return { id, environment, kind: "refresh", state: "queued", onDrift: "report", createdAt: now, updatedAt: now };
    };
    for (const o of [op("op_1", "shop"), op("op_2", "shop"), op("op_3", "docs")]) await operations.insert(o);
    expect((await operations.next("shop"))?.id).toBe("op_1");
    await operations.save({ ...op("op_1", "shop"), state: "succeeded" });
    expect((await operations.next("shop"))?.id).toBe("op_2");
    expect((await operations.pendingEnvironments()).sort()).toEqual(["docs", "shop"]);
    const error = { code: "environment_not_found", message: "gone" };
    expect((await operations.failPending("shop", error)).map((o) => o.id)).toEqual(["op_2"]);
    expect(await operations.failPending("shop", error)).toEqual([]);
    expect(await operations.get("op_2")).toMatchObject({ state: "failed", error });
    expect(await operations.pendingEnvironments()).toEqual(["docs"]);
  });

  it("hands each due webhook delivery to one claimant, and again once its claim expires", async () => {
    const webhooks = new WebhookStore(journal.db, new SecretBox("contract-test"));
    const deliveries = new DeliveryStore(journal.db);
    const now = new Date("2026-01-01T00:00:00Z");
    await webhooks.insert({ id: "wh_1", url: "https://example.com/h", format: "standard", events: ["deployment.succeeded"], createdAt: now.toISOString() }, "sealed");
    for (const i of [1, 2, 3]) {
      await deliveries.enqueue({ id: `msg_${i}`, webhookId: "wh_1", eventType: "deployment.succeeded", payload: { i }, state: "pending", attempts: [], nextAttemptAt: now.toISOString(), createdAt: now.toISOString() });
    }
    const until = new Date(now.getTime() + 30_000);
    const claims = await Promise.all([0, 1, 2, 3].map(() => deliveries.claimDue(now, until, 10)));
    expect(claims.flat().map((d) => d.id).sort()).toEqual(["msg_1", "msg_2", "msg_3"]);
    expect(await deliveries.claimDue(new Date(now.getTime() + 1000), until, 10)).toEqual([]);
    // A claimant that died: its claims come due again after they expire.
    expect((await deliveries.claimDue(new Date(now.getTime() + 31_000), new Date(now.getTime() + 60_000), 10)).map((d) => d.id).sort()).toEqual(["msg_1", "msg_2", "msg_3"]);
    await deliveries.recordAttempt("msg_1", { at: now.toISOString(), status: 500, durationMs: 3 }, { state: "pending", nextAttemptAt: new Date(now.getTime() + 5000) });
    expect(await deliveries.get("msg_1")).toMatchObject({ state: "pending", attempts: [{ status: 500 }] });
    await deliveries.recordAttempt("msg_2", { at: now.toISOString(), status: 204, durationMs: 3 }, { state: "delivered" });
    expect((await deliveries.forWebhook("wh_1", 10)).map((d) => d.state)).toEqual(["delivering", "delivered", "pending"]);
    expect((await webhooks.list())[0].url).toBe("https://example.com/h");
    const raw = await journal.db.selectFrom("webhooks").select("url").executeTakeFirstOrThrow();
    expect(raw.url).not.toContain("example.com");
    // A restarted replica frees its own claims at once (its sends died with it), and nobody else's.
    const later = new Date(now.getTime() + 70_000);
    const mine = await deliveries.claimDue(later, new Date(later.getTime() + 30_000), 10, "replica-a");
    expect(mine.map((d) => d.id)).toEqual(["msg_1", "msg_3"]);
    expect(await deliveries.releaseClaims("replica-b", later)).toBe(0);
    expect(await deliveries.releaseClaims("replica-a", later)).toBe(2);
    expect((await deliveries.claimDue(later, new Date(later.getTime() + 30_000), 10, "replica-b")).map((d) => d.id)).toEqual(["msg_1", "msg_3"]);
    await webhooks.disable("wh_1", "gone");
    expect((await webhooks.get("wh_1"))?.webhook.disabledReason).toBe("gone");
  });

  it("links a chat user once, and keeps an audit trail newest first", async () => {
    const identities = new ChatIdentityStore(journal.db);
    const identity = { id: "chi_1", provider: "slack" as const, team: "T1", user: "U1", role: "deployer" as const, environments: ["shop"], createdAt: new Date().toISOString() };
    expect(await identities.insert(identity)).toBe(true);
    expect(await identities.insert({ ...identity, id: "chi_2" })).toBe(false);
    expect(await identities.find("slack", "T1", "U1")).toMatchObject({ id: "chi_1", environments: ["shop"] });
    expect(await identities.find("mattermost", "T1", "U1")).toBeUndefined();
    expect(await identities.remove("chi_1")).toBe(true);
    const audit = new AuditStore(journal.db);
    await audit.append({ actor: { name: "dana", id: "chi_1", kind: "chat", provider: "slack" }, action: "deployment.create", environment: "shop", subject: "dep_1", data: {} });
    await audit.append({ actor: { kind: "token", id: "admin", name: "admin" }, action: "token.create", data: {} });
    expect((await audit.list({ limit: 10 })).map((e) => e.action)).toEqual(["token.create", "deployment.create"]);
    expect((await audit.list({ limit: 10, actorKind: "chat" })).map((e) => e.subject)).toEqual(["dep_1"]);
    expect((await audit.list({ limit: 10, environment: "shop" }))[0].actor).toEqual({ kind: "chat", id: "chi_1", name: "dana", provider: "slack" });
  });

  it("records a release once per version, finds it by id and version, and lists newest first", async () => {
    const releases = new ReleaseStore(journal.db);
    const release = (id: string, version: string, createdAt: string): Release => ({
      id,
      version,
      artifact: { command: ["app"] },
      provenance: {},
      digest: `sha256:${id}`,
      createdBy: { kind: "token", id: "admin", name: "admin" },
      createdAt,
    });
    expect(await releases.insert(release("rel_1", "v1", "2026-01-01T00:00:00.000Z"))).toBe(true);
    expect(await releases.insert(release("rel_2", "v1", "2026-01-01T00:00:01.000Z"))).toBe(false);
    expect(await releases.insert(release("rel_3", "v2", "2026-01-02T00:00:00.000Z"))).toBe(true);
    expect(await releases.get("rel_1")).toEqual(release("rel_1", "v1", "2026-01-01T00:00:00.000Z"));
    expect((await releases.byVersion("v2"))?.id).toBe("rel_3");
    expect(await releases.get("rel_2")).toBeUndefined();
    expect((await releases.list({ limit: 10 })).map((r) => r.id)).toEqual(["rel_3", "rel_1"]);
    expect((await releases.list({ limit: 10, before: "2026-01-02T00:00:00.000Z" })).map((r) => r.id)).toEqual(["rel_1"]);
  });

  it("declares a pipeline once by name and replaces it whole", async () => {
    const pipelines = new PipelineStore(journal.db);
    const createdBy = { kind: "token" as const, id: "admin", name: "admin" };
    const stages = [
      { environment: "dev", promotion: "manual" as const, soak: "0s" },
      { environment: "prod", promotion: "manual" as const, soak: "1h" },
    ];
    expect(await pipelines.put({ name: "shop", stages, createdBy, updatedAt: "2026-01-01T00:00:00.000Z" })).toBe(true);
    expect(await pipelines.put({ name: "shop", stages: stages.slice(0, 1), createdBy, updatedAt: "2026-01-02T00:00:00.000Z" })).toBe(false);
    expect(await pipelines.get("shop")).toEqual({ name: "shop", stages: stages.slice(0, 1), createdBy, updatedAt: "2026-01-02T00:00:00.000Z" });
    expect(await pipelines.put({ name: "api", stages, createdBy, updatedAt: "2026-01-03T00:00:00.000Z" })).toBe(true);
    expect((await pipelines.list()).map((p) => p.name)).toEqual(["api", "shop"]);
    expect(await pipelines.get("nope")).toBeUndefined();
    const hold = { by: createdBy, at: "2026-01-04T00:00:00.000Z", release: { id: "rel_1", version: "v1" } };
    await pipelines.setHold("shop", "dev", hold);
    expect((await pipelines.get("shop"))?.holds).toEqual({ dev: hold });
    await pipelines.setHold("shop", "dev", undefined);
    expect((await pipelines.get("shop"))?.holds).toBeUndefined();
  });

  it("makes an announcement once, whoever asks at the same moment", async () => {
    const announcements = new AnnouncementStore(journal.db);
    const key = `eligible/shop/prod/rel_${randomBytes(8).toString("hex")}`;
    const first = await Promise.all([0, 1, 2].map(() => announcements.once(key)));
    expect(first.filter(Boolean)).toHaveLength(1);
    expect(await announcements.once(key)).toBe(false);
    expect(await announcements.once(`${key}x`)).toBe(true);
  });
});

describe("journal migrations on postgres", () => {
  it("apply once when several replicas start at the same moment", async () => {
    const url = await postgres.createDatabase(fresh());
    const journals = await Promise.all(Array.from({ length: 4 }, () => openJournal({ dataDir: tempDir("journal"), databaseUrl: url })));
    const applied = await journals[0].db.selectFrom("kysely_migration" as never).selectAll().execute();
    expect(applied.map((m) => (m as { name: string }).name)).toEqual(MIGRATION_NAMES);
    await Promise.all(journals.map((j) => j.close()));
  });

  it("refuses an unreachable database with a clear error", async () => {
    await expect(openJournal({ dataDir: tempDir("journal"), databaseUrl: "postgres://nobody@%2Fnonexistent-socket-dir/none" })).rejects.toThrow();
  });
});

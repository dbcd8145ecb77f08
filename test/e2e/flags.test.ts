// Feature flags end to end: set through the API, evaluated through the
// official OpenFeature server SDK with its OFREP provider against a running
// Cutover (no imitation of the client): every type, rules, sticky
// percentages, the kill switch, the error codes as the SDK surfaces them,
// bulk evaluation with ETags, history and audit, and ramps, one of them
// switched off by the built-in error rate of the version serving the flag.
import { OpenFeature, type Client } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startLoad } from "../helpers/load";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { fixtureApp } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(10 * 60_000);

let server: RunningServer;
const mark = uniqueMark();
const tokens: Record<string, string> = {};
const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);

async function clientFor(name: string, token: string, headers: [string, string][] = []): Promise<Client> {
  const provider = new OFREPProvider({ baseUrl: server.url, headers: [["Authorization", `Bearer ${token}`], ...headers] });
  await OpenFeature.setProviderAndWait(name, provider);
  return OpenFeature.getClient(name);
}

const putFlag = (key: string, flag: Record<string, unknown>, env = "flagship", headers: Record<string, string> = {}) =>
  server.api("PUT", `/v1/environments/${env}/flags/${key}`, flag, headers);

const ofrep = (path: string, body: string, token: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/ofrep/v1/evaluate/${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers }, body });

beforeAll(async () => {
  server = await startServer({ env: { CUTOVER_FLAGS_RATE_LIMIT: "1000" } });
  for (const name of ["flagship", "other-env"]) {
    expect((await server.api("POST", "/v1/environments", await environmentSpec(name, mark))).status).toBe(201);
  }
  await Promise.all(["flagship", "other-env"].map((n) => waitForEnvironment(server, n, "ready")));
  const mint = async (name: string, role: string, environments?: string[]) =>
    (tokens[name] = (await server.api("POST", "/v1/tokens", { name, role, ...(environments ? { environments } : {}) })).json.token);
  await mint("app", "flags-reader", ["flagship"]);
  await mint("burst", "flags-reader", ["flagship"]);
  await mint("throttled", "flags-reader", ["flagship"]);
  await mint("both", "flags-reader", ["flagship", "other-env"]);
  await mint("other", "flags-reader", ["other-env"]);
  await mint("ops", "deployer", ["flagship"]);
});

afterAll(async () => {
  await OpenFeature.close();
  await server?.stop();
});

describe("managing flags", () => {
  it("creates, replaces, lists and versions flags, and refuses inconsistent ones with clear errors", async () => {
    const created = await putFlag("new-checkout", {
      enabled: true,
      variants: { on: true, off: false },
      defaultVariant: "off",
      rollout: { variant: "on", percentage: 25 },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ key: "new-checkout", version: 1, rollout: { stickiness: "targetingKey" }, updatedBy: { name: "admin" } });
    expect(created.headers.etag).toBe('"1"');
    expect(
      (
        await putFlag("theme", {
          enabled: true,
          description: "colour scheme",
          variants: { light: "light", dark: "dark", contrast: "high-contrast" },
          defaultVariant: "light",
          rules: [
            { name: "staff", conditions: [{ attribute: "email", operator: "ends_with", values: ["@example.com"] }], variant: "dark" },
            { conditions: [{ attribute: "appVersion", operator: "semver_gte", values: ["3.0.0"] }, { attribute: "plan", operator: "in", values: ["pro"] }], variant: "contrast" },
          ],
        })
      ).status,
    ).toBe(201);
    expect((await putFlag("max-items", { enabled: true, variants: { small: 10, large: 50.5 }, defaultVariant: "small", rules: [{ conditions: [{ attribute: "age", operator: "gte", values: [18] }], variant: "large" }] })).status).toBe(201);
    expect((await putFlag("banner", { enabled: true, variants: { none: {}, sale: { text: "50% off", colors: ["red"] } }, defaultVariant: "sale" })).status).toBe(201);

    const mixed = await putFlag("bad", { enabled: true, variants: { a: true, b: "x" }, defaultVariant: "a" });
    expect(mixed.status).toBe(422);
    expect(mixed.json.error).toMatchObject({ code: "flag_invalid", message: expect.stringContaining("one type") });
    const unknown = await putFlag("bad", { enabled: true, variants: { a: true }, defaultVariant: "b" });
    expect(unknown.json.error).toMatchObject({ code: "flag_invalid", message: expect.stringContaining('variant "b"') });
    const operator = await putFlag("bad", { enabled: true, variants: { a: true }, defaultVariant: "a", rules: [{ conditions: [{ attribute: "x", operator: "regex", values: ["."] }], variant: "a" }] });
    expect(operator.status).toBe(400);
    expect(operator.json.error.code).toBe("validation_failed");
    const semverBound = await putFlag("bad", { enabled: true, variants: { a: true }, defaultVariant: "a", rules: [{ conditions: [{ attribute: "v", operator: "semver_gt", values: ["three"] }], variant: "a" }] });
    expect(semverBound.json.error.code).toBe("validation_failed");
    expect((await putFlag("x", { enabled: true, variants: { a: true }, defaultVariant: "a" }, "nowhere")).json.error.code).toBe("environment_not_found");

    // A stale If-Match loses nothing: the flag stays as it was.
    const stale = await putFlag("theme", { enabled: false, variants: { light: "light" }, defaultVariant: "light" }, "flagship", { "if-match": '"7"' });
    expect(stale.status).toBe(409);
    expect(stale.json.error).toMatchObject({ code: "flag_version_mismatch", details: { version: 1 } });
    expect((await server.api("GET", "/v1/environments/flagship/flags/theme")).json.enabled).toBe(true);

    const list = await server.api("GET", "/v1/environments/flagship/flags");
    expect(list.json.flags.map((f: { key: string }) => f.key)).toEqual(["banner", "max-items", "new-checkout", "theme"]);
    // A flags-reader token evaluates flags and does nothing else.
    const asApp = await fetch(`${server.url}/v1/environments/flagship/flags`, { headers: { authorization: `Bearer ${tokens.app}` } });
    expect(asApp.status).toBe(403);
  });
});

describe("evaluating through the OpenFeature SDK over OFREP", () => {
  let client: Client;
  beforeAll(async () => {
    client = await clientFor("app", tokens.app);
  });

  it("evaluates every type, with rules and reasons", async () => {
    expect(await client.getStringDetails("theme", "fallback", { targetingKey: "u1", email: "dev@example.com" })).toMatchObject({ value: "dark", variant: "dark", reason: "TARGETING_MATCH" });
    expect(await client.getStringValue("theme", "fallback", { targetingKey: "u1", appVersion: "3.1.0", plan: "pro" })).toBe("high-contrast");
    expect(await client.getStringValue("theme", "fallback", { targetingKey: "u1", appVersion: "2.9.0", plan: "pro" })).toBe("light");
    expect(await client.getStringDetails("theme", "fallback", { targetingKey: "u1" })).toMatchObject({ value: "light", reason: "DEFAULT" });
    expect(await client.getNumberValue("max-items", 0, { targetingKey: "u1", age: 30 })).toBe(50.5);
    expect(await client.getNumberValue("max-items", 0, { targetingKey: "u1", age: 12 })).toBe(10);
    expect(await client.getObjectDetails("banner", {}, { targetingKey: "u1" })).toMatchObject({ value: { text: "50% off", colors: ["red"] }, reason: "STATIC" });
    const details = await client.getBooleanDetails("new-checkout", false, { targetingKey: "u1" });
    expect(details).toMatchObject({ reason: "SPLIT", flagMetadata: { environment: "flagship", flagVersion: 1 } });
  });

  it("keeps percentage rollouts sticky: raising the percentage takes the feature from nobody", async () => {
    const had = async () => {
      const on = new Set<string>();
      for (const u of users) if (await client.getBooleanValue("new-checkout", false, { targetingKey: u })) on.add(u);
      return on;
    };
    const at25 = await had();
    expect(at25.size / users.length).toBeGreaterThan(0.15);
    expect(at25.size / users.length).toBeLessThan(0.35);
    expect(await had()).toEqual(at25);
    const current = (await server.api("GET", "/v1/environments/flagship/flags/new-checkout")).json;
    expect((await putFlag("new-checkout", { enabled: true, variants: current.variants, defaultVariant: "off", rollout: { variant: "on", percentage: 60 } }, "flagship", { "if-match": '"1"' })).status).toBe(200);
    const at60 = await had();
    for (const u of at25) expect(at60.has(u)).toBe(true);
    expect(at60.size).toBeGreaterThan(at25.size);
  });

  it("switches a flag off for every evaluation from the next request on, and records who did it", async () => {
    const ctx = { targetingKey: "u1", email: "dev@example.com" };
    expect(await client.getStringValue("theme", "fallback", ctx)).toBe("dark");
    const off = await fetch(`${server.url}/v1/environments/flagship/flags/theme/disable`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.ops}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "incident 42" }),
    });
    expect(off.status).toBe(200);
    expect(await client.getStringDetails("theme", "fallback", ctx)).toMatchObject({ value: "light", reason: "DISABLED" });
    expect((await server.api("POST", "/v1/environments/flagship/flags/theme/enable", {})).status).toBe(200);
    expect(await client.getStringValue("theme", "fallback", ctx)).toBe("dark");

    const history = (await server.api("GET", "/v1/environments/flagship/flags/theme/history")).json.changes;
    expect(history.map((c: { action: string }) => c.action)).toEqual(["enable", "disable", "create"]);
    expect(history[1]).toMatchObject({ version: 2, actor: { kind: "token", name: "ops" }, changed: ["enabled"], flag: { enabled: false } });
    const audit = (await server.api("GET", "/v1/audit?environment=flagship&action=flag.disable")).json.entries;
    expect(audit[0]).toMatchObject({ action: "flag.disable", subject: "theme", actor: { name: "ops" }, data: { version: 2 } });
  });

  it("surfaces the protocol's errors through the SDK", async () => {
    expect(await client.getBooleanDetails("no-such-flag", true, { targetingKey: "u1" })).toMatchObject({ value: true, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
    expect(await client.getBooleanDetails("new-checkout", false, {})).toMatchObject({ reason: "ERROR", errorCode: "TARGETING_KEY_MISSING" });
    expect(await client.getStringDetails("new-checkout", "x", { targetingKey: "u1" })).toMatchObject({ value: "x", errorCode: "TYPE_MISMATCH" });
    expect(await client.getBooleanDetails("new-checkout", false, { targetingKey: 42 as unknown as string })).toMatchObject({ errorCode: "INVALID_CONTEXT" });

    const stranger = await clientFor("stranger", "cut_not-a-real-token");
    expect(await stranger.getBooleanDetails("new-checkout", false, { targetingKey: "u1" })).toMatchObject({ reason: "ERROR", errorCode: "GENERAL" });
    const outsider = await clientFor("outsider", tokens.other, [["Cutover-Environment", "flagship"]]);
    expect(await outsider.getBooleanDetails("new-checkout", false, { targetingKey: "u1" })).toMatchObject({ reason: "ERROR", errorCode: "GENERAL" });
    expect((await ofrep("flags/new-checkout", JSON.stringify({ context: { targetingKey: "u1" } }), "cut_nope")).status).toBe(401);
    expect((await ofrep("flags/new-checkout", JSON.stringify({ context: { targetingKey: "u1" } }), tokens.other, { "cutover-environment": "flagship" })).status).toBe(403);

    const parse = await ofrep("flags/new-checkout", "{not json", tokens.app);
    expect(parse.status).toBe(400);
    expect(await parse.json()).toEqual({ key: "new-checkout", errorCode: "PARSE_ERROR", errorDetails: expect.any(String) });
    const notFound = await ofrep("flags/nope", JSON.stringify({ context: {} }), tokens.app);
    expect([notFound.status, ((await notFound.json()) as { errorCode: string }).errorCode]).toEqual([404, "FLAG_NOT_FOUND"]);
    // A token over two environments names one; without it the answer says so.
    const ambiguous = await ofrep("flags/new-checkout", JSON.stringify({ context: { targetingKey: "u1" } }), tokens.both);
    expect(ambiguous.status).toBe(400);
    expect(((await ambiguous.json()) as { errorDetails: string }).errorDetails).toMatch(/Cutover-Environment/);
    const named = await clientFor("both", tokens.both, [["Cutover-Environment", "flagship"]]);
    expect(await named.getStringValue("theme", "fallback", { targetingKey: "u1", email: "dev@example.com" })).toBe("dark");
  });

  it("answers 429 with Retry-After past the token's rate, and the SDK backs off", async () => {
    const body = JSON.stringify({ context: { targetingKey: "u1" } });
    let limited: { status: number; retryAfter: string | null; body: { errorDetails: string } } | undefined;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 2000 && !limited; i++) {
          const r = await ofrep("flags/theme", body, tokens.burst);
          const answer = (await r.json()) as { errorDetails: string };
          if (r.status === 429) limited = { status: r.status, retryAfter: r.headers.get("retry-after"), body: answer };
          else expect(r.status).toBe(200);
        }
      }),
    );
    expect(limited?.status).toBe(429);
    expect(Number(limited!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(limited!.body.errorDetails).toMatch(/too many evaluations/);

    const throttled = await clientFor("throttled", tokens.throttled);
    let refused: Awaited<ReturnType<Client["getStringDetails"]>> | undefined;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 2000 && !refused; i++) {
          const r = await throttled.getStringDetails("theme", "fallback", { targetingKey: "u1" });
          if (r.errorCode) refused = r;
        }
      }),
    );
    expect(refused).toMatchObject({ value: "fallback", reason: "ERROR", errorCode: "GENERAL", errorMessage: expect.stringMatching(/rate limit|TooManyRequests/i) });
  });

  it("bulk-evaluates every flag with an ETag, answering 304 until a flag changes", async () => {
    const body = JSON.stringify({ context: { targetingKey: "u1", email: "dev@example.com" } });
    const first = await ofrep("flags", body, tokens.app);
    expect(first.status).toBe(200);
    const etag = first.headers.get("etag")!;
    const result = (await first.json()) as any;
    expect(result.flags.map((f: { key: string }) => f.key)).toEqual(["banner", "max-items", "new-checkout", "theme"]);
    expect(result.flags.find((f: { key: string }) => f.key === "theme")).toMatchObject({ value: "dark", reason: "TARGETING_MATCH" });
    expect((await ofrep("flags", body, tokens.app, { "if-none-match": etag })).status).toBe(304);
    // Without a targetingKey the rollout flag fails alone; the others still answer.
    const partial = (await (await ofrep("flags", JSON.stringify({ context: {} }), tokens.app)).json()) as any;
    expect(partial.flags.find((f: { key: string }) => f.key === "new-checkout")).toMatchObject({ errorCode: "TARGETING_KEY_MISSING" });
    expect((await ofrep("flags", "[1]", tokens.app)).status).toBe(400);
    await server.api("POST", "/v1/environments/flagship/flags/banner/disable", {});
    const changed = await ofrep("flags", body, tokens.app, { "if-none-match": etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
  });
});

describe("ramps", () => {
  it("ramps a rollout up in steps with pauses and records every step", async () => {
    expect((await putFlag("search-v2", { enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 0 } })).status).toBe(201);
    const falling = await server.api("POST", "/v1/environments/flagship/flags/search-v2/ramps", { steps: [{ percentage: 0 }] });
    expect(falling.json.error.code).toBe("ramp_steps_not_rising");
    const started = await server.api("POST", "/v1/environments/flagship/flags/search-v2/ramps", { steps: [{ percentage: 10, pause: "1s" }, { percentage: 50, pause: "1s" }, { percentage: 100 }] });
    expect(started.status).toBe(202);
    expect((await server.api("POST", "/v1/environments/flagship/flags/search-v2/ramps", { steps: [{ percentage: 20 }] })).json.error.code).toBe("ramp_in_progress");
    const ramp = await waitFor("the ramp to succeed", async () => {
      const r = (await server.api("GET", `/v1/flag-ramps/${started.json.id}`)).json;
      return r.state === "succeeded" ? r : undefined;
    }, 60_000);
    expect(ramp.events.filter((e: { type: string }) => e.type === "ramp:step").map((e: { data: { percentage: number } }) => e.data.percentage)).toEqual([10, 50, 100]);
    expect((await server.api("GET", "/v1/environments/flagship/flags/search-v2")).json.rollout.percentage).toBe(100);
    const history = (await server.api("GET", "/v1/environments/flagship/flags/search-v2/history")).json.changes;
    expect(history.filter((c: { action: string }) => c.action === "ramp")).toHaveLength(3);
    expect(history[0].actor).toMatchObject({ kind: "system", id: started.json.id });
  });

  it("switches the flag off when the serving version's error rate fails the ramp's analysis", async () => {
    const v = await server.api("POST", "/v1/environments/flagship/deployments", {
      version: "v-faulty",
      artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, FAIL_RATE: "0.2" } },
    });
    await waitForDeployment(server, v.json.id, "succeeded");
    const env = await waitForEnvironment(server, "flagship", "ready");
    const load = startLoad(`${env.traffic.url}/work`, { concurrency: 2, maxMs: 120_000, maxRequests: 1_000_000 });
    try {
      await putFlag("risky", { enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 5 } });
      const started = await server.api("POST", "/v1/environments/flagship/flags/risky/ramps", {
        steps: [{ percentage: 25, pause: "20s" }, { percentage: 100 }],
        analysis: {
          interval: "1s",
          failureLimit: 1,
          inconclusiveLimit: 10,
          metrics: [{ name: "error-rate", provider: { builtin: { metric: "error-rate" } }, failureCondition: "result > 0.05" }],
        },
      });
      expect(started.status).toBe(202);
      const ramp = await waitFor("the ramp to fail", async () => {
        const r = (await server.api("GET", `/v1/flag-ramps/${started.json.id}`)).json;
        return r.state === "failed" ? r : undefined;
      }, 90_000);
      expect(ramp.reason).toMatch(/error-rate failed/);
      expect(ramp.events.some((e: { type: string; data: { outcome?: string } }) => e.type === "ramp:measurement" && e.data.outcome === "failed")).toBe(true);
      const flag = (await server.api("GET", "/v1/environments/flagship/flags/risky")).json;
      expect(flag).toMatchObject({ enabled: false, rollout: { percentage: 25 } });
      const history = (await server.api("GET", "/v1/environments/flagship/flags/risky/history")).json.changes;
      expect(history[0]).toMatchObject({ action: "disable", reason: expect.stringContaining("error-rate") });
      const client = await clientFor("after-ramp", tokens.app);
      expect(await client.getBooleanDetails("risky", true, { targetingKey: "u1" })).toMatchObject({ value: false, reason: "DISABLED" });
    } finally {
      await load.stop();
    }
  });

  it("aborts a ramp and puts the rollout back where it began", async () => {
    await putFlag("slow", { enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 3 } });
    const started = await server.api("POST", "/v1/environments/flagship/flags/slow/ramps", { steps: [{ percentage: 30, pause: "10m" }, { percentage: 100 }] });
    await waitFor("the first step", async () => ((await server.api("GET", "/v1/environments/flagship/flags/slow")).json.rollout.percentage === 30 ? true : undefined), 30_000);
    const aborted = await server.api("POST", `/v1/flag-ramps/${started.json.id}/abort`, { reason: "not today" });
    expect(aborted.status).toBe(200);
    expect(aborted.json).toMatchObject({ state: "aborted", reason: "not today" });
    expect((await server.api("GET", "/v1/environments/flagship/flags/slow")).json.rollout.percentage).toBe(3);
    expect((await server.api("POST", `/v1/flag-ramps/${started.json.id}/abort`, {})).json.error.code).toBe("ramp_finished");
    expect((await server.api("GET", "/v1/environments/flagship/flags/slow/ramps")).json.ramps).toHaveLength(1);
  });
});

describe("an environment's deletion", () => {
  it("takes its flags with it: cached evaluations end with the environment", async () => {
    expect((await putFlag("leftover", { enabled: true, variants: { on: true, off: false }, defaultVariant: "on" }, "other-env")).status).toBe(201);
    const client = await clientFor("other", tokens.other);
    expect(await client.getBooleanValue("leftover", false, { targetingKey: "u1" })).toBe(true);
    expect((await server.api("DELETE", "/v1/environments/other-env")).status).toBe(202);
    await waitFor("the environment to be gone", async () => ((await server.api("GET", "/v1/environments/other-env")).status === 404 ? true : undefined), 60_000);
    expect(await client.getBooleanDetails("leftover", false, { targetingKey: "u1" })).toMatchObject({ value: false, errorCode: "FLAG_NOT_FOUND" });
    // The same name again starts with no flags.
    expect((await server.api("POST", "/v1/environments", await environmentSpec("other-env", mark))).status).toBe(201);
    await waitForEnvironment(server, "other-env", "ready");
    expect((await server.api("GET", "/v1/environments/other-env/flags")).json.flags).toEqual([]);
  });
});

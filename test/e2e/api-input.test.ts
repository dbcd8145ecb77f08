// Bad input on every endpoint gets a 4xx with a stable code, never a 5xx,
// and changes nothing.
import net from "node:net";
import { request } from "../helpers/http";
import { waitFor } from "../helpers/wait-for";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { ADMIN_TOKEN, startServer, waitForEnvironment, type RunningServer } from "../helpers/server";

let server: RunningServer;
let deployerToken: string;
let viewerToken: string;
let scopedToken: string;

beforeAll(async () => {
  server = await startServer({ env: { CUTOVER_MAX_BODY_BYTES: "4096" } });
  expect((await server.api("POST", "/v1/environments", await environmentSpec("input", uniqueMark()))).status).toBe(201);
  await waitForEnvironment(server, "input", "ready");
  deployerToken = (await server.api("POST", "/v1/tokens", { name: "ci", role: "deployer" })).json.token;
  viewerToken = (await server.api("POST", "/v1/tokens", { name: "portal", role: "viewer" })).json.token;
  scopedToken = (await server.api("POST", "/v1/tokens", { name: "other-team", role: "deployer", environments: ["other-*"] })).json.token;
});

afterAll(async () => {
  await server.stop();
});

interface Case {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  token?: string | null;
  status: number;
  code: string;
}

const DEP = "dep_0123456789abcdef";

const cases = (): Case[] => [
  { name: "no token", method: "GET", path: "/v1/environments", token: null, status: 401, code: "unauthenticated" },
  { name: "malformed authorization", method: "GET", path: "/v1/environments", headers: { authorization: "Basic abc" }, status: 401, code: "invalid_authorization" },
  { name: "unknown token", method: "GET", path: "/v1/environments", token: "cut_nope", status: 401, code: "invalid_token" },
  { name: "metrics without token", method: "GET", path: "/metrics", token: null, status: 401, code: "unauthenticated" },
  { name: "viewer creates an environment", method: "POST", path: "/v1/environments", token: viewerToken, body: {}, status: 403, code: "insufficient_role" },
  { name: "viewer deploys", method: "POST", path: "/v1/environments/input/deployments", token: viewerToken, body: { version: "v1" }, status: 403, code: "insufficient_role" },
  { name: "deployer out of scope", method: "POST", path: "/v1/environments/input/deployments", token: scopedToken, body: { version: "v1" }, status: 403, code: "environment_out_of_scope" },
  { name: "deployer overrides the artifact", method: "POST", path: "/v1/environments/input/deployments", token: deployerToken, body: { version: "v1", artifact: { command: ["sh", "-c", "id"] } }, status: 403, code: "artifact_override_forbidden" },
  { name: "deployer deletes", method: "DELETE", path: "/v1/environments/input", token: deployerToken, status: 403, code: "insufficient_role" },
  { name: "deployer mints tokens", method: "POST", path: "/v1/tokens", token: deployerToken, body: { name: "x", role: "admin" }, status: 403, code: "insufficient_role" },
  { name: "invalid JSON", method: "POST", path: "/v1/environments", body: "{not json", status: 400, code: "invalid_json" },
  { name: "not JSON", method: "POST", path: "/v1/environments", body: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" }, status: 400, code: "unsupported_media_type" },
  { name: "oversized body", method: "POST", path: "/v1/environments", body: { name: "big", pad: "x".repeat(10_000) }, status: 413, code: "payload_too_large" },
  { name: "empty environment", method: "POST", path: "/v1/environments", body: {}, status: 400, code: "validation_failed" },
  { name: "array body", method: "POST", path: "/v1/environments", body: [1, 2], status: 400, code: "validation_failed" },
  { name: "wrong types", method: "POST", path: "/v1/environments", body: { name: 7, fleet: { replicas: "two", artifact: { command: "node" } }, local: { listenPort: -1 } }, status: 400, code: "validation_failed" },
  { name: "unknown field", method: "POST", path: "/v1/environments", body: { name: "ok-name", fleet: { artifact: { command: ["x"] } }, local: { listenPort: 9 }, extra: true }, status: 400, code: "validation_failed" },
  { name: "missing target settings", method: "POST", path: "/v1/environments", body: { name: "no-local", fleet: { artifact: { command: ["x"] } } }, status: 400, code: "validation_failed" },
  { name: "an upstream timeout under a second", method: "POST", path: "/v1/environments", body: { name: "upstream-timeout", fleet: { artifact: { command: ["x"] } }, local: { listenPort: 0, upstreamTimeout: "10ms" } }, status: 400, code: "validation_failed" },
  { name: "an upstream timeout that is not a duration", method: "POST", path: "/v1/environments", body: { name: "upstream-timeout", fleet: { artifact: { command: ["x"] } }, local: { listenPort: 0, upstreamTimeout: "forever" } }, status: 400, code: "validation_failed" },
  { name: "an access log that is not a boolean", method: "POST", path: "/v1/environments", body: { name: "access-log", fleet: { artifact: { command: ["x"] } }, local: { listenPort: 0, accessLog: "/etc/passwd" } }, status: 400, code: "validation_failed" },
  // An empty command keeps an image's entrypoint on kubernetes; a process needs one.
  { name: "no command on the local target", method: "POST", path: "/v1/environments", body: { name: "no-command", fleet: { artifact: { command: [] } }, local: { listenPort: 0 } }, status: 400, code: "validation_failed" },
  { name: "reserved env var", method: "POST", path: "/v1/environments", body: { name: "env-var", fleet: { artifact: { command: ["x"], env: { PORT: "1" } } }, local: { listenPort: 9 } }, status: 400, code: "validation_failed" },
  { name: "duplicate environment", method: "POST", path: "/v1/environments", body: { name: "input", fleet: { artifact: { command: ["x"] } }, local: { listenPort: 9 } }, status: 409, code: "environment_exists" },
  { name: "bad environment name", method: "GET", path: "/v1/environments/..%2Fetc", status: 400, code: "validation_failed" },
  { name: "unknown environment", method: "GET", path: "/v1/environments/nope", status: 404, code: "environment_not_found" },
  { name: "delete unknown environment", method: "DELETE", path: "/v1/environments/nope", status: 404, code: "environment_not_found" },
  { name: "deploy to unknown environment", method: "POST", path: "/v1/environments/nope/deployments", body: { version: "v1" }, status: 404, code: "environment_not_found" },
  { name: "bad version", method: "POST", path: "/v1/environments/input/deployments", body: { version: "../v1" }, status: 400, code: "validation_failed" },
  { name: "version of wrong type", method: "POST", path: "/v1/environments/input/deployments", body: { version: 2 }, status: 400, code: "validation_failed" },
  { name: "bad strategy", method: "POST", path: "/v1/environments/input/deployments", body: { version: "v1", strategy: { type: "yolo" } }, status: 400, code: "validation_failed" },
  { name: "decreasing canary", method: "POST", path: "/v1/environments/input/deployments", body: { version: "v1", strategy: { type: "canary", steps: [{ weight: 50 }, { weight: 10 }] } }, status: 400, code: "validation_failed" },
  { name: "bad pause", method: "POST", path: "/v1/environments/input/deployments", body: { version: "v1", strategy: { type: "canary", steps: [{ weight: 5, pause: "soon" }] } }, status: 400, code: "validation_failed" },
  { name: "rollback without history", method: "POST", path: "/v1/environments/input/rollback", body: {}, status: 409, code: "no_previous_version" },
  { name: "rollback with body", method: "POST", path: "/v1/environments/input/rollback", body: { to: "v0" }, status: 400, code: "validation_failed" },
  { name: "malformed deployment id", method: "GET", path: "/v1/deployments/123", status: 400, code: "validation_failed" },
  { name: "unknown deployment", method: "GET", path: `/v1/deployments/${DEP}`, status: 404, code: "deployment_not_found" },
  { name: "events of unknown deployment", method: "GET", path: `/v1/deployments/${DEP}/events`, status: 404, code: "deployment_not_found" },
  ...["promote", "pause", "resume", "abort"].map((a) => ({ name: `${a} unknown deployment`, method: "POST", path: `/v1/deployments/${DEP}/${a}`, body: {}, status: 404, code: "deployment_not_found" })),
  { name: "abort with a bad reason", method: "POST", path: `/v1/deployments/${DEP}/abort`, body: { reason: 5 }, status: 400, code: "validation_failed" },
  { name: "bad query", method: "GET", path: "/v1/deployments?limit=many", status: 400, code: "validation_failed" },
  { name: "unknown query field", method: "GET", path: "/v1/deployments?sort=asc", status: 400, code: "validation_failed" },
  { name: "bad token role", method: "POST", path: "/v1/tokens", body: { name: "x", role: "root" }, status: 400, code: "validation_failed" },
  { name: "revoke unknown token", method: "DELETE", path: "/v1/tokens/tok_0123456789abcdef", status: 404, code: "token_not_found" },
  { name: "bad idempotency key", method: "POST", path: "/v1/environments/input/deployments", body: { version: "v1" }, headers: { "idempotency-key": "" }, status: 400, code: "invalid_idempotency_key" },
  { name: "flag in unknown environment", method: "PUT", path: "/v1/environments/nope/flags/f", body: { enabled: true, variants: { a: true }, defaultVariant: "a" }, status: 404, code: "environment_not_found" },
  { name: "bad flag key", method: "PUT", path: "/v1/environments/input/flags/..%2Fx", body: { enabled: true, variants: { a: true }, defaultVariant: "a" }, status: 400, code: "validation_failed" },
  { name: "flag without variants", method: "PUT", path: "/v1/environments/input/flags/f", body: { enabled: true, variants: {}, defaultVariant: "a" }, status: 400, code: "validation_failed" },
  { name: "flag percentage over 100", method: "PUT", path: "/v1/environments/input/flags/f", body: { enabled: true, variants: { a: true }, defaultVariant: "a", rollout: { variant: "a", percentage: 101 } }, status: 400, code: "validation_failed" },
  { name: "flag percentage with three decimals", method: "PUT", path: "/v1/environments/input/flags/f", body: { enabled: true, variants: { a: true }, defaultVariant: "a", rollout: { variant: "a", percentage: 1.005 } }, status: 400, code: "validation_failed" },
  { name: "flag with mixed variant types", method: "PUT", path: "/v1/environments/input/flags/f", body: { enabled: true, variants: { a: true, b: 1 }, defaultVariant: "a" }, status: 422, code: "flag_invalid" },
  { name: "flag with a bad If-Match", method: "PUT", path: "/v1/environments/input/flags/f", body: { enabled: true, variants: { a: true }, defaultVariant: "a" }, headers: { "if-match": "yesterday" }, status: 400, code: "invalid_if_match" },
  { name: "viewer sets a flag", method: "PUT", path: "/v1/environments/input/flags/f", token: viewerToken, body: { enabled: true, variants: { a: true }, defaultVariant: "a" }, status: 403, code: "insufficient_role" },
  { name: "unknown flag", method: "GET", path: "/v1/environments/input/flags/nope", status: 404, code: "flag_not_found" },
  { name: "disable unknown flag", method: "POST", path: "/v1/environments/input/flags/nope/disable", body: {}, status: 404, code: "flag_not_found" },
  { name: "ramp unknown flag", method: "POST", path: "/v1/environments/input/flags/nope/ramps", body: { steps: [{ percentage: 50 }] }, status: 404, code: "flag_not_found" },
  { name: "ramp without steps", method: "POST", path: "/v1/environments/input/flags/nope/ramps", body: { steps: [] }, status: 400, code: "validation_failed" },
  { name: "malformed ramp id", method: "GET", path: "/v1/flag-ramps/r1", status: 400, code: "validation_failed" },
  { name: "unknown ramp", method: "POST", path: "/v1/flag-ramps/ramp_0123456789abcdef/abort", body: {}, status: 404, code: "ramp_not_found" },
  { name: "unknown route", method: "GET", path: "/v2/things", status: 404, code: "route_not_found" },
  { name: "unsupported method", method: "PATCH", path: "/v1/environments/input", body: {}, status: 404, code: "route_not_found" },
];

describe("bad input", () => {
  it.each(cases().map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const c2 = cases().find((x) => x.name === c.name)!; // tokens exist only after beforeAll
    const headers: Record<string, string> = { ...c2.headers };
    const token = c2.token === undefined ? ADMIN_TOKEN : c2.token;
    if (token !== null && !headers.authorization) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (c2.body !== undefined) {
      body = typeof c2.body === "string" ? c2.body : JSON.stringify(c2.body);
      headers["content-type"] ??= "application/json";
    }
    const r = await request(`${server.url}${c2.path}`, { method: c2.method, headers, body });
    const json = JSON.parse(r.body);
    expect({ status: r.status, code: json.error?.code }).toEqual({ status: c2.status, code: c2.code });
    expect(typeof json.error.message).toBe("string");
    expect(r.body).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it("changed nothing: one environment, no deployments, and the server is healthy", async () => {
    const envs = (await server.api("GET", "/v1/environments")).json.environments;
    expect(envs.map((e: { name: string }) => e.name)).toEqual(["input"]);
    expect((await server.api("GET", "/v1/deployments")).json.deployments).toEqual([]);
    expect((await server.api("GET", "/v1/environments/input/flags")).json.flags).toEqual([]);
    expect((await request(`${server.url}/healthz`)).status).toBe(200);
  });

  it("reports an environment whose listen port another process holds as failed, and deletes it cleanly", async () => {
    const blocker = net.createServer().listen(0, "127.0.0.1");
    await new Promise((r) => blocker.once("listening", r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const spec = { ...(await environmentSpec("port-taken", uniqueMark())), local: { listenPort: port } };
      expect((await server.api("POST", "/v1/environments", spec)).status).toBe(201);
      const env = await waitFor("the environment to fail", async () => {
        const e = (await server.api("GET", "/v1/environments/port-taken")).json;
        return e.status === "failed" ? e : undefined;
      });
      expect(env.error.code).toBe("environment_create_failed");
      expect(env.error.message).toMatch(/address already in use/);
      const deploy = await server.api("POST", "/v1/environments/port-taken/deployments", { version: "v1" });
      expect(deploy.json.error.code).toBe("environment_not_ready");
      expect((await server.api("DELETE", "/v1/environments/port-taken")).status).toBe(202);
      await waitFor("the environment to be gone", async () => (await server.api("GET", "/v1/environments/port-taken")).status === 404);
    } finally {
      blocker.close();
    }
  });

  it("shows artifact environment values to admins only", async () => {
    const asAdmin = (await server.api("GET", "/v1/environments/input")).json.spec.fleet.artifact.env;
    expect(asAdmin.CUTOVER_TEST_MARK).toMatch(/^m[0-9a-f]+$/);
    const r = await request(`${server.url}/v1/environments/input`, { headers: { authorization: `Bearer ${viewerToken}` } });
    expect(JSON.parse(r.body).spec.fleet.artifact.env).toEqual({ CUTOVER_TEST_MARK: "[redacted]" });
  });

  it("lets a scoped token see only its environments", async () => {
    const r = await request(`${server.url}/v1/environments`, { headers: { authorization: `Bearer ${scopedToken}` } });
    expect(JSON.parse(r.body).environments).toEqual([]);
  });

  it("serves an OpenAPI document generated from the schemas", async () => {
    const doc = (await server.api("GET", "/openapi.json")).json;
    expect(doc.openapi).toBe("3.1.0");
    const create = doc.paths["/v1/environments"].post.requestBody.content["application/json"].schema;
    expect(create.properties.fleet.properties.replicas).toMatchObject({ type: "integer", minimum: 1 });
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/deployments/{id}/promote", "/v1/environments/{name}/rollback"]));
  });

  it("never writes a token or the state passphrase to its log", async () => {
    const text = server.log.join("\n");
    expect(text).not.toContain(ADMIN_TOKEN);
    expect(text).not.toContain(deployerToken);
  });
});

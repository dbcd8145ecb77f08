// Through the HTTP API, with local fleets and jobs that cannot be
// sandboxed (as when Cutover is not root): only an unscoped admin may
// choose what a local environment runs. The decision is handed to the
// composition root as a test seam; no setting can make a server believe it.
// Programs run under Pulumi's mocks: only the answers matter here.
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import pino from "pino";
import { createServices, type Services } from "../../server/composition-root";
import { loadConfig } from "../../server/config";
import { request } from "../helpers/http";
import { MockedProgramEngine } from "../helpers/mocked-programs";
import { tempDir } from "../helpers/temp-dir";

const ADMIN = "sandbox-rule-admin-token-0123";
let services: Services;
let server: Server;
let base = "";

const environment = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  target: "local",
  fleet: { replicas: 1, artifact: { command: ["node", "app.js"], cwd: "/srv/app" } },
  local: { listenPort: 0 },
  ...extra,
});

async function call(token: string, method: string, p: string, body?: unknown) {
  const reply = await request(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: reply.status, json: reply.body ? JSON.parse(reply.body) : undefined };
}

beforeAll(async () => {
  const config = loadConfig({ CUTOVER_DATA_DIR: tempDir("sandbox-rule"), CUTOVER_ADMIN_TOKEN: ADMIN });
  services = await createServices({
    config,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
    engine: new MockedProgramEngine(),
    assumePluginsInstalled: true,
    localSandbox: { summary: "not sandboxed (test)" },
  });
  await services.start();
  server = services.app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await services?.close();
});

describe("choosing what a local environment runs, without a sandbox", () => {
  let scopedAdmin = "";
  let scopedDeployer = "";

  beforeAll(async () => {
    scopedAdmin = (await call(ADMIN, "POST", "/v1/tokens", { name: "shop-admin", role: "admin", environments: ["shop-*"] })).json.token;
    scopedDeployer = (await call(ADMIN, "POST", "/v1/tokens", { name: "shop-deployer", role: "deployer", environments: ["shop-*"] })).json.token;
  });

  it("refuses a scoped admin's local environment, with or without a pre-deploy job, and changes nothing", async () => {
    for (const body of [environment("shop-a"), environment("shop-b", { preDeploy: { command: ["./migrate"] } })]) {
      const r = await call(scopedAdmin, "POST", "/v1/environments", body);
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe("local_sandbox_unavailable");
      expect(r.json.error.message).toMatch(/only an unscoped admin may set an artifact or a pre-deploy job/);
      expect((await call(ADMIN, "GET", `/v1/environments/${body.name}`)).status).toBe(404);
    }
  });

  it("lets the unscoped admin create one, and refuses a scoped admin's artifact or pre-deploy override on it", async () => {
    expect((await call(ADMIN, "POST", "/v1/environments", environment("shop-c"))).status).toBe(201);
    for (const override of [{ artifact: { command: ["sh", "-c", "id"] } }, { preDeploy: { command: ["sh", "-c", "id"] } }]) {
      const r = await call(scopedAdmin, "POST", "/v1/environments/shop-c/deployments", { version: "v1", ...override });
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe("local_sandbox_unavailable");
    }
    // A deployer still may not override at all, whatever the sandbox.
    const deployer = await call(scopedDeployer, "POST", "/v1/environments/shop-c/deployments", { version: "v1", artifact: { command: ["id"] } });
    expect(deployer.json.error.code).toBe("artifact_override_forbidden");
    // What the unscoped admin chose may be deployed by anyone in scope.
    expect((await call(scopedDeployer, "POST", "/v1/environments/shop-c/deployments", { version: "v1" })).status).toBe(202);
    expect((await call(ADMIN, "POST", "/v1/environments/shop-c/deployments", { version: "v2", artifact: { command: ["node", "v2.js"] } })).status).toBe(202);
  });

  it("refuses a scoped admin's release on a local environment, whoever deploys it; the unscoped admin's deploys", async () => {
    const artifact = { command: ["sh", "-c", "id"] };
    const scoped = await call(scopedAdmin, "POST", "/v1/releases", { version: "r-scoped", artifact });
    expect(scoped.status).toBe(201);
    for (const who of [scopedDeployer, scopedAdmin, ADMIN]) {
      const r = await call(who, "POST", "/v1/environments/shop-c/deployments", { release: scoped.json.id });
      expect({ status: r.status, code: r.json.error?.code }).toEqual({ status: 403, code: "local_sandbox_unavailable" });
    }
    const unscoped = await call(ADMIN, "POST", "/v1/releases", { version: "r-admin", artifact: { command: ["node", "v3.js"] } });
    const deployed = await call(scopedDeployer, "POST", "/v1/environments/shop-c/deployments", { release: unscoped.json.id });
    // Allowed: accepted, or refused only for the state the mocked environment is in by now, never for who made the release.
    expect([202, 409]).toContain(deployed.status);
    expect(deployed.json.error?.code ?? "accepted").toMatch(/^(accepted|environment_not_ready)$/);
  });

  it("lists the refusal in the OpenAPI document", async () => {
    const doc = (await call(ADMIN, "GET", "/openapi.json")).json;
    expect(JSON.stringify(doc.paths["/v1/environments"])).toContain("local_sandbox_unavailable");
  });
});

// Secrets stay secret at rest and on the wire: secret env values, minted
// tokens, the data directory's permissions, /metrics access.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { request } from "../helpers/http";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { fixtureApp } from "../helpers/temp-dir";

const SECRET = "s3cr3t-Value-7f1c";

/** Every file under a directory, with its path. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe("secrets at rest", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("runs a secret env value, and keeps it out of the journal, the state, the API and the logs", async () => {
    const mark = uniqueMark();
    const spec = await environmentSpec("vault", mark);
    spec.fleet.artifact = { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark, GREETING: { secret: SECRET } } } as never;
    const created = await server.api("POST", "/v1/environments", spec);
    expect(created.status).toBe(201);
    expect(created.json.spec.fleet.artifact.env.GREETING).toBe("[secret]");
    const env = await waitForEnvironment(server, "vault", "ready");
    const d = (await server.api("POST", "/v1/environments/vault/deployments", { version: "v1" })).json;
    await waitForDeployment(server, d.id, "succeeded");

    // The application got the value.
    expect(JSON.parse((await request(`${env.traffic.url}/`)).body).greeting).toBe(SECRET);

    // No answer, event or log line holds it.
    const answers = [
      (await server.api("GET", "/v1/environments/vault")).body,
      (await server.api("GET", `/v1/deployments/${d.id}`)).body,
      (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).body,
      server.log.join("\n"),
    ];
    for (const text of answers) expect(text).not.toContain(SECRET);
    // Nor does any file Cutover keeps: the journal, Pulumi's state, the workspaces. (The running
    // fleet's own spec under runtime/ carries it to the process, like an EnvironmentFile, mode 0600.)
    for (const file of filesUnder(server.dataDir).filter((f) => !f.includes(`${path.sep}runtime${path.sep}`))) {
      expect({ file, holds: readFileSync(file).includes(SECRET) }).toEqual({ file, holds: false });
    }
    for (const file of filesUnder(path.join(server.dataDir, "runtime")).filter((f) => f.endsWith("spec.json"))) {
      expect(statSync(file).mode & 0o077).toBe(0);
    }
  });

  it("refuses secret env values on targets whose fleets would expose them", async () => {
    const r = await server.api("POST", "/v1/environments", {
      name: "cloud-secret",
      target: "aws",
      fleet: { artifact: { command: ["/bin/app"], env: { TOKEN: { secret: "x" } } } },
      aws: { region: "eu-west-1", ami: "ami-0123456789abcdef0", instancePort: 8080 },
    });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("secret_env_unsupported");
  });

  it("keeps the data directory and the journal private to Cutover's user", () => {
    expect(statSync(server.dataDir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(server.dataDir).filter((f) => f.startsWith("cutover.db"))) {
      expect(statSync(path.join(server.dataDir, file)).mode & 0o777).toBe(0o600);
    }
  });

  it("answers a replayed token creation without the token, and says why", async () => {
    const headers = { "idempotency-key": "mint-once" };
    const first = await server.api("POST", "/v1/tokens", { name: "ci", role: "viewer" }, headers);
    expect(first.status).toBe(201);
    expect(first.json.token).toMatch(/^cut_/);
    const again = await server.api("POST", "/v1/tokens", { name: "ci", role: "viewer" }, headers);
    expect(again.status).toBe(201);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json.token).toBeUndefined();
    expect(again.json).toMatchObject({ id: first.json.id, replay: { redacted: true } });
    expect(readFileSync(path.join(server.dataDir, "cutover.db")).includes(first.json.token)).toBe(false);
  });

  it("serves /metrics only to a metrics token or an unscoped admin", async () => {
    const viewer = (await server.api("POST", "/v1/tokens", { name: "v", role: "viewer" })).json.token;
    const scraper = (await server.api("POST", "/v1/tokens", { name: "prom", role: "metrics" })).json.token;
    expect((await request(`${server.url}/metrics`, { headers: { authorization: `Bearer ${viewer}` } })).status).toBe(403);
    const scraped = await request(`${server.url}/metrics`, { headers: { authorization: `Bearer ${scraper}` } });
    expect(scraped.status).toBe(200);
    expect(scraped.body).toContain("cutover_deployments_total");
    expect((await request(`${server.url}/v1/environments`, { headers: { authorization: `Bearer ${scraper}` } })).status).toBe(403);
  });
});

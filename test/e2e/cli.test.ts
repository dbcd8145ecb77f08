// The `cutover` command against a real server: deploy --wait streams
// progress and its exit code says whether the deployment succeeded.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../../server/engine/toolchain";
import { request } from "../helpers/http";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { processesWith } from "../helpers/processes";
import { ADMIN_TOKEN, startServer, waitForDeployment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";

let server: RunningServer;

function cutover(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(projectRoot, "dist", "server", "cli", "main.js"), ...args],
      { env: { ...process.env, CUTOVER_URL: server.url, CUTOVER_TOKEN: ADMIN_TOKEN }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

describe("cutover CLI", () => {
  it("creates an environment from a file, deploys with --wait, and reports status", async () => {
    const mark = uniqueMark();
    const spec = await environmentSpec("cli", mark);
    const file = path.join(tempDir("cli"), "env.json");
    writeFileSync(file, JSON.stringify(spec));
    expect(await cutover("env", "create", "cli", "--file", file)).toMatchObject({ code: 0, stdout: "cli: creating\n" });

    const deploy = await cutover("deploy", "cli", "v1", "--wait");
    expect(deploy.code).toBe(0);
    expect(deploy.stdout).toMatch(/phase provisioning[\s\S]*phase verifying[\s\S]*phase shifting[\s\S]*traffic \{"blue":100,"green":0\}[\s\S]*succeeded/);
    const url = (await server.api("GET", "/v1/environments/cli")).json.traffic.url;
    expect(JSON.parse((await request(`${url}/`)).body).version).toBe("v1");

    const status = await cutover("env", "status", "cli");
    expect(status.stdout).toContain("cli: ready, live v1 on blue");

    const rolled = await cutover("deploy", "cli", "v2", "--rolling", "1,0", "--wait");
    expect(rolled.code).toBe(0);
    expect(rolled.stdout).toMatch(/traffic \{"blue":50,"green":50\} instances \{"green":1,"blue":1\}[\s\S]*traffic \{"blue":0,"green":100\} instances \{"green":2,"blue":0\}[\s\S]*succeeded/);
    expect((await cutover("deploy", "cli", "v2", "--rolling", "lots")).code).toBe(2);

    const list = await cutover("env", "list", "--json");
    expect(JSON.parse(list.stdout).environments.map((e: { name: string }) => e.name)).toContain("cli");
  });

  it("exits 1 when the deployment rolls back", async () => {
    const abortable = JSON.parse((await cutover("deploy", "cli", "v3", "--canary", "30:manual", "--json")).stdout);
    await waitForDeployment(server, abortable.id, "paused");
    const aborted = await cutover("abort", abortable.id, "--reason", "checked by hand", "--wait");
    expect(aborted.code).toBe(1);
    expect(aborted.stdout).toContain("error aborted: checked by hand");
  });

  it("pauses before the next step and resumes", async () => {
    const d = JSON.parse((await cutover("deploy", "cli", "v4", "--canary", "10:3s,50:3s", "--json")).stdout);
    await waitForDeployment(server, d.id, "running");
    expect((await cutover("pause", d.id)).code).toBe(0);
    const paused = await waitForDeployment(server, d.id, "paused");
    expect(paused.pausedBy).toBe("user");
    const events = (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events;
    expect(events.map((e: { type: string }) => e.type)).toContain("deployment:paused");
    expect((await cutover("resume", d.id)).code).toBe(0);
    expect((await cutover("events", d.id)).code).toBe(0);
  });

  it("shows the gate a deployment waits at, and approves it", async () => {
    const d = (await server.api("POST", "/v1/environments/cli/deployments", { version: "v5", gates: [{ name: "release-manager", kind: "approval" }] })).json;
    await waitForDeployment(server, d.id, "paused");
    const status = await cutover("status", d.id);
    expect(status.stdout).toMatch(/gate release-manager: waiting/);
    // What approving changes, read from the preview made when the gate began waiting.
    expect(status.stdout).toMatch(/approving changes:\n\s+create-fleet\s+cli\.\w+: built: v5's fleet exists\n\s+shift-traffic\s+cli\.traffic: 1 to update \(balancer: pools\)\n\s+retire-fleet\s+cli\.\w+: 1 to delete/);
    const approved = await cutover("approve", d.id, "--reason", "change 4711", "--wait");
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(/gate release-manager approved by admin: change 4711/);
    expect((await cutover("status", d.id)).stdout).toMatch(/gate release-manager: approved by admin \(change 4711\)/);
  });

  it("explains usage and API errors with distinct exit codes", async () => {
    const usage = await cutover("deploy", "cli");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("deploy needs an environment and a version");
    const missing = await cutover("status", "dep_0123456789abcdef");
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain("deployment_not_found");
  });

  it("sets, lists, switches and ramps feature flags", async () => {
    const file = path.join(tempDir("cli-flag"), "flag.json");
    writeFileSync(file, JSON.stringify({ enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 5 } }));
    expect(await cutover("flags", "set", "cli", "dark-mode", "--file", file)).toMatchObject({ code: 0, stdout: "dark-mode  on   default off  rollout 5% → on  v1\n" });
    expect((await cutover("flags", "set", "cli", "dark-mode", "--percentage", "20")).stdout).toContain("rollout 20% → on  v2");
    expect((await cutover("flags", "disable", "cli", "dark-mode", "--reason", "pager")).stdout).toContain("dark-mode  off");
    expect((await cutover("flags", "enable", "cli", "dark-mode")).code).toBe(0);
    expect((await cutover("flags", "list", "cli")).stdout).toBe("dark-mode  on   default off  rollout 20% → on  v4\n");
    const ramp = await cutover("flags", "ramp", "cli", "dark-mode", "50:1s,100", "--wait");
    expect(ramp.code).toBe(0);
    expect(ramp.stdout).toMatch(/step 1\/2: 50%[\s\S]*step 2\/2: 100%[\s\S]*succeeded/);
    const history = await cutover("flags", "get", "cli", "dark-mode", "--history");
    expect(history.stdout).toMatch(/v3 disable by admin at .* \(enabled\): pager/);
    expect(history.stdout).toMatch(/v6 ramp by flag ramp started by admin/);
    const bad = await cutover("flags", "ramp", "cli", "dark-mode", "fifty");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad ramp steps "fifty"');
    const none = await cutover("flags", "get", "cli", "nope");
    expect([none.code, none.stderr]).toEqual([3, expect.stringContaining("flag_not_found")]);
  });

  it("records a release from a file with its provenance, lists and shows it, and deploys it by id", async () => {
    const spec = (await server.api("GET", "/v1/environments/cli")).json.spec;
    const file = path.join(tempDir("cli-release"), "release.json");
    writeFileSync(file, JSON.stringify({ artifact: { command: spec.fleet.artifact.command, env: { CUTOVER_TEST_MARK: spec.fleet.artifact.env.CUTOVER_TEST_MARK } } }));
    const created = await cutover("release", "create", "v9", "--file", file, "--commit", "0123456789abcdef", "--source", "ci", "--json");
    expect(created.code).toBe(0);
    const release = JSON.parse(created.stdout);
    expect(release).toMatchObject({ version: "v9", provenance: { commit: "0123456789abcdef", source: "ci" } });
    expect((await cutover("release", "list")).stdout).toContain(`${release.id}  v9  ${release.digest.slice(0, 19)}`);
    expect((await cutover("release", "show", release.id)).stdout).toContain("0123456789ab");
    // A dry run first: the plan in order and the preview of each stack, nothing queued.
    const before = (await server.api("GET", "/v1/environments/cli/deployments")).json.deployments.length;
    const dry = await cutover("deploy", "cli", "--release", release.id, "--canary", "20:1m,100", "--dry-run");
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^cli@v9 {2}canary {2}\w+ \(v\w+\) → \w+\n {2}provisioning +\w+ v9 ×\d\n {2}verifying\n {2}shifting +\{"\w+":20,"\w+":80\} then pause 1m\n {2}shifting +\{"\w+":100,"\w+":0\}\n {2}retiring +\w+ \(v\w+\)\nchanges:\n {2}create-fleet +cli\.\w+: 1 to create\n/);
    expect((await server.api("GET", "/v1/environments/cli/deployments")).json.deployments.length).toBe(before);
    const deployed = await cutover("deploy", "cli", "--release", release.id, "--wait");
    expect(deployed.code).toBe(0);
    expect((await server.api("GET", "/v1/environments/cli")).json.liveVersion).toBe("v9");
    expect((await cutover("release", "create", "v10")).code).toBe(2);
  });

  it("declares a pipeline, shows it, and promotes into its next stage what is live before it", async () => {
    const spec = (await server.api("GET", "/v1/environments/cli")).json.spec;
    expect((await server.api("POST", "/v1/environments", await environmentSpec("cli-prod", spec.fleet.artifact.env.CUTOVER_TEST_MARK))).status).toBe(201);
    const file = path.join(tempDir("cli-pipeline"), "pipeline.json");
    writeFileSync(file, JSON.stringify({ stages: [{ environment: "cli" }, { environment: "cli-prod" }] }));
    expect((await cutover("pipeline", "put", "cli-line", "--file", file)).stdout).toContain("cli-prod [manual]: live -; next: eligible, v9 is live in cli");
    expect((await cutover("promote", "cli-line", "--to", "cli-prod", "--dry-run")).stdout).toMatch(/^cli-prod@v9 {2}blue-green {2}nothing live → blue\n[^]*changes:\n {2}create-fleet +cli-prod\.blue: 1 to create/);
    const promoted = await cutover("promote", "cli-line", "--to", "cli-prod", "--wait");
    expect(promoted.code).toBe(0);
    expect((await cutover("pipeline", "show", "cli-line")).stdout).toContain("cli-prod [manual]: live v9; next: v9 is live here already");
    expect((await cutover("promote", "cli-line", "--to", "cli-prod", "--force")).code).toBe(2);
    expect((await server.api("DELETE", "/v1/environments/cli-prod")).status).toBe(202);
  });

  it("deletes the environment with --wait, leaving no process", async () => {
    const spec = (await server.api("GET", "/v1/environments/cli")).json.spec;
    const mark = spec.fleet.artifact.env.CUTOVER_TEST_MARK;
    expect((await cutover("env", "delete", "cli", "--wait")).stdout).toBe("cli: deleted\n");
    expect(processesWith(mark)).toEqual([]);
  });
});

// Signing in to the web UI with OpenID Connect, in a real Chromium, through
// a real provider (oidc-provider, started here): the authorization code
// flow with PKCE, groups mapped to a role and scope by the operator's
// settings, a person no mapping names refused with the reason, and a
// callback that was not started by this browser refused.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Browser, Page } from "playwright-core";
import { projectRoot } from "../../server/engine/toolchain";
import { launchChromium, screenshot, seriousViolations } from "../helpers/browser";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { request } from "../helpers/http";
import { startServer, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";

jest.setTimeout(300_000);

let provider: ChildProcess;
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  provider = spawn(process.execPath, [path.join(projectRoot, "test/fixtures/oidc-provider.mjs")], { stdio: ["pipe", "pipe", "pipe"] });
  // Its own warnings about its development settings (in-memory store, generated keys) are expected here.
  createInterface({ input: provider.stderr! }).on("line", (line) => line.startsWith("oidc-provider WARNING") || process.stderr.write(`oidc-provider: ${line}\n`));
  const lines = createInterface({ input: provider.stdout! })[Symbol.asyncIterator]();
  const { issuer } = JSON.parse((await lines.next()).value as string) as { issuer: string };
  const settings = path.join(tempDir("oidc"), "oidc.json");
  writeFileSync(
    settings,
    JSON.stringify({
      issuer,
      clientId: "cutover-ui",
      label: "Example SSO",
      scopes: ["openid", "email", "profile", "groups"],
      mappings: [
        { group: "platform-admins", role: "admin" },
        { group: "web-team", role: "approver", environments: ["oidc-a"] },
      ],
    }),
  );
  server = await startServer({ env: { CUTOVER_OIDC_CONFIG: settings } });
  provider.stdin!.write(`${JSON.stringify({ clientId: "cutover-ui", redirectUri: `${server.url}/ui/oidc/callback` })}\n`);
  expect(JSON.parse((await lines.next()).value as string)).toEqual({ ready: true });
  browser = await launchChromium();
  const mark = uniqueMark();
  for (const name of ["oidc-a", "oidc-b"]) await server.api("POST", "/v1/environments", await environmentSpec(name, mark));
  await waitForEnvironment(server, "oidc-a", "ready");
  await waitForEnvironment(server, "oidc-b", "ready");
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  provider?.kill("SIGTERM");
});

/** Through the provider's own sign-in and consent pages, back to Cutover. */
async function signInAs(page: Page, login: string): Promise<void> {
  await page.goto(`${server.url}/ui/`);
  await page.getByRole("link", { name: "Sign in with Example SSO" }).click();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
}

describe("OpenID Connect sign-in", () => {
  it("signs a person in through the provider, with the role and scope their group maps to", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/ui/`);
      await page.getByRole("link", { name: "Sign in with Example SSO" }).waitFor();
      expect(await seriousViolations(page)).toEqual([]);
      await signInAs(page, "alice");
      await page.getByLabel("Signed in as").filter({ hasText: "alice@example.com · approver · oidc-a" }).waitFor();
      await page.getByRole("link", { name: "Environments" }).click();
      await page.getByTestId("env-oidc-a").waitFor();
      expect(await page.getByTestId("env-oidc-b").count()).toBe(0);
      await screenshot(page, "oidc-environments");
      // The session acts within that scope through the API as well.
      const cookie = `cutover_session=${(await context.cookies()).find((c) => c.name === "cutover_session")!.value}`;
      expect((await request(`${server.url}/v1/environments/oidc-a`, { headers: { cookie } })).status).toBe(200);
      const other = await request(`${server.url}/v1/environments/oidc-b`, { headers: { cookie } });
      expect(other.status).toBe(403);
      expect(JSON.parse(other.body).error.code).toBe("environment_out_of_scope");
      const admin = await request(`${server.url}/v1/tokens`, { headers: { cookie } });
      expect(admin.status).toBe(403);
    } finally {
      await context.close();
    }
  });

  it("signs an admin in unscoped, and refuses a person no mapping names, saying why", async () => {
    const olga = await browser.newContext();
    try {
      const page = await olga.newPage();
      await signInAs(page, "olga");
      await page.getByLabel("Signed in as").filter({ hasText: "olga@example.com · admin" }).waitFor();
      await page.getByRole("link", { name: "Environments" }).click();
      await page.getByTestId("env-oidc-b").waitFor();
    } finally {
      await olga.close();
    }
    const mallory = await browser.newContext();
    try {
      const page = await mallory.newPage();
      await signInAs(page, "mallory");
      await page.getByRole("alert").filter({ hasText: "no mapping gives mallory@example.com a role" }).waitFor();
      expect((await mallory.cookies()).find((c) => c.name === "cutover_session")).toBeUndefined();
    } finally {
      await mallory.close();
    }
  });

  it("refuses a callback this browser did not start, or whose state does not match", async () => {
    const bare = await request(`${server.url}/ui/oidc/callback?code=stolen&state=guess`);
    expect(bare.status).toBe(303);
    expect(bare.headers.location).toMatch(/^\/ui\/\?error=/);
    expect(bare.headers["set-cookie"]?.some((c) => c.startsWith("cutover_session=") && !c.startsWith("cutover_session=;"))).toBeFalsy();

    // A sign-in started here, answered with another state: the sealed cookie's state must match.
    const login = await request(`${server.url}/ui/oidc/login`);
    expect(login.status).toBe(303);
    const location = new URL(login.headers.location!);
    expect(location.searchParams.get("code_challenge_method")).toBe("S256");
    expect(location.searchParams.get("redirect_uri")).toBe(`${server.url}/ui/oidc/callback`);
    const pending = login.headers["set-cookie"]!.find((c) => c.startsWith("cutover_oidc="))!;
    expect(pending).toMatch(/HttpOnly/i);
    expect(pending).toMatch(/SameSite=Lax/i);
    const forged = await request(`${server.url}/ui/oidc/callback?code=stolen&state=not-${location.searchParams.get("state")}`, { headers: { cookie: pending.split(";")[0] } });
    expect(forged.status).toBe(303);
    expect(decodeURIComponent(forged.headers.location!)).toContain("could not be verified");
    expect(forged.headers["set-cookie"]?.some((c) => c.startsWith("cutover_session=") && !c.startsWith("cutover_session=;"))).toBeFalsy();
  });
});

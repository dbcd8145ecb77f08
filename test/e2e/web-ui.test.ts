// The web UI in a real Chromium against a real Cutover on the local
// target: sign in with a token pasted once, see only the environments the
// token reaches, watch a canary's weight move live and promote it, meet
// the four-eyes refusal as the requester and approve as someone else, and
// no serious accessibility violation on any view, turn maintenance on and
// off from the environments page. The session is attacked
// as a cross-site page would: without its CSRF token nothing changes.
import http from "node:http";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { launchChromium, screenshot, seriousViolations } from "../helpers/browser";
import { request } from "../helpers/http";
import { ADMIN_TOKEN, startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(300_000);

let server: RunningServer;
let browser: Browser;
let quality: http.Server;
const tokens: Record<string, string> = {};
const mark = uniqueMark();

beforeAll(async () => {
  // What the analysis reads: a quality score that is fine twice, then bad.
  let asked = 0;
  quality = http.createServer((_req, res) => res.end(JSON.stringify({ problems: ++asked > 2 ? 5 : 0 })));
  await new Promise<void>((resolve) => quality.listen(0, "127.0.0.1", resolve));
  server = await startServer({ env: { CUTOVER_OUTBOUND_ALLOW: "127.0.0.1" } });
  browser = await launchChromium();
  await Promise.all([
    server.api("POST", "/v1/environments", await environmentSpec("web-a", mark, { gates: [{ kind: "approval", requireDistinctApprover: true }] })),
    server.api("POST", "/v1/environments", await environmentSpec("web-b", mark)),
  ]);
  await waitForEnvironment(server, "web-a", "ready");
  await waitForEnvironment(server, "web-b", "ready");
  for (const env of ["web-a", "web-b"]) {
    await waitForDeployment(server, (await server.api("POST", `/v1/environments/${env}/deployments`, { version: "v1", gates: [] })).json.id, "succeeded");
  }
  tokens.admin = ADMIN_TOKEN;
  for (const [name, role] of [
    ["alice", "approver"],
    ["bob", "approver"],
    ["vera", "viewer"],
  ]) {
    tokens[name] = (await server.api("POST", "/v1/tokens", { name, role, person: `${name}@example.com`, environments: ["web-a"] })).json.token;
  }
});

afterAll(async () => {
  quality?.close();
  await browser?.close();
  await server?.stop();
});

/** A phone's screen, for approvals on the go. */
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

async function signIn(who: string, device: Parameters<Browser["newContext"]>[0] = { viewport: { width: 1200, height: 800 } }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext(device);
  const page = await context.newPage();
  await page.goto(`${server.url}/ui/`);
  await page.getByLabel("API token").fill(tokens[who]);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByLabel("Signed in as").waitFor();
  await page.getByTestId("live").filter({ hasText: "live" }).waitFor();
  return { context, page };
}

const as = (who: string) => ({ authorization: `Bearer ${tokens[who]}` });

describe("the web UI", () => {
  it("signs in with a token pasted once, into an HttpOnly SameSite session, and shows only the environments in scope", async () => {
    const { context, page } = await signIn("alice");
    try {
      await page.getByRole("link", { name: "Environments" }).click();
      await page.getByTestId("env-web-a").waitFor();
      await expectNoSeriousViolations(page);
      await screenshot(page, "environments");
      expect(await page.getByTestId("env-web-b").count()).toBe(0);
      expect(await page.getByTestId("env-web-a").textContent()).toContain("v1");
      // Nor is the other environment reachable by its address.
      await page.goto(`${server.url}/ui/deployments/none`);
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === "cutover_session")!;
      expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
      expect(session.value).not.toContain(tokens.alice);

      const cookie = `cutover_session=${session.value}`;
      const out = await request(`${server.url}/v1/environments/web-b`, { headers: { cookie } });
      expect(out.status).toBe(403);
      expect(JSON.parse(out.body).error.code).toBe("environment_out_of_scope");
      // A cross-site form or script cannot read the CSRF token, so its request changes nothing.
      const forged = await request(`${server.url}/v1/environments/web-a/deployments`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json" },
        body: JSON.stringify({ version: "forged" }),
      });
      expect(forged.status).toBe(403);
      expect(JSON.parse(forged.body).error.code).toBe("csrf_token_invalid");
      expect((await server.api("GET", "/v1/deployments?environment=web-a")).json.deployments.map((d: { version: string }) => d.version)).not.toContain("forged");
      // A cookie of someone's own making is not a session.
      const made = await request(`${server.url}/v1/environments`, { headers: { cookie: "cutover_session=s1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } });
      expect(made.status).toBe(401);
      expect(JSON.parse(made.body).error.code).toBe("session_expired");

      // The page itself: a strict Content-Security-Policy, never framed.
      const ui = await request(`${server.url}/ui/`);
      expect(ui.headers["content-security-policy"]).toContain("script-src 'self'");
      expect(ui.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
      expect(ui.headers["content-security-policy"]).not.toContain("unsafe-inline");

      // Signing out ends the session in the browser.
      await page.goto(`${server.url}/ui/`);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByLabel("API token").waitFor();
      expect((await context.cookies()).find((c) => c.name === "cutover_session")).toBeUndefined();
    } finally {
      await context.close();
    }
  });

  it("refuses a wrong token with the API's reason, and a revoked token ends its sessions", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/ui/`);
      await expectNoSeriousViolations(page);
      await screenshot(page, "sign-in");
      await page.getByLabel("API token").fill("cut_not-a-token");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").filter({ hasText: "not valid" }).waitFor();

      const temp = (await server.api("POST", "/v1/tokens", { name: "temp", role: "viewer", environments: ["web-a"] })).json;
      await page.getByLabel("API token").fill(temp.token);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByLabel("Signed in as").waitFor();
      const cookie = `cutover_session=${(await context.cookies()).find((c) => c.name === "cutover_session")!.value}`;
      expect((await request(`${server.url}/v1/environments/web-a`, { headers: { cookie } })).status).toBe(200);
      await server.api("DELETE", `/v1/tokens/${temp.id}`);
      const after = await request(`${server.url}/v1/environments/web-a`, { headers: { cookie } });
      expect(after.status).toBe(401);
    } finally {
      await context.close();
    }
  });

  it("shows a canary's weight move live, without a reload, and promotes it from the page", async () => {
    const { context, page } = await signIn("alice");
    try {
      // An admin starts a canary that waits at 25 % (without the environment's approval gate).
      const id = (await server.api("POST", "/v1/environments/web-a/deployments", { version: "v2", gates: [], strategy: { type: "canary", steps: [{ weight: 25, pause: "manual" }] } })).json.id as string;
      await page.goto(`${server.url}/ui/deployments/${id}`);
      // Opened before any traffic moved: the chart fills in as the step happens.
      await page.locator('[data-testid="weight-chart"][data-last="25"]').waitFor({ timeout: 120_000 });
      await page.getByTestId("state").filter({ hasText: "paused" }).waitFor();
      await expectNoSeriousViolations(page);
      await screenshot(page, "deployment-canary");

      // The landing page puts it first, with Promote / Abort.
      await page.getByRole("link", { name: "Waiting" }).click();
      const card = page.getByTestId(`waiting-${id}`);
      await card.waitFor();
      await expectNoSeriousViolations(page);
      await screenshot(page, "waiting");
      await card.getByRole("link").click();
      await page.getByRole("button", { name: "Promote" }).click();
      await page.getByTestId("state").filter({ hasText: "succeeded" }).waitFor({ timeout: 120_000 });
      await page.locator('[data-testid="weight-chart"][data-last="100"]').waitFor();
      expect((await server.api("GET", "/v1/environments/web-a")).json.liveVersion).toBe("v2");
    } finally {
      await context.close();
    }
  });

  it("holds a gate for four eyes: the requester is refused with the reason, another approver approves", async () => {
    const id = (await server.api("POST", "/v1/environments/web-a/deployments", { version: "v3" }, as("alice"))).json.id as string;
    await waitFor("the deployment to wait at its gate", async () => (await server.api("GET", `/v1/deployments/${id}`)).json.pausedBy === "gate", 120_000);

    // The wait is counted where alerts can see it.
    const metrics = (await server.api("GET", "/metrics")).body;
    expect(metrics).toMatch(/^cutover_deployments_waiting\{reason="gate"\} 1$/m);
    expect(Number(/^cutover_deployment_longest_wait_seconds\{reason="gate"\} (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);

    const alice = await signIn("alice");
    try {
      const card = alice.page.getByTestId(`waiting-${id}`);
      await card.waitFor();
      await card.getByText("Four eyes").waitFor();
      await card.getByRole("button", { name: "Approve" }).click();
      await card.getByRole("alert").filter({ hasText: "approver_is_requester" }).waitFor();
      await screenshot(alice.page, "four-eyes");
    } finally {
      await alice.context.close();
    }
    // A viewer sees it waiting, but is offered no decision.
    const vera = await signIn("vera");
    try {
      const card = vera.page.getByTestId(`waiting-${id}`);
      await card.waitFor();
      expect(await card.getByRole("button").count()).toBe(0);
    } finally {
      await vera.context.close();
    }
    // Approved from a phone: the page fits its screen, the buttons are within reach.
    const bob = await signIn("bob", PHONE);
    try {
      await bob.page.goto(`${server.url}/ui/deployments/${id}`);
      const approve = bob.page.getByRole("button", { name: "Approve" });
      await approve.waitFor();
      const box = (await approve.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      expect(box.height).toBeGreaterThanOrEqual(44);
      expect(await bob.page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
      await expectNoSeriousViolations(bob.page);
      await screenshot(bob.page, "approve-on-a-phone");
      await approve.tap();
      await bob.page.getByTestId("state").filter({ hasText: "succeeded" }).waitFor({ timeout: 120_000 });
      await bob.page.getByText(/approval: approved by bob@example.com/).waitFor();
    } finally {
      await bob.context.close();
    }
  });
});

describe("analysis in the web UI", () => {
  it("charts each measurement against its condition, failed ones marked, and the rollback they caused", async () => {
    const url = `http://127.0.0.1:${(quality.address() as import("node:net").AddressInfo).port}/quality`;
    const id = (
      await server.api("POST", "/v1/environments/web-a/deployments", {
        version: "v4",
        gates: [],
        strategy: { type: "canary", steps: [{ weight: 50, pause: "20s" }], analysis: { interval: "1s", metrics: [{ name: "quality", provider: { web: { url, jsonPath: "$.problems" } }, successCondition: "result == 0" }] } },
      })
    ).json.id as string;
    const { context, page } = await signIn("alice");
    try {
      await page.goto(`${server.url}/ui/deployments/${id}`);
      await page.getByTestId("state").filter({ hasText: "rolled_back" }).waitFor({ timeout: 120_000 });
      const chart = page.getByTestId("analysis-quality");
      await page.locator('[data-testid="analysis-quality"]:not([data-failed="0"])').waitFor();
      expect(Number(await chart.getAttribute("data-count"))).toBeGreaterThanOrEqual(3);
      expect(await chart.textContent()).toContain("success when result == 0");
      expect(await page.getByRole("alert").textContent()).toContain("quality");
      // The traffic it had taken went back.
      await page.locator('[data-testid="weight-chart"][data-last="0"]').waitFor();
      await expectNoSeriousViolations(page);
      await screenshot(page, "deployment-analysis");
    } finally {
      await context.close();
    }
  });
});

describe("flags in the web UI", () => {
  it("switches a flag off with its kill switch, once confirmed, and evaluations change at once", async () => {
    const put = await server.api("PUT", "/v1/environments/web-a/flags/new-checkout", { enabled: true, description: "the new checkout", variants: { on: true, off: false }, defaultVariant: "off", rollout: { variant: "on", percentage: 100 } });
    expect(put.status).toBe(201);
    const reader = (await server.api("POST", "/v1/tokens", { name: "shop-app", role: "flags-reader", environments: ["web-a"] })).json.token as string;
    const evaluate = async () => {
      const r = await request(`${server.url}/ofrep/v1/evaluate/flags/new-checkout`, {
        method: "POST",
        headers: { authorization: `Bearer ${reader}`, "content-type": "application/json" },
        body: JSON.stringify({ context: { targetingKey: "user-1" } }),
      });
      return JSON.parse(r.body) as { value: unknown; reason: string };
    };
    expect(await evaluate()).toMatchObject({ value: true });

    const { context, page } = await signIn("alice");
    try {
      await page.getByRole("link", { name: "Flags" }).click();
      const row = page.getByTestId("flag-new-checkout");
      await row.getByTestId("flag-state").filter({ hasText: "on" }).waitFor();
      await expectNoSeriousViolations(page);
      await screenshot(page, "flags");
      // Dismissing the confirmation changes nothing.
      page.once("dialog", (d) => void d.dismiss());
      await row.getByRole("button", { name: "Kill switch" }).click();
      expect(await evaluate()).toMatchObject({ value: true });
      page.once("dialog", (d) => {
        expect(d.message()).toContain("Switch new-checkout off in web-a");
        void d.accept();
      });
      await row.getByRole("button", { name: "Kill switch" }).click();
      await row.getByTestId("flag-state").filter({ hasText: "off" }).waitFor();
      expect(await evaluate()).toMatchObject({ value: false, reason: "DISABLED" });
      // Its history says who and why.
      await row.getByRole("button", { name: "History" }).click();
      await page.getByText(/v2 disable by alice@example.com.*kill switch in the web UI/).waitFor();
      await expectNoSeriousViolations(page);
      // A change made elsewhere (here through the API) shows without a reload, well before the page's own periodic read (15 s).
      await server.api("POST", "/v1/environments/web-a/flags/new-checkout/enable", {});
      await row.getByTestId("flag-state").filter({ hasText: "on" }).waitFor({ timeout: 10_000 });
    } finally {
      await context.close();
    }
    // A viewer sees the flag but is offered no switch.
    const vera = await signIn("vera");
    try {
      await vera.page.getByRole("link", { name: "Flags" }).click();
      const row = vera.page.getByTestId("flag-new-checkout");
      await row.waitFor();
      expect(await row.getByRole("button", { name: /Kill switch|Switch on/ }).count()).toBe(0);
    } finally {
      await vera.context.close();
    }
  });
});

describe("maintenance from the web UI", () => {
  it("turns it on from the environments page once confirmed, and off; a viewer sees it but is offered no switch", async () => {
    const environment = async () => (await server.api("GET", "/v1/environments/web-a")).json;
    const url = (await environment()).traffic.url as string;
    expect((await request(`${url}/`)).status).toBe(200);
    const { context, page } = await signIn("alice");
    try {
      await page.getByRole("link", { name: "Environments" }).click();
      const row = page.getByTestId("env-web-a");
      await row.waitFor();
      // Dismissing the confirmation changes nothing.
      page.once("dialog", (d) => void d.dismiss());
      await row.getByRole("button", { name: "Maintenance on" }).click();
      page.once("dialog", (d) => {
        expect(d.message()).toContain("Put web-a in maintenance");
        void d.accept();
      });
      await row.getByRole("button", { name: "Maintenance on" }).click();
      await row.getByTestId("maintenance").filter({ hasText: "maintenance (page)" }).waitFor({ timeout: 30_000 });
      const answer = await request(`${url}/`);
      expect(answer.status).toBe(503);
      expect(answer.headers["retry-after"]).toBe("300");
      const on = (await environment()).maintenance;
      expect(on).toMatchObject({ mode: "page" });
      expect(JSON.stringify(on.by)).toContain("alice");
      // One change was asked for, by alice: the dismissed confirmation sent nothing.
      const audited = (await server.api("GET", "/v1/audit?environment=web-a&action=environment.maintenance_on")).json.entries as unknown[];
      expect(audited).toHaveLength(1);
      expect(JSON.stringify(audited[0])).toContain("alice");
      await expectNoSeriousViolations(page);

      const vera = await signIn("vera");
      try {
        await vera.page.getByRole("link", { name: "Environments" }).click();
        const seen = vera.page.getByTestId("env-web-a");
        await seen.getByTestId("maintenance").waitFor();
        expect(await seen.getByRole("button", { name: /Maintenance on|End maintenance/ }).count()).toBe(0);
      } finally {
        await vera.context.close();
      }

      await row.getByRole("button", { name: "End maintenance" }).click();
      await row.getByTestId("maintenance").waitFor({ state: "detached", timeout: 30_000 });
      expect((await request(`${url}/`)).status).toBe(200);
      expect((await environment()).maintenance).toBeUndefined();
    } finally {
      await context.close();
    }
  });
});

describe("schedules and the audit log", () => {
  it("lists schedules with their next run, and shows the audit log, filtered, to admins only", async () => {
    const created = await server.api("POST", "/v1/environments/web-a/schedules", { kind: "refresh", cron: "0 3 * * *", timezone: "UTC" });
    expect(created.status).toBe(201);
    const alice = await signIn("alice");
    try {
      await alice.page.getByRole("link", { name: "Schedules" }).click();
      const row = alice.page.getByTestId(`schedule-${created.json.id}`);
      await row.waitFor();
      expect(await row.textContent()).toContain("0 3 * * *");
      expect(await row.textContent()).toContain(new Date(created.json.nextRunAt).toLocaleString("en-US"));
      await expectNoSeriousViolations(alice.page);
      await screenshot(alice.page, "schedules");
      // The audit log is an admin's: not offered, and refused to the session if asked for.
      expect(await alice.page.getByRole("link", { name: "Audit" }).count()).toBe(0);
      const cookie = `cutover_session=${(await alice.context.cookies()).find((c) => c.name === "cutover_session")!.value}`;
      expect((await request(`${server.url}/v1/audit`, { headers: { cookie } })).status).toBe(403);
    } finally {
      await alice.context.close();
    }
    const admin = await signIn("admin");
    try {
      await admin.page.getByRole("link", { name: "Audit" }).click();
      await admin.page.getByRole("cell", { name: "schedule.create" }).first().waitFor();
      await admin.page.getByLabel("Action").fill("deployment.promote");
      await admin.page.getByRole("cell", { name: "deployment.promote" }).first().waitFor();
      await waitFor("only promotions to be listed", async () => {
        const actions = await admin.page.locator("tbody tr td:nth-child(3)").allTextContents();
        return actions.length > 0 && actions.every((a) => a === "deployment.promote");
      });
      expect(await admin.page.locator("tbody tr").first().textContent()).toContain("alice (token)");
      await expectNoSeriousViolations(admin.page);
      await screenshot(admin.page, "audit");
    } finally {
      await admin.context.close();
    }
  });
});

describe("the change stream", () => {
  it("names changes only in the caller's scope", async () => {
    const seen: { environment: string; kind: string }[] = [];
    const req = http.get(`${server.url}/v1/changes`, { headers: { ...as("vera"), accept: "text/event-stream" } });
    const opened = new Promise<http.IncomingMessage>((resolve, reject) => req.on("response", resolve).on("error", reject));
    const res = await opened;
    expect(res.statusCode).toBe(200);
    let buffer = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (data) seen.push(JSON.parse(data));
      }
    });
    try {
      // Another team's environment changes first, then this one's: the stream is in order, so had it named the other, it would have by then.
      await waitForDeployment(server, (await server.api("POST", "/v1/environments/web-b/deployments", { version: "v9" })).json.id, "succeeded");
      await server.api("POST", "/v1/environments/web-a/refresh", {});
      await waitFor("a change of web-a", () => seen.some((c) => c.environment === "web-a"), 60_000);
      expect(seen.filter((c) => c.environment !== "web-a")).toEqual([]);
    } finally {
      req.destroy();
    }
  });
});

async function expectNoSeriousViolations(page: Page): Promise<void> {
  expect(await seriousViolations(page)).toEqual([]);
}

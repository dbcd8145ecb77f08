import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { BrowserSessions, cookieValue } from "../../server/auth/browser-session";
import { TokenService } from "../../server/auth/token-service";
import { openJournal, type Journal } from "../../server/store/database";
import { TokenStore } from "../../server/store/token-store";

const journals: Journal[] = [];
afterAll(() => Promise.all(journals.map((j) => j.close())));

async function sessions(passphrase = "state-passphrase") {
  const journal = await openJournal({ dataDir: mkdtempSync(path.join(os.tmpdir(), "cutover-sessions-")) });
  journals.push(journal);
  const tokens = new TokenService(new TokenStore(journal.db), undefined);
  const { token, record } = await tokens.create({ id: "admin", name: "admin", role: "admin" }, { name: "dev", role: "deployer", environments: ["shop"] });
  return { s: new BrowserSessions(passphrase, tokens, 60_000), tokens, token, record };
}

describe("browser sessions", () => {
  it("seal the token's session into the cookie, unreadable, and act as the token does", async () => {
    const { s, token } = await sessions();
    const { cookie, session } = s.issue({ kind: "token", token });
    expect(cookie).not.toContain(token);
    expect(Buffer.from(cookie.split(".")[1], "base64url").toString("latin1")).not.toContain(token);
    expect(await s.principal(cookie, "GET", undefined)).toMatchObject({ name: "dev", role: "deployer", environments: ["shop"] });
    expect(await s.principal(cookie, "POST", session.csrf)).toMatchObject({ name: "dev" });
  });

  it("refuse a change without the session's CSRF token, whatever else is sent", async () => {
    const { s, token } = await sessions();
    const { cookie, session } = s.issue({ kind: "token", token });
    for (const header of [undefined, "", "x", session.csrf.slice(1), `${session.csrf}x`]) {
      await expect(s.principal(cookie, "POST", header)).rejects.toMatchObject({ code: "csrf_token_invalid" });
    }
    const other = s.issue({ kind: "token", token }).session.csrf;
    await expect(s.principal(cookie, "DELETE", other)).rejects.toMatchObject({ code: "csrf_token_invalid" });
  });

  it("refuse a cookie tampered with, sealed under another passphrase, or past its end", async () => {
    const { s, token } = await sessions();
    const { cookie } = s.issue({ kind: "token", token });
    const raw = Buffer.from(cookie.split(".")[1], "base64url");
    raw[raw.length - 1] ^= 1;
    expect(s.open(`s1.${raw.toString("base64url")}`)).toBeUndefined();
    expect(s.open("s1.")).toBeUndefined();
    expect(s.open("nonsense")).toBeUndefined();
    const elsewhere = (await sessions("another-passphrase")).s;
    expect(elsewhere.open(cookie)).toBeUndefined();
    expect(s.open(cookie, Date.now() + 61_000)).toBeUndefined();
    await expect(s.principal("s1.AAAA", "GET", undefined)).rejects.toMatchObject({ code: "session_expired" });
  });

  it("end with the token: a revoked token's session no longer authenticates", async () => {
    const { s, token, tokens, record } = await sessions();
    const { cookie } = s.issue({ kind: "token", token });
    await tokens.revoke({ id: "admin", name: "admin", role: "admin" }, record.id);
    await expect(s.principal(cookie, "GET", undefined)).rejects.toMatchObject({ code: "invalid_token" });
  });

  it("read one cookie out of a Cookie header", () => {
    expect(cookieValue("a=1; cutover_session=s1.xyz; b=2", "cutover_session")).toBe("s1.xyz");
    expect(cookieValue("xcutover_session=1", "cutover_session")).toBeUndefined();
    expect(cookieValue(undefined, "cutover_session")).toBeUndefined();
  });
});

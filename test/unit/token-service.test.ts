import { mkdtempSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TokenService, type Principal } from "../../server/auth/token-service";
import { openJournal, type Journal } from "../../server/store/database";
import { TokenStore } from "../../server/store/token-store";

const journals: Journal[] = [];
afterAll(() => Promise.all(journals.map((j) => j.close())));

async function service(adminToken?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cutover-tokens-"));
  const journal = await openJournal({ dataDir: dir });
  journals.push(journal);
  return { tokens: new TokenService(new TokenStore(journal.db), adminToken), journal };
}

const ROOT = { id: "admin", name: "admin", role: "admin" as const };

describe("tokens", () => {
  it("authenticates a created token and stores only its hash", async () => {
    const { tokens, journal } = await service();
    const { token, record } = await tokens.create(ROOT, { name: "ci", role: "deployer" });
    expect(await tokens.authenticate(`Bearer ${token}`)).toMatchObject({ id: record.id, role: "deployer" });
    const rows = await journal.db.selectFrom("tokens").selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it("refuses revoked, unknown and malformed tokens with distinct codes", async () => {
    const { tokens } = await service();
    const { token, record } = await tokens.create(ROOT, { name: "ci", role: "viewer" });
    await tokens.revoke(ROOT, record.id);
    await expect(tokens.authenticate(`Bearer ${token}`)).rejects.toMatchObject({ code: "invalid_token" });
    await expect(tokens.authenticate(undefined)).rejects.toMatchObject({ code: "unauthenticated" });
    await expect(tokens.authenticate("Token abc")).rejects.toMatchObject({ code: "invalid_authorization" });
  });

  it("orders roles and honours environment scopes with prefixes", async () => {
    const { tokens } = await service("admin-token-0123456789");
    const admin = await tokens.authenticate("Bearer admin-token-0123456789");
    expect(() => tokens.authorize(admin, "admin", "anything")).not.toThrow();
    const scoped = await tokens.authenticate(`Bearer ${(await tokens.create(ROOT, { name: "t", role: "deployer", environments: ["shop", "pay-*"] })).token}`);
    expect(() => tokens.authorize(scoped, "deployer", "shop")).not.toThrow();
    expect(() => tokens.authorize(scoped, "deployer", "pay-eu")).not.toThrow();
    expect(() => tokens.authorize(scoped, "deployer", "shopping")).toThrow(expect.objectContaining({ code: "environment_out_of_scope" }));
    expect(() => tokens.authorize(scoped, "admin")).toThrow(expect.objectContaining({ code: "insufficient_role" }));
  });

  it("lets a token mint only tokens within its own role and scope", async () => {
    const { tokens } = await service();
    const mint = async (creator: Principal, input: Parameters<TokenService["create"]>[1]) => (await tokens.create(creator, input)).token;
    const shopAdmin = await tokens.authenticate(`Bearer ${await mint(ROOT, { name: "shop-admin", role: "admin", environments: ["shop-*"] })}`);
    await expect(tokens.create(shopAdmin, { name: "ok", role: "deployer", environments: ["shop-eu", "shop-us-*"] })).resolves.toBeDefined();
    await expect(tokens.create(shopAdmin, { name: "wide", role: "admin" })).rejects.toMatchObject({ code: "token_scope_exceeds_own" });
    await expect(tokens.create(shopAdmin, { name: "other", role: "viewer", environments: ["pay"] })).rejects.toMatchObject({ code: "token_scope_exceeds_own" });
    await expect(tokens.create(shopAdmin, { name: "scrape", role: "metrics" })).rejects.toMatchObject({ code: "token_role_exceeds_own" });
    const shopEu = await tokens.authenticate(`Bearer ${await mint(ROOT, { name: "eu", role: "admin", environments: ["shop-eu"] })}`);
    await expect(tokens.create(shopEu, { name: "pattern", role: "viewer", environments: ["shop-*"] })).rejects.toMatchObject({ code: "token_scope_exceeds_own" });
    const deployer = await tokens.authenticate(`Bearer ${await mint(ROOT, { name: "d", role: "deployer" })}`);
    await expect(tokens.create(deployer, { name: "up", role: "admin" })).rejects.toMatchObject({ code: "token_role_exceeds_own" });
    // A scoped admin sees and revokes only tokens within its scope.
    expect((await tokens.list(shopAdmin)).map((t) => t.name).sort()).toEqual(["eu", "ok", "shop-admin"]);
    const rootToken = (await tokens.list(ROOT)).find((t) => t.name === "d")!;
    await expect(tokens.revoke(shopAdmin, rootToken.id)).rejects.toMatchObject({ code: "token_not_found" });
  });

  it("keeps /metrics to metrics tokens and unscoped admins", async () => {
    const { tokens } = await service();
    const as = async (role: "viewer" | "metrics" | "admin", environments?: string[]) =>
      tokens.authenticate(`Bearer ${(await tokens.create(ROOT, { name: role, role, environments })).token}`);
    const metrics = await as("metrics");
    expect(() => tokens.authorize(metrics, "metrics")).not.toThrow();
    expect(() => tokens.authorize(ROOT, "metrics")).not.toThrow();
    const viewer = await as("viewer");
    expect(() => tokens.authorize(viewer, "metrics")).toThrow(expect.objectContaining({ code: "insufficient_role" }));
    const scopedAdmin = await as("admin", ["shop"]);
    expect(() => tokens.authorize(scopedAdmin, "metrics")).toThrow(expect.objectContaining({ code: "insufficient_role" }));
    expect(() => tokens.authorize(metrics, "viewer")).toThrow(expect.objectContaining({ code: "insufficient_role" }));
  });

  it("bootstraps the admin token once, in a 0600 file", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "cutover-boot-"));
    const first = TokenService.bootstrapAdminToken(dir);
    const again = TokenService.bootstrapAdminToken(dir);
    expect(first.created).toBe(true);
    expect(again).toEqual({ ...first, created: false });
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
  });
});

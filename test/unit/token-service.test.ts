import { mkdtempSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TokenService } from "../../server/auth/token-service";
import { openDatabase } from "../../server/store/database";
import { TokenStore } from "../../server/store/token-store";

function service(adminToken?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cutover-tokens-"));
  return { tokens: new TokenService(new TokenStore(openDatabase(path.join(dir, "cutover.db"))), adminToken), dir };
}

const ROOT = { id: "admin", name: "admin", role: "admin" as const };

describe("tokens", () => {
  it("authenticates a created token and stores only its hash", () => {
    const { tokens, dir } = service();
    const { token, record } = tokens.create(ROOT, { name: "ci", role: "deployer" });
    expect(tokens.authenticate(`Bearer ${token}`)).toMatchObject({ id: record.id, role: "deployer" });
    const db = openDatabase(path.join(dir, "cutover.db"));
    const rows = db.prepare("SELECT * FROM tokens").all();
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it("refuses revoked, unknown and malformed tokens with distinct codes", () => {
    const { tokens } = service();
    const { token, record } = tokens.create(ROOT, { name: "ci", role: "viewer" });
    tokens.revoke(ROOT, record.id);
    expect(() => tokens.authenticate(`Bearer ${token}`)).toThrow(expect.objectContaining({ code: "invalid_token" }));
    expect(() => tokens.authenticate(undefined)).toThrow(expect.objectContaining({ code: "unauthenticated" }));
    expect(() => tokens.authenticate("Token abc")).toThrow(expect.objectContaining({ code: "invalid_authorization" }));
  });

  it("orders roles and honours environment scopes with prefixes", () => {
    const { tokens } = service("admin-token-0123456789");
    const admin = tokens.authenticate("Bearer admin-token-0123456789");
    expect(() => tokens.authorize(admin, "admin", "anything")).not.toThrow();
    const scoped = tokens.authenticate(`Bearer ${tokens.create(ROOT, { name: "t", role: "deployer", environments: ["shop", "pay-*"] }).token}`);
    expect(() => tokens.authorize(scoped, "deployer", "shop")).not.toThrow();
    expect(() => tokens.authorize(scoped, "deployer", "pay-eu")).not.toThrow();
    expect(() => tokens.authorize(scoped, "deployer", "shopping")).toThrow(expect.objectContaining({ code: "environment_out_of_scope" }));
    expect(() => tokens.authorize(scoped, "admin")).toThrow(expect.objectContaining({ code: "insufficient_role" }));
  });

  it("lets a token mint only tokens within its own role and scope", () => {
    const { tokens } = service();
    const shopAdmin = tokens.authenticate(`Bearer ${tokens.create(ROOT, { name: "shop-admin", role: "admin", environments: ["shop-*"] }).token}`);
    expect(() => tokens.create(shopAdmin, { name: "ok", role: "deployer", environments: ["shop-eu", "shop-us-*"] })).not.toThrow();
    expect(() => tokens.create(shopAdmin, { name: "wide", role: "admin" })).toThrow(expect.objectContaining({ code: "token_scope_exceeds_own" }));
    expect(() => tokens.create(shopAdmin, { name: "other", role: "viewer", environments: ["pay"] })).toThrow(
      expect.objectContaining({ code: "token_scope_exceeds_own" }),
    );
    expect(() => tokens.create(shopAdmin, { name: "scrape", role: "metrics" })).toThrow(expect.objectContaining({ code: "token_role_exceeds_own" }));
    const shopEu = tokens.authenticate(`Bearer ${tokens.create(ROOT, { name: "eu", role: "admin", environments: ["shop-eu"] }).token}`);
    expect(() => tokens.create(shopEu, { name: "pattern", role: "viewer", environments: ["shop-*"] })).toThrow(
      expect.objectContaining({ code: "token_scope_exceeds_own" }),
    );
    const deployer = tokens.authenticate(`Bearer ${tokens.create(ROOT, { name: "d", role: "deployer" }).token}`);
    expect(() => tokens.create(deployer, { name: "up", role: "admin" })).toThrow(expect.objectContaining({ code: "token_role_exceeds_own" }));
    // A scoped admin sees and revokes only tokens within its scope.
    expect(tokens.list(shopAdmin).map((t) => t.name).sort()).toEqual(["eu", "ok", "shop-admin"]);
    const rootToken = tokens.list(ROOT).find((t) => t.name === "d")!;
    expect(() => tokens.revoke(shopAdmin, rootToken.id)).toThrow(expect.objectContaining({ code: "token_not_found" }));
  });

  it("keeps /metrics to metrics tokens and unscoped admins", () => {
    const { tokens } = service();
    const as = (role: "viewer" | "metrics" | "admin", environments?: string[]) =>
      tokens.authenticate(`Bearer ${tokens.create(ROOT, { name: role, role, environments }).token}`);
    expect(() => tokens.authorize(as("metrics"), "metrics")).not.toThrow();
    expect(() => tokens.authorize(ROOT, "metrics")).not.toThrow();
    expect(() => tokens.authorize(as("viewer"), "metrics")).toThrow(expect.objectContaining({ code: "insufficient_role" }));
    expect(() => tokens.authorize(as("admin", ["shop"]), "metrics")).toThrow(expect.objectContaining({ code: "insufficient_role" }));
    expect(() => tokens.authorize(as("metrics"), "viewer")).toThrow(expect.objectContaining({ code: "insufficient_role" }));
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

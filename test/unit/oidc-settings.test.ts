import { writeFileSync } from "node:fs";
import path from "node:path";
import { loadOidcSettings, principalOfClaims } from "../../server/auth/oidc-settings";
import { tempDir } from "../helpers/temp-dir";

function settingsFile(content: unknown): string {
  const file = path.join(tempDir("oidc-settings"), "oidc.json");
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

const base = {
  issuer: "https://id.example.com",
  clientId: "cutover",
  mappings: [
    { group: "platform-admins", role: "admin" },
    { claim: "email", equals: "rel@example.com", role: "approver", environments: ["shop", "shop-*"] },
    { group: "shop-team", role: "deployer", environments: ["shop-*"] },
    { group: "everyone", role: "viewer" },
  ],
};

describe("OpenID Connect settings", () => {
  it("map a person's claims to the first mapping that matches: one role, one scope", () => {
    const s = loadOidcSettings(settingsFile(base));
    expect(s.scopes).toEqual(["openid", "email", "profile"]);
    expect(principalOfClaims(s, { sub: "1", email: "a@example.com", groups: ["shop-team", "platform-admins"] })).toEqual({
      id: "oidc:https://id.example.com#1",
      name: "a@example.com",
      role: "admin",
      person: "a@example.com",
    });
    expect(principalOfClaims(s, { sub: "2", email: "rel@example.com", groups: ["shop-team"] })).toMatchObject({ role: "approver", environments: ["shop", "shop-*"] });
    expect(principalOfClaims(s, { sub: "3", email: "d@example.com", groups: "shop-team" })).toMatchObject({ role: "deployer", environments: ["shop-*"] });
    expect(principalOfClaims(s, { sub: "4", groups: ["everyone"] })).toMatchObject({ role: "viewer", name: "4", person: "4" });
  });

  it("refuse a person no mapping names, and claims without a subject", () => {
    const s = loadOidcSettings(settingsFile(base));
    expect(principalOfClaims(s, { sub: "5", email: "x@example.com", groups: ["contractors"] })).toEqual({ refused: expect.stringContaining("x@example.com") });
    expect(principalOfClaims(s, { email: "rel@example.com" })).toEqual({ refused: expect.stringContaining("no subject") });
    // A claim of the wrong type matches nothing.
    expect(principalOfClaims(s, { sub: "6", email: ["rel@example.com"], groups: [{ name: "platform-admins" }] })).toHaveProperty("refused");
  });

  it("stop the start with what is wrong in the file", () => {
    expect(() => loadOidcSettings(settingsFile("{"))).toThrow(/cannot read .* as JSON/);
    expect(() => loadOidcSettings(settingsFile({ ...base, issuer: "http://id.example.com" }))).toThrow(/must be https/);
    expect(() => loadOidcSettings(settingsFile({ ...base, mappings: [] }))).toThrow(/mappings/);
    expect(() => loadOidcSettings(settingsFile({ ...base, mappings: [{ role: "admin" }] }))).toThrow(/either a group, or a claim/);
    expect(() => loadOidcSettings(settingsFile({ ...base, mappings: [{ group: "g", role: "metrics" }] }))).toThrow(/role/);
    expect(() => loadOidcSettings(settingsFile({ ...base, extra: 1 }))).toThrow(/extra/);
    expect(loadOidcSettings(settingsFile({ ...base, issuer: "http://127.0.0.1:9000", scopes: ["email"] }), "from-env")).toMatchObject({ scopes: ["openid", "email"], clientSecret: "from-env" });
  });
});

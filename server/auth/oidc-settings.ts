// Signing in to the web UI with OpenID Connect: the operator's settings
// (issuer, client, which claims name the person and their groups) and the
// mapping from a person's claims to one role and one environment scope.
// The first mapping that matches decides; a person no mapping matches is
// refused. Mappings are read in the order written, so write the most
// specific (and most powerful) first.
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Principal, Role } from "./token-service";

const scope = z.array(z.string().regex(/^[a-z0-9-]+\*?$/, "an environment name, or a prefix ending in *")).min(1).max(100);

const mapping = z
  .strictObject({
    group: z.string().min(1).optional().describe("matches when the groups claim holds this group"),
    claim: z.string().min(1).optional().describe("matches when this claim ..."),
    equals: z.string().min(1).optional().describe("... equals this value"),
    role: z.enum(["viewer", "deployer", "approver", "admin"]),
    environments: scope.optional(),
  })
  .refine((m) => (m.group !== undefined) !== (m.claim !== undefined && m.equals !== undefined), "a mapping names either a group, or a claim and the value it equals")
  .refine((m) => (m.claim === undefined) === (m.equals === undefined), "claim and equals go together");

const settings = z.strictObject({
  issuer: z.url({ protocol: /^https?$/ }),
  clientId: z.string().min(1),
  /** A confidential client's secret; a public client (PKCE alone) has none. CUTOVER_OIDC_CLIENT_SECRET takes its place. */
  clientSecret: z.string().min(1).optional(),
  label: z.string().min(1).max(60).default("single sign-on"),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).default(["openid", "email", "profile"]),
  personClaim: z.string().min(1).default("email"),
  groupsClaim: z.string().min(1).default("groups"),
  mappings: z.array(mapping).min(1),
});

export type OidcSettings = z.output<typeof settings>;

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Reads and checks the settings file; a problem stops the start with what is wrong. */
export function loadOidcSettings(file: string, clientSecret?: string): OidcSettings {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`CUTOVER_OIDC_CONFIG: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  const parsed = settings.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`CUTOVER_OIDC_CONFIG: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`).join("; ")}`);
  }
  const s = parsed.data;
  const issuer = new URL(s.issuer);
  if (issuer.protocol === "http:" && !LOOPBACK.has(issuer.hostname)) throw new Error("CUTOVER_OIDC_CONFIG: the issuer must be https (plain http only on this machine's loopback)");
  if (!s.scopes.includes("openid")) s.scopes.unshift("openid");
  return { ...s, ...(clientSecret ? { clientSecret } : {}) };
}

/** Whether the issuer may be reached over plain http (a provider on this machine's loopback). */
export const insecureIssuer = (s: OidcSettings) => new URL(s.issuer).protocol === "http:";

/** The principal a person's verified claims map to, or why they are refused. */
export function principalOfClaims(s: OidcSettings, claims: Record<string, unknown>): Principal | { refused: string } {
  const sub = typeof claims.sub === "string" ? claims.sub : undefined;
  if (!sub) return { refused: "the identity provider sent no subject" };
  const groupsClaim = claims[s.groupsClaim];
  const groups = Array.isArray(groupsClaim) ? groupsClaim.filter((g): g is string => typeof g === "string") : typeof groupsClaim === "string" ? [groupsClaim] : [];
  const match = s.mappings.find((m) => (m.group !== undefined ? groups.includes(m.group) : claims[m.claim!] === m.equals));
  const person = typeof claims[s.personClaim] === "string" ? (claims[s.personClaim] as string) : sub;
  if (!match) return { refused: `no mapping gives ${person} a role in Cutover: ask an admin to map one of your groups` };
  const role: Role = match.role;
  return {
    id: `oidc:${s.issuer}#${sub}`,
    name: person,
    role,
    ...(match.environments ? { environments: match.environments } : {}),
    person,
  };
}

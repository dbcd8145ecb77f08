// Signing in to the web UI with OpenID Connect: the authorization code
// flow with PKCE, a state and a nonce, as openid-client speaks it. The
// sign-in in progress (verifier, state, nonce) waits in a sealed cookie
// for the provider to send the browser back; the verified ID token's
// claims (with the UserInfo endpoint's, when the ID token leaves the
// person or their groups out) are mapped to a role and scope, which become
// the session.
import type { Request, Response } from "express";
import express from "express";
import type * as Oidc from "openid-client";
import { z } from "zod";
import { cookieValue, type BrowserSessions } from "../auth/browser-session";
import { insecureIssuer, principalOfClaims, type OidcSettings } from "../auth/oidc-settings";
import type { Logger } from "../logger";
import { startSession } from "./ui-routes";

const PENDING_COOKIE = "cutover_oidc";
const PENDING_MS = 10 * 60_000;

interface Pending {
  verifier: string;
  state: string;
  nonce: string;
  expires: number;
}

const callbackQuery = z.object({ state: z.string().max(512).optional(), code: z.string().max(4096).optional(), error: z.string().max(200).optional(), error_description: z.string().max(500).optional() });

export interface OidcDeps {
  settings: OidcSettings;
  sessions: BrowserSessions;
  secureCookies: boolean;
  /** Where people reach Cutover; otherwise the request's own host (the provider accepts only the redirect URIs registered with it). */
  publicUrl?: string;
  logger: Logger;
}

/** openid-client is an ES module: loaded when a sign-in first needs it, so nothing loads it where OpenID Connect is not configured. */
let client: Promise<typeof Oidc> | undefined;
const openidClient = () => (client ??= import("openid-client"));

export function oidcRouter(deps: OidcDeps): express.Router {
  const router = express.Router();
  let discovered: Promise<Oidc.Configuration> | undefined;
  const configuration = () => {
    discovered ??= openidClient()
      .then((oidc) => oidc.discovery(new URL(deps.settings.issuer), deps.settings.clientId, deps.settings.clientSecret, deps.settings.clientSecret ? undefined : oidc.None(), insecureIssuer(deps.settings) ? { execute: [oidc.allowInsecureRequests] } : undefined))
      .catch((err: unknown) => {
        discovered = undefined;
        throw err;
      });
    return discovered;
  };
  const base = (req: Request) => deps.publicUrl ?? `${req.protocol}://${req.get("host")}`;
  const redirectUri = (req: Request) => `${base(req)}/ui/oidc/callback`;
  const cookieOptions = { httpOnly: true, secure: deps.secureCookies, path: "/ui/oidc", sameSite: "lax" as const };
  /** Back to the sign-in page, saying why. */
  const fail = (res: Response, why: string) => {
    res.clearCookie(PENDING_COOKIE, cookieOptions);
    res.redirect(303, `/ui/?error=${encodeURIComponent(why)}`);
  };

  router.get("/ui/oidc/login", async (req: Request, res: Response) => {
    let config: Oidc.Configuration;
    const oidc = await openidClient();
    try {
      config = await configuration();
    } catch (err) {
      deps.logger.warn({ err: String(err), issuer: deps.settings.issuer }, "OpenID Connect discovery failed");
      return fail(res, "the identity provider cannot be reached: try again, or sign in with a token");
    }
    const pending: Pending = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce(), expires: Date.now() + PENDING_MS };
    // SameSite=Lax: the provider sends the browser back with a top-level navigation from its own site.
    res.cookie(PENDING_COOKIE, deps.sessions.seal("oidc-pending", pending), { ...cookieOptions, maxAge: PENDING_MS });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri(req),
      scope: deps.settings.scopes.join(" "),
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: "S256",
      state: pending.state,
      nonce: pending.nonce,
    });
    res.redirect(303, url.href);
  });

  router.get("/ui/oidc/callback", async (req: Request, res: Response) => {
    const query = callbackQuery.safeParse(req.query);
    if (!query.success) return fail(res, "the identity provider's answer is not one Cutover understands");
    if (query.data.error) return fail(res, `the identity provider refused: ${query.data.error_description ?? query.data.error}`);
    const cookie = cookieValue(req.get("cookie"), PENDING_COOKIE);
    const pending = cookie ? deps.sessions.openSealed<Pending>("oidc-pending", cookie) : undefined;
    if (!pending || pending.expires < Date.now()) return fail(res, "the sign-in took too long or was not started here: sign in again");
    let claims: Record<string, unknown>;
    try {
      const oidc = await openidClient();
      const config = await configuration();
      const current = new URL(`${redirectUri(req)}?${new URLSearchParams(req.query as Record<string, string>).toString()}`);
      const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true });
      claims = { ...(tokens.claims() ?? {}) } as Record<string, unknown>;
      // Providers that keep the ID token small leave the person and their groups to the UserInfo endpoint.
      const missing = [deps.settings.personClaim, deps.settings.groupsClaim].some((c) => claims[c] === undefined);
      if (missing && config.serverMetadata().userinfo_endpoint && typeof claims.sub === "string") {
        claims = { ...(await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)), ...claims };
      }
    } catch (err) {
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "OpenID Connect sign-in failed");
      return fail(res, "the sign-in could not be verified: sign in again");
    }
    const principal = principalOfClaims(deps.settings, claims);
    if ("refused" in principal) return fail(res, principal.refused);
    res.clearCookie(PENDING_COOKIE, cookieOptions);
    startSession(deps, res, { kind: "oidc", principal }, principal);
    deps.logger.info({ person: principal.name, role: principal.role }, "signed in with OpenID Connect");
    res.redirect(303, "/ui/");
  });
  return router;
}

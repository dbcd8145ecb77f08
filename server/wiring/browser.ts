// The web UI's wiring: its sessions (sealed under a key from the state
// passphrase, so every replica opens the same cookies), OpenID Connect
// sign-in when configured (its settings checked at start), and its routes.
import path from "node:path";
import { BrowserSessions } from "../auth/browser-session";
import { loadOidcSettings } from "../auth/oidc-settings";
import type { TokenService } from "../auth/token-service";
import type { Config } from "../config";
import { projectRoot } from "../engine/toolchain";
import { oidcRouter } from "../http/oidc-routes";
import { uiRouter } from "../http/ui-routes";
import type { Logger } from "../logger";

export function browserAccess(config: Config, passphrase: string, tokens: TokenService, logger: Logger) {
  const sessions = new BrowserSessions(passphrase, tokens, config.uiSessionTtlMs);
  const secureCookies = config.publicUrl?.startsWith("https://") ?? false;
  const oidc = config.oidcConfigFile ? loadOidcSettings(config.oidcConfigFile, config.oidcClientSecret) : undefined;
  const ui = uiRouter({ sessions, tokens, root: path.join(projectRoot, "dist", "ui"), secureCookies, longWaitMs: config.uiLongWaitMs, ...(oidc ? { oidc: { label: oidc.label } } : {}) });
  const routes = oidc ? [oidcRouter({ settings: oidc, sessions, secureCookies, publicUrl: config.publicUrl, logger: logger.child({ component: "oidc" }) }), ui] : [ui];
  return { sessions, routes };
}

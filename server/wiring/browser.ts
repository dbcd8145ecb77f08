// The web UI's wiring: its sessions (sealed under a key from the state
// passphrase, so every replica opens the same cookies) and its routes.
import path from "node:path";
import { BrowserSessions } from "../auth/browser-session";
import type { TokenService } from "../auth/token-service";
import type { Config } from "../config";
import { projectRoot } from "../engine/toolchain";
import { uiRouter } from "../http/ui-routes";

export function browserAccess(config: Config, passphrase: string, tokens: TokenService) {
  const sessions = new BrowserSessions(passphrase, tokens, config.uiSessionTtlMs);
  const secureCookies = config.publicUrl?.startsWith("https://") ?? false;
  return { sessions, routes: [uiRouter({ sessions, tokens, root: path.join(projectRoot, "dist", "ui"), secureCookies })] };
}

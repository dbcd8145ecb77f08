// A browser's session: who signed in (an API token pasted once, or a
// person signed in with OpenID Connect, mapped to a role and scope), a
// CSRF token, and when it ends, sealed with AES-256-GCM into the cookie
// itself, so every replica can open it and nothing is stored. A token
// session names its token, which is looked up on every request, so
// revoking the token ends the session.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { AuthenticationError, ForbiddenError } from "../errors";
import type { Principal, TokenService } from "./token-service";

export const SESSION_COOKIE = "cutover_session";
export const CSRF_HEADER = "x-cutover-csrf";
const VERSION = "s1";

export type SessionSubject = { kind: "token"; token: string } | { kind: "oidc"; principal: Principal };

export interface BrowserSession {
  subject: SessionSubject;
  csrf: string;
  /** Epoch ms. */
  expires: number;
}

export class BrowserSessions {
  private readonly key: Buffer;

  constructor(
    passphrase: string,
    private readonly tokens: TokenService,
    readonly lifetimeMs: number,
  ) {
    this.key = scryptSync(passphrase, "cutover:browser-session:v1", 32);
  }

  /** A new session for a subject: its cookie value and its CSRF token. */
  issue(subject: SessionSubject, now = Date.now()): { cookie: string; session: BrowserSession } {
    const session: BrowserSession = { subject, csrf: randomBytes(24).toString("base64url"), expires: now + this.lifetimeMs };
    return { cookie: this.seal("session", session), session };
  }

  /** The session a cookie holds, if it is one of ours and has not ended. */
  open(cookie: string, now = Date.now()): BrowserSession | undefined {
    const session = this.openSealed<BrowserSession>("session", cookie);
    return session && session.expires > now ? session : undefined;
  }

  /** Seals a small value the browser keeps for Cutover (a session; an OpenID Connect sign-in in progress), for one purpose only. */
  seal(purpose: string, value: unknown): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify({ purpose, value }), "utf8"), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url")}`;
  }

  /** What `seal` sealed for this purpose, if the value is one of ours and unaltered. */
  openSealed<T>(purpose: string, sealed: string): T | undefined {
    const [version, data] = sealed.split(".");
    if (version !== VERSION || !data) return undefined;
    try {
      const raw = Buffer.from(data, "base64url");
      if (raw.length < 29) return undefined;
      const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const box = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8")) as { purpose: string; value: T };
      return box.purpose === purpose ? box.value : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The principal behind a session cookie. A call that changes anything
   * must carry the session's CSRF token in a header a cross-site form
   * cannot set.
   */
  async principal(cookie: string, method: string, csrfHeader: string | undefined): Promise<Principal> {
    const session = this.open(cookie);
    if (!session) throw new AuthenticationError("session_expired", "the browser session has ended or is not valid: sign in again");
    if (!["GET", "HEAD", "OPTIONS"].includes(method) && !sameSecret(session.csrf, csrfHeader)) {
      throw new ForbiddenError("csrf_token_invalid", `a call that changes anything needs the session's CSRF token in the ${CSRF_HEADER} header`);
    }
    return this.principalOf(session);
  }

  async principalOf(session: BrowserSession): Promise<Principal> {
    return session.subject.kind === "token" ? this.tokens.authenticate(`Bearer ${session.subject.token}`) : session.subject.principal;
  }
}

function sameSecret(expected: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

// What answers leave out. Artifact environments may carry credentials:
// only admins, who set them, see their values; other roles see the names.
// Gate URLs often carry a credential in their query string or userinfo:
// other roles see the scheme, host and path. Sealed values leave the
// server for no one.
export const REDACTED = "[redacted]";
export const SECRET = "[secret]";

/** Sealed secret values are shown to nobody, admins included. */
export function hideSealed<T>(value: T): T {
  if (Array.isArray(value)) return value.map(hideSealed) as T;
  if (typeof value !== "object" || value === null) return value;
  const record = value as Record<string, unknown>;
  if (typeof record.sealed === "string" && Object.keys(record).length === 1) return SECRET as T;
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, hideSealed(v)])) as T;
}

/** What a non-admin sees of an answer: artifact env names only, gate URLs without query or userinfo, nothing sealed. */
export function forViewers<T>(value: T): T {
  return hideSealed(redactGateUrls(redactArtifactEnv(value)));
}

const GATE_KINDS = new Set(["confirm-rollout", "pre-rollout", "confirm-traffic-increase", "confirm-promotion", "post-rollout", "rollback", "approval"]);

/** A gate's URL as scheme, host and path: no userinfo, query or fragment. */
export function redactGateUrls<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactGateUrls) as T;
  if (typeof value !== "object" || value === null) return value;
  const out = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactGateUrls(v)]));
  if (typeof out.kind === "string" && GATE_KINDS.has(out.kind) && typeof out.url === "string") out.url = bareUrl(out.url);
  return out as T;
}

function bareUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return REDACTED;
  }
}

export function redactArtifactEnv<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactArtifactEnv) as T;
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactArtifactEnv(v)]);
  const out = Object.fromEntries(entries) as Record<string, unknown>;
  if (Array.isArray(out.command) && typeof out.env === "object" && out.env !== null) {
    out.env = Object.fromEntries(Object.keys(out.env).map((k) => [k, REDACTED]));
  }
  return out as T;
}

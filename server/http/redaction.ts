// Artifact environments may carry credentials. Only admins, who set them,
// see their values; other roles see the names.
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

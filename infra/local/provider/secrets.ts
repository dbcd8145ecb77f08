// Secret values reach a provider wrapped in Pulumi's secret signature and
// go back to the engine the same way, which keeps them encrypted in state.
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

const isSecret = (v: unknown): v is { value: unknown } =>
  typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;

/** The plain value, with every secret wrapper removed. */
export function reveal<T>(v: T): T {
  if (isSecret(v)) return reveal(v.value) as T;
  if (Array.isArray(v)) return v.map(reveal) as T;
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)])) as T;
  }
  return v;
}

/** Outputs to return: the revealed values, with the keys that came in as secrets wrapped again. */
export function keepSecrets(outs: Record<string, unknown>, inputs: Record<string, unknown>): Record<string, unknown> {
  const result = { ...outs };
  for (const [k, v] of Object.entries(inputs)) if (isSecret(v)) result[k] = v;
  return result;
}

// The environment of processes the provider starts. Fleets and balancers
// outlive the engine and must not inherit its secrets (the state
// passphrase, tokens) or its identity; they get the basics only.
const PASSED = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "NODE_EXTRA_CA_CERTS"];

export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of PASSED) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return env;
}

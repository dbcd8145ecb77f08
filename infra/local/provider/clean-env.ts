// The environment of processes the provider starts. Fleets and balancers
// outlive the engine and must not inherit its secrets (the state
// passphrase, tokens) or its identity; they get the basics only. A process
// run as another user gets that user's name and a HOME it may use, and no
// TMPDIR of Cutover's (it may be private): its temporary files go to /tmp.
import type { RunAs } from "./run-as";

const PASSED = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "NODE_EXTRA_CA_CERTS", "CUTOVER_HAPROXY_BIN"];

export function cleanEnv(runAs?: RunAs): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of PASSED) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  if (runAs) {
    delete env.TMPDIR;
    Object.assign(env, { HOME: runAs.home, USER: runAs.user, LOGNAME: runAs.user });
  }
  return env;
}

// Whether the local target's fleets and pre-deploy jobs run sandboxed (as
// an unprivileged user of their own), decided once at start. When they
// cannot be, what an environment runs is run with Cutover's own rights, so
// the action policy (server/auth/authorization.ts) lets only an unscoped
// admin choose it.
import { describeRunAs, guardLoopback, resolveRunAs, RunAsError, switchError, type RunAs } from "../../infra/local/runtime";

export interface LocalSandbox {
  /** The user fleets and jobs run as; absent when Cutover cannot switch users (they run as Cutover's own). */
  runAs?: RunAs;
  /** One line for the start-up log. */
  summary: string;
}

export interface SandboxFacts {
  euid: number;
  resolve: typeof resolveRunAs;
  /** Why a process cannot be started as the user, or undefined. */
  switchError: (runAs: RunAs) => string | undefined;
}

const realFacts = (): SandboxFacts => ({ euid: process.geteuid?.() ?? -1, resolve: resolveRunAs, switchError });

/**
 * Root, or an explicit CUTOVER_LOCAL_RUN_AS: the user, once a process was
 * started as it. Anything else: no sandbox. A setting that cannot be used
 * (no such user, root's or Cutover's own, or no right to switch) stops the
 * start: fleets never run as someone other than the operator asked.
 */
export function decideLocalSandbox(setting: string | undefined, facts: SandboxFacts = realFacts()): LocalSandbox {
  let runAs: RunAs | undefined;
  try {
    runAs = facts.resolve(setting, facts.euid);
  } catch (err) {
    if (err instanceof RunAsError) throw new Error(`invalid configuration: ${err.message}`);
    throw err;
  }
  if (!runAs) {
    return { summary: `Cutover is not root and CUTOVER_LOCAL_RUN_AS is unset: local fleets and pre-deploy jobs run as Cutover's own user (uid ${facts.euid}), so only an unscoped admin may set their artifact or preDeploy` };
  }
  const cannot = facts.switchError(runAs);
  if (cannot) {
    throw new Error(`invalid configuration: cannot start processes as ${describeRunAs(runAs)} (${cannot}); switching users needs root (CAP_SETUID and CAP_SETGID)${setting ? "" : ", or set CUTOVER_LOCAL_RUN_AS"}`);
  }
  return {
    runAs,
    summary: runAs.perEnvironment
      ? `local fleets and pre-deploy jobs run as a uid and gid of their environment's own (from 1073741824, derived from its name), with ${runAs.user}'s home`
      : `local fleets and pre-deploy jobs run as ${describeRunAs(runAs)}`,
  };
}

/**
 * A sandbox keeps its processes off the engine's loopback servers too
 * (infra/local/provider/loopback-guard.ts). Checked at start so that a
 * machine that cannot do it says so at once, rather than at the first fleet.
 */
export async function guardLocalSandbox(sandbox: LocalSandbox, guard: typeof guardLoopback = guardLoopback): Promise<void> {
  if (!sandbox.runAs) return;
  const unguarded = await guard(sandbox.runAs);
  if (unguarded) throw new Error(`invalid configuration: local fleets and pre-deploy jobs would run as ${describeRunAs(sandbox.runAs)}, but ${unguarded}`);
}

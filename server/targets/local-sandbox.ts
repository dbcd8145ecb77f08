// Whether the local target's fleets and pre-deploy jobs run sandboxed (as
// an unprivileged user of their own), decided once at start, and the rule
// that follows when they cannot be: what an environment runs is then run
// with Cutover's own rights, so only an unscoped admin, who holds those
// rights already, may choose it.
import { describeRunAs, resolveRunAs, RunAsError, switchError, type RunAs } from "../../infra/local/runtime";
import type { Principal } from "../auth/token-service";
import { ForbiddenError } from "../errors";

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
  return { runAs, summary: `local fleets and pre-deploy jobs run as ${describeRunAs(runAs)}` };
}

/**
 * Choosing what a local environment runs (a fleet's artifact, a pre-deploy
 * job): allowed to whoever the role rules allow while fleets and jobs are
 * sandboxed; without a sandbox only to an unscoped admin.
 */
export function authorizeWhatRuns(sandbox: LocalSandbox, principal: Principal, target: string, choosesWhatRuns: boolean): void {
  if (!choosesWhatRuns || target !== "local" || sandbox.runAs) return;
  if (principal.role === "admin" && principal.environments === undefined) return;
  throw new ForbiddenError(
    "local_sandbox_unavailable",
    "Cutover cannot switch users here (it does not run as root), so local fleets and pre-deploy jobs run with Cutover's own rights: only an unscoped admin may set an artifact or a pre-deploy job on a local environment",
    { target },
  );
}

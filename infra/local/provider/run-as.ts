// Who local fleets' instances and pre-deploy jobs run as. They run what an
// environment's admin chose, which must not get Cutover's own rights (its
// data dir holds the admin token, the state passphrase and the journal).
// So when Cutover can switch users (it runs as root) they run as an
// unprivileged user: CUTOVER_LOCAL_RUN_AS, else the `cutover-run` system
// user set-up makes, else `nobody`. Node's spawn sets the uid and gid, and
// libuv drops every supplementary group when root changes uid.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { statSync } from "node:fs";

export interface RunAs {
  user: string;
  uid: number;
  gid: number;
  /** The user's home when it exists, else /tmp: somewhere the user may use, never Cutover's own. */
  home: string;
  /**
   * Set when Cutover chose the user itself (CUTOVER_LOCAL_RUN_AS unset):
   * each environment's processes then run as a uid of their own, so one
   * environment's fleet cannot read another's memory or environment.
   */
  perEnvironment?: boolean;
}

/** Environments' own uids and gids lie in [2^30, 2^31 - 2^16): above any account a distribution hands out. */
export const ENVIRONMENT_ID_BASE = 0x4000_0000;
export const ENVIRONMENT_ID_SPAN = 0x3fff_0000;

/**
 * Who an environment's processes run as: with a per-environment setting,
 * a uid and gid derived from the environment's name (the same on every
 * replica and after every restart), no supplementary group, the base
 * user's home; otherwise the one configured user.
 */
export function environmentRunAs(runAs: RunAs | undefined, environment: string): RunAs | undefined {
  if (!runAs?.perEnvironment) return runAs;
  const id = ENVIRONMENT_ID_BASE + (createHash("sha256").update(environment).digest().readUInt32BE(0) % ENVIRONMENT_ID_SPAN);
  return { user: `${runAs.user}-${environment}`, uid: id, gid: id, home: runAs.home };
}

/** The environment a local fleet belongs to, from its name (`<environment>-<color>`). */
export const environmentOfFleet = (fleetName: string): string => fleetName.replace(/-(blue|green)$/, "");

/** Tried in order when CUTOVER_LOCAL_RUN_AS is unset and Cutover runs as root. */
export const DEFAULT_RUN_AS_USERS = ["cutover-run", "nobody"];

export interface PasswdEntry {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/** A user of the password database (through NSS), by name or uid. */
export function lookupUser(key: string): PasswdEntry | undefined {
  try {
    const line = execFileSync("getent", ["passwd", key], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 }).split("\n")[0];
    const [user, , uid, gid, , home] = line.split(":");
    return { user, uid: Number(uid), gid: Number(gid), home };
  } catch {
    return undefined;
  }
}

export class RunAsError extends Error {}

/**
 * The user to run as: undefined when Cutover is not root and no user is
 * set (it cannot switch). Throws when the setting names no user, or a user
 * that would keep root's or Cutover's own rights.
 */
export function resolveRunAs(setting: string | undefined, euid = process.geteuid?.() ?? -1, lookup = lookupUser): RunAs | undefined {
  if (!setting) {
    if (euid !== 0) return undefined;
    const entry = DEFAULT_RUN_AS_USERS.map((u) => lookup(u)).find((e) => e !== undefined);
    if (!entry) {
      throw new RunAsError(
        `Cutover runs as root and none of the users it runs local fleets as by default exists (${DEFAULT_RUN_AS_USERS.join(", ")}): run scripts/setup.sh as root, or set CUTOVER_LOCAL_RUN_AS`,
      );
    }
    return { ...checked(runAsOf(entry), euid, "the default user"), perEnvironment: true };
  }
  const numeric = /^(\d+)(?::(\d+))?$/.exec(setting);
  const entry = lookup(numeric ? numeric[1] : setting);
  if (!numeric && !entry) throw new RunAsError(`CUTOVER_LOCAL_RUN_AS=${setting}: there is no such user`);
  const uid = numeric ? Number(numeric[1]) : entry!.uid;
  const gid = numeric?.[2] !== undefined ? Number(numeric[2]) : (entry?.gid ?? uid);
  return checked(runAsOf({ user: entry?.user ?? String(uid), uid, gid, home: entry?.home ?? "" }), euid, `CUTOVER_LOCAL_RUN_AS=${setting}`);
}

function runAsOf(entry: PasswdEntry): RunAs {
  return { user: entry.user, uid: entry.uid, gid: entry.gid, home: isDirectory(entry.home) ? entry.home : "/tmp" };
}

function checked(runAs: RunAs, euid: number, what: string): RunAs {
  if (runAs.uid === 0 || runAs.gid === 0) throw new RunAsError(`${what} is ${describeRunAs(runAs)}, with root's uid or gid: fleets and jobs would keep root's rights`);
  if (runAs.uid === euid) throw new RunAsError(`${what} is ${describeRunAs(runAs)}, Cutover's own user: fleets and jobs would keep Cutover's rights`);
  return runAs;
}

/**
 * Whether a process can be started as the user here: root can, unless a
 * container took its CAP_SETUID; any other user only with that capability.
 * The error code (EPERM) when it cannot.
 */
export function switchError(runAs: RunAs): string | undefined {
  const r = spawnSync("/bin/sh", ["-c", "exit 0"], { uid: runAs.uid, gid: runAs.gid, cwd: "/", env: {}, stdio: "ignore", timeout: 5000 });
  if (r.error) return (r.error as NodeJS.ErrnoException).code ?? r.error.message;
  return r.status === 0 ? undefined : `the test process exited with ${r.status ?? r.signal}`;
}

/** The identity options of a spawn that runs as the user. */
export const spawnIdentity = (runAs: RunAs | undefined) => (runAs ? { uid: runAs.uid, gid: runAs.gid } : {});

export const describeRunAs = (runAs: RunAs) => `${runAs.user} (uid ${runAs.uid}, gid ${runAs.gid})`;

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

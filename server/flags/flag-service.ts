// Flags of an environment: set, read, switch off, and evaluate. Every
// change is versioned, kept in the flag's history and in the audit log,
// and drops the cached copy; evaluations read the cache.
import { randomBytes } from "node:crypto";
import type { AuditRepository } from "../audit/audit-log";
import type { Actor } from "../deployments/model";
import { ConflictError, NotFoundError, UnprocessableError } from "../errors";
import { FlagCache } from "./flag-cache";
import { evaluateFlag, type Evaluation, type EvaluationContext } from "./flag-evaluation";
import { kindOf, type Flag, type FlagAction, type FlagChange, type FlagInput } from "./flag-model";
import type { FlagRepository } from "./ports";

const FIELDS = ["enabled", "description", "variants", "defaultVariant", "rules", "rollout"] as const;

export interface FlagServiceDeps {
  flags: FlagRepository;
  /** Whether an environment exists. */
  environmentExists(name: string): Promise<boolean>;
  audit: AuditRepository;
  /** False where other replicas write flags and their notifications are not yet flowing. */
  cacheTrusted: boolean;
  /** Told after each change this replica makes (live views follow it). */
  changed?(environment: string): void;
}

export class FlagService {
  readonly cache: FlagCache;

  constructor(private readonly deps: FlagServiceDeps) {
    this.cache = new FlagCache((env) => deps.flags.list(env), { trusted: deps.cacheTrusted });
  }

  async list(environment: string): Promise<Flag[]> {
    await this.environment(environment);
    return this.deps.flags.list(environment);
  }

  async get(environment: string, key: string): Promise<Flag> {
    await this.environment(environment);
    const flag = await this.deps.flags.get(environment, key);
    if (!flag) throw notFound(environment, key);
    return flag;
  }

  /** Creates or replaces a flag; `ifVersion` makes it conditional on the version the caller saw. */
  async put(environment: string, key: string, input: FlagInput, actor: Actor, ifVersion?: number): Promise<{ flag: Flag; created: boolean }> {
    await this.environment(environment);
    checkConsistent(input);
    const current = await this.deps.flags.get(environment, key);
    if (ifVersion !== undefined && (current?.version ?? 0) !== ifVersion) throw changedMeanwhile(environment, key, current?.version ?? 0, ifVersion);
    const now = new Date().toISOString();
    const flag: Flag = {
      environment,
      key,
      ...input,
      salt: current?.salt ?? randomBytes(8).toString("hex"),
      version: (current?.version ?? 0) + 1,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      updatedBy: actor,
    };
    await this.write(flag, current, current ? "update" : "create", actor);
    return { flag, created: !current };
  }

  /** The kill switch (and its reverse): only `enabled` changes. */
  async setEnabled(environment: string, key: string, enabled: boolean, actor: Actor, reason?: string): Promise<Flag> {
    return this.change(environment, key, enabled ? "enable" : "disable", actor, (f) => ({ ...f, enabled }), reason);
  }

  /** Moves the rollout line of a flag (a ramp's step). */
  async setRolloutPercentage(environment: string, key: string, percentage: number, actor: Actor, reason?: string): Promise<Flag> {
    return this.change(
      environment,
      key,
      "ramp",
      actor,
      (f) => {
        if (!f.rollout) throw new UnprocessableError("flag_has_no_rollout", `flag ${key} has no rollout to move`, { environment, key });
        return { ...f, rollout: { ...f.rollout, percentage } };
      },
      reason,
    );
  }

  async remove(environment: string, key: string, actor: Actor): Promise<void> {
    await this.environment(environment);
    const current = await this.deps.flags.get(environment, key);
    if (!current) throw notFound(environment, key);
    const change: Omit<FlagChange, "id"> = { environment, key, version: current.version + 1, action: "delete", actor, at: new Date().toISOString(), changed: [] };
    if (!(await this.deps.flags.remove(environment, key, change, current.version))) throw changedMeanwhile(environment, key, current.version);
    this.cache.invalidate(environment);
    this.deps.changed?.(environment);
    await this.audit("flag.delete", environment, key, actor, { version: current.version });
  }

  async history(environment: string, key: string, limit: number): Promise<FlagChange[]> {
    await this.environment(environment);
    return this.deps.flags.history(environment, key, limit);
  }

  /** One flag for one context, from the cache. */
  async evaluate(environment: string, key: string, context: EvaluationContext): Promise<Evaluation> {
    const snap = await this.cache.snapshot(environment);
    const flag = snap.flags.get(key);
    if (!flag) return { key, errorCode: "FLAG_NOT_FOUND", errorDetails: `flag ${key} was not found in environment ${environment}` };
    return evaluateFlag(flag, context);
  }

  /** Every flag of the environment for one context, in key order. */
  async evaluateAll(environment: string, context: EvaluationContext): Promise<Evaluation[]> {
    const snap = await this.cache.snapshot(environment);
    return snap.sorted.map((f) => evaluateFlag(f, context));
  }

  private async change(environment: string, key: string, action: FlagAction, actor: Actor, edit: (f: Flag) => Flag, reason?: string): Promise<Flag> {
    await this.environment(environment);
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.deps.flags.get(environment, key);
      if (!current) throw notFound(environment, key);
      const flag = { ...edit(current), version: current.version + 1, updatedAt: new Date().toISOString(), updatedBy: actor };
      if (await this.tryWrite(flag, current, action, actor, reason)) return flag;
    }
    throw changedMeanwhile(environment, key);
  }

  private async write(flag: Flag, current: Flag | undefined, action: FlagAction, actor: Actor): Promise<void> {
    if (!(await this.tryWrite(flag, current, action, actor))) throw changedMeanwhile(flag.environment, flag.key, current?.version ?? 0);
  }

  private async tryWrite(flag: Flag, current: Flag | undefined, action: FlagAction, actor: Actor, reason?: string): Promise<boolean> {
    const changed = FIELDS.filter((f) => JSON.stringify(flag[f]) !== JSON.stringify(current?.[f]));
    const change: Omit<FlagChange, "id"> = {
      environment: flag.environment,
      key: flag.key,
      version: flag.version,
      action,
      actor,
      at: flag.updatedAt,
      changed,
      flag,
      ...(reason ? { reason } : {}),
    };
    if (!(await this.deps.flags.save(flag, change, current?.version ?? 0))) return false;
    this.cache.invalidate(flag.environment);
    this.deps.changed?.(flag.environment);
    await this.audit(`flag.${action}`, flag.environment, flag.key, actor, { version: flag.version, changed, ...(reason ? { reason } : {}) });
    return true;
  }

  private async audit(action: string, environment: string, key: string, actor: Actor, data: Record<string, unknown>): Promise<void> {
    await this.deps.audit.append({ actor, action, environment, subject: key, data });
  }

  private async environment(name: string): Promise<void> {
    if (!(await this.deps.environmentExists(name))) throw new NotFoundError("environment_not_found", `no environment named ${name}`, { environment: name });
  }
}

const notFound = (environment: string, key: string) => new NotFoundError("flag_not_found", `no flag ${key} in environment ${environment}`, { environment, key });

const changedMeanwhile = (environment: string, key: string, actual?: number, expected?: number) =>
  new ConflictError("flag_version_mismatch", `flag ${key} changed meanwhile${actual !== undefined ? ` (it is at version ${actual})` : ""}; read it again and retry`, {
    environment,
    key,
    ...(actual !== undefined ? { version: actual } : {}),
    ...(expected !== undefined ? { expected } : {}),
  });

/** The checks a schema cannot make: variants named by the flag exist, and all have one type. */
function checkConsistent(input: FlagInput): void {
  const names = Object.keys(input.variants);
  const kinds = new Set(Object.values(input.variants).map(kindOf));
  const fail = (message: string, details: Record<string, unknown> = {}) => {
    throw new UnprocessableError("flag_invalid", message, details);
  };
  if (kinds.size > 1) fail(`a flag's variants must all have one type; these mix ${[...kinds].join(" and ")}`, { types: [...kinds] });
  const known = (variant: string, where: string) => {
    if (!names.includes(variant)) fail(`${where} names variant "${variant}", which is not one of ${names.join(", ")}`, { variant, variants: names });
  };
  known(input.defaultVariant, "defaultVariant");
  input.rules.forEach((r, i) => known(r.variant, `rules[${i}]`));
  if (input.rollout) known(input.rollout.variant, "rollout");
}

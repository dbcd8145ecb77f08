// Removes what no stack owns: fleets and balancers an interrupted engine
// operation started but never recorded. It reads stacks through whichever
// engine asks (the engine a worker died in passes itself), so it is built
// before any engine and needs none of its own.
import type { Logger } from "../logger";
import { stackNames } from "../deployments/deployment-target";
import type { StackEngine } from "../deployments/stack-engine";
import type { TargetRegistry } from "../deployments/target-registry";
import type { EnvironmentRepository } from "../deployments/ports";
import type { Color } from "../deployments/model";

/** What the reaper reads of stacks. */
export type StackReader = Pick<StackEngine, "exists" | "outputs">;

export interface ReaperDeps {
  environments: EnvironmentRepository;
  targets: TargetRegistry;
  logger: Logger;
}

export class Reaper {
  constructor(private readonly deps: ReaperDeps) {}

  /**
   * After an engine worker died mid-operation on one of an environment's
   * stacks (and the stack was repaired): removes what that operation had
   * started but never recorded. The environment's work runs one piece at a
   * time, under its lease, so nothing else of it can be half-made then.
   */
  async interrupted(stack: string, engine: StackReader): Promise<void> {
    await this.environment(stack.slice(0, stack.lastIndexOf(".")), engine);
  }

  /** Removes what the environment's interrupted operations started but never recorded. */
  async environment(name: string, engine: StackReader): Promise<void> {
    const { environments, targets, logger } = this.deps;
    const env = await environments.get(name);
    const target = env ? targets.get(env.spec.target) : undefined;
    if (!env || !target?.reapUnowned) return;
    const fleets = await fleetsOf(name, engine);
    const owners = (await engine.exists(stackNames(name).traffic)) ? [name] : [];
    const reaped = await target.reapUnowned({ fleets, environments: owners }, new Date(), name);
    if (reaped.length) logger.warn({ environment: name, reaped }, "removed what an interrupted engine operation left half-made");
  }

  /** Removes fleets and balancers that no stack owns and that started before `since` (what a crash left half-made). */
  async all(engine: StackReader, since: Date): Promise<void> {
    const { environments, targets, logger } = this.deps;
    for (const name of targets.names()) {
      const target = targets.get(name);
      if (!target.reapUnowned) continue;
      const fleets: Record<string, unknown>[] = [];
      const owners: string[] = [];
      for (const env of (await environments.list()).filter((e) => e.spec.target === name)) {
        fleets.push(...(await fleetsOf(env.name, engine)));
        if (await engine.exists(stackNames(env.name).traffic)) owners.push(env.name);
      }
      const reaped = await target.reapUnowned({ fleets, environments: owners }, since);
      if (reaped.length) logger.warn({ reaped }, "removed runtime leftovers no stack owns");
    }
  }
}

async function fleetsOf(environment: string, engine: StackReader): Promise<Record<string, unknown>[]> {
  const fleets: Record<string, unknown>[] = [];
  for (const color of ["blue", "green"] as Color[]) {
    const stack = stackNames(environment)[color];
    if (await engine.exists(stack)) fleets.push(await engine.outputs(stack));
  }
  return fleets;
}

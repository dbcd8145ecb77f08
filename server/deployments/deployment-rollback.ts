// Rolling a deployment back, from whatever point it reached and however
// often it is interrupted: converge on the safe state, where the last
// healthy color gets all the traffic, then remove the new fleet (through
// the retirement rule, which reads its weight back as 0 first). An old
// fleet a rolling deployment shrank is grown back to its size first, read
// back from the target, since a crash may have cut a resize short.
import { describeError } from "../errors";
import { crashPoint } from "../fault-injection";
import type { Logger } from "../logger";
import type { OperationOptions } from "./stack-engine";
import { stackNames } from "./deployment-target";
import type { RunnerDeps } from "./runner-deps";
import { retireFleet } from "./fleet-retirement";
import { capacityOf, type Color, type Deployment, type Environment } from "./model";
import { resizeFleet } from "./fleet-capacity";
import { dropFleet, keepNewVersion, needAttention, restoreLive } from "./environment-changes";

export async function rollBack(deps: RunnerDeps, d: Deployment, ops: OperationOptions, log: Logger): Promise<void> {
  crashPoint("rolling_back");
  const { environments, journal, traffic, engine } = deps;
  const to = d.toColor;
  const from = d.fromColor;
  if (!to) {
    await journal.finish(d, "rolled_back");
    return;
  }
  let env = (await environments.get(d.environment))!;
  try {
    if (from && d.waves && env.fleets[from]) {
      // Grown back before it is judged: its record may be a crash behind the capacity it has.
      env = await resizeFleet(deps, d, from, env.spec.fleet.replicas, () => ops, { refresh: true }).catch((err) => {
        // Fewer instances serving is better than none: traffic still goes back to the old version.
        log.warn({ err: describeError(err) }, "the old fleet could not be grown back to its size");
        return env;
      });
    }
    if (from && !(env.fleets[from] && (await healthy(deps, env, from)))) {
      await keepNewFleet(deps, d, env, ops, log);
      return;
    }
    const weights: Record<Color, number> = { blue: 0, green: 0 };
    if (from) weights[from] = 100;
    const observed = await traffic.observe(env);
    const settled = observed && observed.weights.blue === weights.blue && observed.weights.green === weights.green && !env.trafficIntent;
    if (!settled) env = await traffic.apply(env, weights, { ...ops, without: [to], deploymentId: d.id, label: "rolling_back" });
    if (await engine.exists(stackNames(d.environment)[to])) await retireFleet(deps, env, to, ops);
    else await environments.update(d.environment, dropFleet(to));
    await environments.update(d.environment, restoreLive(d));
    await journal.finish(d, "rolled_back");
    log.info("rolled back");
  } catch (err) {
    await fail(deps, d, describeError(err).message, log);
  }
}

/** The old fleet is gone or unhealthy: the new one, if healthy, is the only safe place for traffic. */
async function keepNewFleet(deps: RunnerDeps, d: Deployment, env: Environment, ops: OperationOptions, log: Logger): Promise<void> {
  const to = d.toColor!;
  const from = d.fromColor!;
  if (!env.fleets[to] || !(await healthy(deps, env, to))) {
    await fail(deps, d, `neither the old (${from}) nor the new (${to}) fleet is healthy`, log);
    return;
  }
  await deps.traffic.apply(env, { [to]: 100, [from]: 0 } as Record<Color, number>, { ...ops, deploymentId: d.id, label: "rolling_back" });
  await deps.environments.update(d.environment, keepNewVersion(d));
  await fail(deps, d, `the old ${from} fleet is gone or unhealthy, so version ${d.version} keeps serving`, log);
}

async function fail(deps: RunnerDeps, d: Deployment, reason: string, log: Logger): Promise<void> {
  const first = d.error?.message ? `${d.error.message}; then the rollback failed: ` : "the rollback failed: ";
  d.error = { code: "rollback_failed", message: `${first}${reason}` };
  await deps.environments.update(d.environment, needAttention({ code: "rollback_failed", message: d.error.message }));
  log.error({ error: d.error }, "rollback failed");
  await deps.journal.finish(d, "failed");
}

/** Whether a color's fleet passes its target's health verdict (a few tries: an instance may be restarting). */
async function healthy(deps: RunnerDeps, env: Environment, color: Color): Promise<boolean> {
  const fleet = env.fleets[color];
  if (!fleet) return false;
  const target = deps.targets.get(env.spec.target);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 300));
    const ok = await target.verify(env.spec, fleet.outputs, capacityOf(env, color)).then(
      () => true,
      () => false,
    );
    if (ok) return true;
  }
  return false;
}


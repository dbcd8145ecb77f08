// Environments: created with their traffic stack, deleted with every stack
// they own. Both run in the environment's worker like deployments do. An
// environment's view shows the weights the target actually routes by and
// any drift between the target and Cutover's records.
import { randomBytes } from "node:crypto";
import { ConflictError, describeError, NotFoundError } from "../errors";
import { stackNames } from "../deployments/deployment-target";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { DeploymentRunner } from "../deployments/deployment-runner";
import type { RunnerDeps } from "../deployments/runner-deps";
import { retireFleet } from "../deployments/fleet-retirement";
import { checkPreDeploySupported } from "../deployments/secret-support";
import { expiryOf, hasSecrets, sealArtifact, sealGates, sealJob, type GateInput, type PreDeployJobInput, type ArtifactInput, type Color, type Deployment, type Environment, type EnvironmentSpec } from "../deployments/model";
import { checkArtifactFits, checkSecretsSupported } from "../deployments/secret-support";
import { observeEnvironment, type EnvironmentObservation } from "./environment-observation";
import { failCreation, failDeletion, markDeleting, markReady } from "../deployments/environment-changes";

export interface EnvironmentView extends Omit<Environment, "status"> {
  status: Environment["status"] | "drifted";
  /** The weights Cutover recorded after its last traffic change; `weights` is what the target reports now. */
  recordedWeights: Record<Color, number>;
  /** When an environment with a `ttl` is deleted. */
  expiresAt?: string;
  observed: EnvironmentObservation;
  recentDeployments: Deployment[];
}

export interface EnvironmentServiceDeps extends RunnerDeps {
  runner: DeploymentRunner;
  bus: DomainEventBus;
  poke(environment: string): void;
  busy(environment: string): boolean;
}

const COLORS: Color[] = ["blue", "green"];

/**
 * How long one observation of an environment answers the views asked for
 * it (its `at` says when it was made). Polls from many callers share one
 * look at the balancer instead of queuing one each; any change Cutover
 * records starts a new one at once.
 */
const OBSERVATION_SHARED_MS = 250;

export class EnvironmentService {
  private readonly observations = new Map<string, { key: string; since: number; observation: Promise<EnvironmentObservation> }>();

  constructor(private readonly deps: EnvironmentServiceDeps) {}

  /** The environment observed now, or by an observation begun within the last moment for the same record. */
  private observe(env: Environment, busy: boolean): Promise<EnvironmentObservation> {
    const key = `${env.updatedAt}|${env.status}|${busy}`;
    const shared = this.observations.get(env.name);
    if (shared && shared.key === key && Date.now() - shared.since < OBSERVATION_SHARED_MS) return shared.observation;
    const observation = observeEnvironment(this.deps, env, busy);
    const entry = { key, since: Date.now(), observation };
    this.observations.set(env.name, entry);
    const forget = () => {
      if (this.observations.get(env.name) === entry) this.observations.delete(env.name);
    };
    observation.then(() => setTimeout(forget, OBSERVATION_SHARED_MS).unref(), forget);
    return observation;
  }

  /**
   * Records a new environment; its traffic stack comes up in its worker.
   * When the target's settings name a force header, a force key is made
   * for it and kept sealed: `forceKey` is the one time it is shown.
   */
  async create(input: EnvironmentSpec): Promise<{ environment: Environment; forceKey?: string }> {
    const { environments, targets } = this.deps;
    if (await environments.get(input.name)) {
      throw new ConflictError("environment_exists", `environment ${input.name} already exists`, { environment: input.name });
    }
    await this.checkPortFree(input);
    const artifact = sealArtifact(input.fleet.artifact as ArtifactInput, (v) => this.deps.secrets.seal(v));
    if (hasSecrets(artifact)) checkSecretsSupported(input.target);
    checkArtifactFits(input.target, artifact);
    const seal = (v: string) => this.deps.secrets.seal(v);
    const gates = input.gates && sealGates(input.gates as unknown as GateInput[], seal);
    const preDeploy = input.preDeploy && sealJob(input.preDeploy as PreDeployJobInput, seal);
    if (preDeploy) checkPreDeploySupported(targets.get(input.target), input.target);
    if (preDeploy && hasSecrets(preDeploy)) checkSecretsSupported(input.target);
    const forceKey = input[input.target]?.forceHeader ? randomBytes(32).toString("base64url") : undefined;
    const spec = await targets.get(input.target).prepare({
      ...input,
      fleet: { ...input.fleet, artifact },
      ...(gates ? { gates } : {}),
      ...(preDeploy ? { preDeploy } : {}),
      ...(forceKey ? { forceKey: { sealed: seal(forceKey) } } : {}),
    });
    const now = new Date().toISOString();
    const env: Environment = {
      name: spec.name,
      spec,
      status: "creating",
      weights: { blue: 0, green: 0 },
      fleets: {},
      createdAt: now,
      updatedAt: now,
    };
    if (!(await environments.insert(env))) {
      throw new ConflictError("environment_exists", `environment ${input.name} already exists`, { environment: input.name });
    }
    this.deps.poke(env.name);
    return { environment: shown(env), ...(forceKey ? { forceKey } : {}) };
  }

  /** Brings up the traffic stack with no traffic; on failure removes what it built. A delete meanwhile wins. */
  async provision(name: string): Promise<void> {
    const { environments, traffic, engine, logger } = this.deps;
    const env = await environments.get(name);
    if (!env || env.status !== "creating") return;
    try {
      await traffic.apply(env, { blue: 0, green: 0 }, { label: "creating" });
      await environments.update(name, markReady());
      logger.info({ environment: name }, "environment ready");
    } catch (err) {
      const error = describeError(err);
      logger.warn({ environment: name, error }, "environment could not be created");
      await engine.destroy(stackNames(name).traffic, traffic.program(env, env.weights)).catch(() => undefined);
      await environments.update(name, failCreation({ code: "environment_create_failed", message: error.message }));
    }
  }

  /** The environment as it stands: its record, checked against what the target reports. */
  async get(name: string): Promise<EnvironmentView> {
    const env = await this.record(name);
    const observed = await this.observe(env, this.deps.busy(name));
    const drifted = env.status === "ready" && observed.drift.length > 0;
    return {
      ...shown(env),
      status: drifted ? "drifted" : env.status,
      weights: observed.weights ?? env.weights,
      recordedWeights: env.weights,
      ...(env.spec.ttl ? { expiresAt: expiryOf(env) } : {}),
      observed,
      recentDeployments: await this.deps.deployments.forEnvironment(name, 10),
    };
  }

  async record(name: string): Promise<Environment> {
    const env = await this.deps.environments.get(name);
    if (!env) throw new NotFoundError("environment_not_found", `no environment named ${name}`, { environment: name });
    return env;
  }

  async list(): Promise<Environment[]> {
    return (await this.deps.environments.list()).map(shown);
  }

  /** Cancels what is queued, aborts what runs, then destroys every stack of the environment. */
  async delete(name: string): Promise<Environment> {
    const { environments, deployments, journal, runner } = this.deps;
    await this.record(name);
    const env = await environments.update(name, markDeleting());
    for (const d of await deployments.unfinished(name)) {
      if (d.state === "queued") {
        d.error = { code: "cancelled", message: "the environment is being deleted" };
        await journal.finish(d, "cancelled", { reason: d.error.message });
      } else {
        runner.control(d.id)?.abort("the environment is being deleted");
      }
    }
    this.deps.poke(name);
    return shown(env);
  }

  /** Takes traffic off both fleets, removes them (each read back at 0% first), then the traffic stack. */
  async destroy(name: string): Promise<void> {
    const { environments, engine, traffic, logger, bus } = this.deps;
    let env = await environments.get(name);
    if (!env || env.status !== "deleting") return;
    try {
      if (env.traffic || (await engine.exists(stackNames(name).traffic))) {
        env = await traffic.apply(env, { blue: 0, green: 0 }, { without: COLORS, label: "deleting" });
      }
      for (const color of COLORS) {
        if (env.fleets[color] || (await engine.exists(stackNames(name)[color]))) env = await retireFleet(this.deps, env, color);
      }
      await engine.destroy(stackNames(name).traffic, traffic.program(env, { blue: 0, green: 0 }));
      await environments.remove(name);
      bus.emit("environment:removed", env);
      logger.info({ environment: name }, "environment deleted");
    } catch (err) {
      const error = describeError(err);
      logger.error({ environment: name, error }, "environment could not be deleted");
      await environments.update(name, failDeletion({ code: "environment_delete_failed", message: error.message }));
    }
  }

  private async checkPortFree(spec: EnvironmentSpec): Promise<void> {
    if (!spec.local || spec.local.listenPort === 0) return;
    const port = spec.local.listenPort;
    const taken = (await this.deps.environments.list()).find((e) => e.spec.local && (e.spec.local.listenPort === port || e.spec.local.adminPort === port));
    if (taken) {
      throw new ConflictError("listen_port_taken", `port ${port} is already used by environment ${taken.name}`, {
        port,
        environment: taken.name,
      });
    }
  }
}

/** An environment as answers show it: the sealed force key is not among what anyone is shown. */
function shown<T extends Environment>(env: T): T {
  if (!env.spec.forceKey) return env;
  const { forceKey: _sealed, ...spec } = env.spec;
  return { ...env, spec };
}

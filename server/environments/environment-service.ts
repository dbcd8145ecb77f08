// Environments: created with their traffic stack, deleted with every stack
// they own. Both run in the environment's lane like deployments do.
import { ConflictError, describeError, NotFoundError } from "../errors";
import { stackNames } from "../targets/deployment-target";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { DeploymentRunner, RunnerDeps } from "../deployments/deployment-runner";
import type { EnvironmentLanes } from "../deployments/environment-lanes";
import { existingFleetProgram } from "../deployments/existing-fleet";
import type { Color, Deployment, Environment, EnvironmentSpec } from "../deployments/model";

export interface EnvironmentView extends Environment {
  recentDeployments: Deployment[];
}

export interface EnvironmentServiceDeps extends RunnerDeps {
  lanes: EnvironmentLanes;
  runner: DeploymentRunner;
  bus: DomainEventBus;
}

export class EnvironmentService {
  constructor(private readonly deps: EnvironmentServiceDeps) {}

  async create(input: EnvironmentSpec): Promise<Environment> {
    const { environments, targets } = this.deps;
    if (environments.get(input.name)) {
      throw new ConflictError("environment_exists", `environment ${input.name} already exists`, { environment: input.name });
    }
    this.checkPortFree(input);
    const spec = await targets.get(input.target).prepare(input);
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
    if (!environments.insert(env)) {
      throw new ConflictError("environment_exists", `environment ${input.name} already exists`, { environment: input.name });
    }
    void this.deps.lanes.run(env.name, () => this.provision(env.name));
    return env;
  }

  /** Brings up the traffic stack with no traffic; on failure removes what it built. */
  async provision(name: string): Promise<void> {
    const { environments, traffic, engine, logger } = this.deps;
    const env = environments.get(name);
    if (!env || env.status !== "creating") return;
    const ops = { signal: AbortSignal.timeout(this.deps.operationTimeoutMs) };
    try {
      await traffic.shift(env, { blue: 0, green: 0 }, ops);
      environments.update(name, (e) => {
        e.status = "ready";
        delete e.error;
      });
      logger.info({ environment: name }, "environment ready");
    } catch (err) {
      const error = describeError(err);
      logger.warn({ environment: name, error }, "environment could not be created");
      await engine.destroy(stackNames(name).traffic, traffic.program(env, env.weights)).catch(() => undefined);
      environments.update(name, (e) => {
        e.status = "failed";
        e.error = { code: "environment_create_failed", message: error.message };
      });
    }
  }

  get(name: string): EnvironmentView {
    const env = this.deps.environments.get(name);
    if (!env) throw new NotFoundError("environment_not_found", `no environment named ${name}`, { environment: name });
    return { ...env, recentDeployments: this.deps.deployments.forEnvironment(name, 10) };
  }

  list(): Environment[] {
    return this.deps.environments.list();
  }

  /** Cancels what is queued, aborts what runs, then destroys every stack of the environment. */
  delete(name: string): Environment {
    const { environments, deployments, journal, runner, lanes } = this.deps;
    this.get(name);
    const env = environments.update(name, (e) => (e.status = "deleting"));
    for (const d of deployments.unfinished(name)) {
      if (d.state === "queued") {
        d.state = "cancelled";
        d.phase = "done";
        d.error = { code: "cancelled", message: "the environment is being deleted" };
        d.finishedAt = new Date().toISOString();
        journal.save(d);
        journal.record(d, "deployment:cancelled", { reason: d.error.message });
      } else {
        runner.control(d.id)?.abort("the environment is being deleted");
      }
    }
    void lanes.run(name, () => this.destroy(name));
    return env;
  }

  async destroy(name: string): Promise<void> {
    const { environments, engine, targets, traffic, logger, bus } = this.deps;
    const env = environments.get(name);
    if (!env || env.status !== "deleting") return;
    try {
      for (const color of ["blue", "green"] as Color[]) {
        await engine.destroy(stackNames(name)[color], existingFleetProgram(targets, env, color));
      }
      await engine.destroy(stackNames(name).traffic, traffic.program(env, { blue: 0, green: 0 }));
      environments.remove(name);
      bus.emit("environment:removed", env);
      logger.info({ environment: name }, "environment deleted");
    } catch (err) {
      const error = describeError(err);
      logger.error({ environment: name, error }, "environment could not be deleted");
      environments.update(name, (e) => {
        e.status = "failed";
        e.error = { code: "environment_delete_failed", message: error.message };
      });
    }
  }

  private checkPortFree(spec: EnvironmentSpec): void {
    if (!spec.local) return;
    const port = spec.local.listenPort;
    const taken = this.deps.environments
      .list()
      .find((e) => e.spec.local && (e.spec.local.listenPort === port || e.spec.local.adminPort === port));
    if (taken) {
      throw new ConflictError("listen_port_taken", `port ${port} is already used by environment ${taken.name}`, {
        port,
        environment: taken.name,
      });
    }
  }
}

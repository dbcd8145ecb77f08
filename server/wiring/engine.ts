// The engine workers: Pulumi runs in child processes, never in the API's.
import type { Config } from "../config";
import { currentFence } from "../deployments/fencing";
import type { LeaseRepository } from "../deployments/ports";
import { describeError } from "../errors";
import { resolveToolchain, type Toolchain } from "../engine/toolchain";
import { WorkerEngine } from "../engine/worker-engine";
import { autogroupNiceness } from "../engine/autogroup";
import type { Reaper } from "../lane/reaper";
import type { Logger } from "../logger";
import { ownNiceness } from "./startup-secrets";

export interface EngineWiring {
  config: Config;
  logger: Logger;
  passphrase: string;
  toolchain?: Toolchain;
  leases: Pick<LeaseRepository, "current">;
  reaper: Reaper;
}

export function engineWorkers({ config, logger, passphrase, toolchain, leases, reaper }: EngineWiring): WorkerEngine {
  return new WorkerEngine({
    settings: { dataDir: config.dataDir, passphrase, toolchain: toolchain ?? resolveToolchain(), backendUrl: config.stateBackend, dataPlaneNiceness: ownNiceness(), residentProvider: config.engineResidentProvider },
    // Operations beyond the slots are reads (outputs, state) and repairs: they get workers of their own.
    maxWorkers: config.engineConcurrency + 2,
    niceness: config.engineNiceness,
    groupNiceness: autogroupNiceness(config.engineNiceness, config.engineConcurrency),
    // A frozen server's engine work stops well before its leases can pass to another replica.
    watchdogMs: Math.max(1000, Math.floor(config.leaseTtlMs / 2)),
    log: (level, data, message) => logger[level](data, message),
    // Work on an environment is fenced by its lease: a dead worker's stack is repaired only while the lease is still this replica's.
    stillHolds: async () => {
      const fence = currentFence();
      if (!fence) return true;
      const lease = await leases.current(fence.environment);
      return lease !== undefined && lease.holder === config.replicaId && Number(lease.token) === fence.token;
    },
    interrupted: (stack, engine) => reaper.interrupted(stack, engine).catch((err) => logger.error({ stack, err: describeError(err) }, "could not remove what an interrupted operation left")),
  });
}

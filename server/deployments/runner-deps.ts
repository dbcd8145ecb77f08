// What the deployment runner and the work it shares with the environment
// lane (retiring a fleet, changing traffic, observing an environment) are
// given: the domain's ports, and the settings they read.
import type { Logger } from "../logger";
import type { MeasureFor } from "./analysis-watch";
import type { DeploymentJournal } from "./deployment-journal";
import type { GateCaller } from "./gates";
import type { DeploymentRepository, DeploymentRequestRepository, EnvironmentRepository, SecretSealer } from "./ports";
import type { StackEngine } from "./stack-engine";
import type { TargetRegistry } from "./target-registry";
import type { TrafficOperator } from "./traffic-operator";

export interface RunnerDeps {
  environments: EnvironmentRepository;
  deployments: DeploymentRepository;
  journal: DeploymentJournal;
  engine: StackEngine;
  targets: TargetRegistry;
  traffic: TrafficOperator;
  logger: Logger;
  secrets: SecretSealer;
  requests: DeploymentRequestRepository;
  /** The default deadline of a deployment's own work, when its environment sets none. */
  operationTimeoutMs: number;
  /** How a deployment's metric analysis measures (absent: strategies' `analysis.metrics` are not run). */
  measureFor?: MeasureFor;
  /** Asks gates with a URL (absent: such gates fail). */
  gates?: GateCaller;
}

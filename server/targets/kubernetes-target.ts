// The Kubernetes target: a Deployment per color behind a Service and,
// for weighted canaries, a Gateway API HTTPRoute.
import { InputError } from "../errors";
import type { RunnableArtifact, Color, EnvironmentSpec, Strategy } from "../deployments/model";
import type { DeploymentTarget, RunnableJob, TrafficObservation, TrafficSecrets, TrafficState, TrafficView } from "../deployments/deployment-target";
import { kubernetesRouteWeights } from "./traffic-observation";
import { fleetInputs, requirePlugin, trafficInputs, type CloudTargetOptions } from "./cloud-target-support";

export class KubernetesTarget implements DeploymentTarget {
  readonly name = "kubernetes" as const;

  constructor(private readonly opts: CloudTargetOptions) {}

  async prepare(spec: EnvironmentSpec): Promise<EnvironmentSpec> {
    if (!spec.kubernetes) throw new InputError("validation_failed", "a kubernetes environment needs `kubernetes` settings", { field: "kubernetes" });
    this.checkStrategy(spec, spec.strategy);
    requirePlugin(this.opts, "kubernetes");
    return spec;
  }

  checkStrategy(spec: EnvironmentSpec, strategy: Strategy): void {
    if (needsRoutes(strategy) && !spec.kubernetes?.gateway) {
      throw new InputError("validation_failed", "canary steps and rolling waves on kubernetes need `kubernetes.gateway` (weights are an HTTPRoute's)", {
        field: "kubernetes.gateway",
      });
    }
  }

  fleetProgram(spec: EnvironmentSpec, color: Color, version: string, artifact: RunnableArtifact, traffic?: Record<string, unknown>, replicas?: number) {
    const inputs = fleetInputs(spec, color, version, artifact, traffic, replicas);
    return { kind: "kubernetes/fleet", inputs, settings: spec.kubernetes! } as const;
  }

  trafficProgram(spec: EnvironmentSpec, traffic: TrafficState, secrets?: TrafficSecrets) {
    const inputs = trafficInputs(spec, traffic, secrets);
    return { kind: "kubernetes/traffic", inputs, settings: spec.kubernetes! } as const;
  }

  /** The pre-deploy job is a Kubernetes Job from the environment's image at the deployed version. */
  jobProgram(spec: EnvironmentSpec, job: RunnableJob, version: string, deploymentId: string) {
    const inputs = { environment: spec.name, version, deploymentId, ...job };
    return { kind: "kubernetes/job", inputs, settings: spec.kubernetes! } as const;
  }

  /** The HTTPRoute's weights (or the Service's selector) after a refresh of the traffic stack. */
  async observeTraffic(spec: EnvironmentSpec, view: TrafficView): Promise<TrafficObservation | undefined> {
    return kubernetesRouteWeights(await view.resources(true), spec.name);
  }

  /** Pulumi waited for the Deployment's rollout; the outputs must show every replica ready. */
  async verify(spec: EnvironmentSpec, fleet: Record<string, unknown>, replicas = spec.fleet.replicas): Promise<void> {
    if (Number(fleet.readyReplicas ?? 0) < replicas) {
      throw new Error(`the Deployment reports ${fleet.readyReplicas ?? 0} of ${replicas} replicas ready`);
    }
  }
}

const needsRoutes = (s: Strategy) => s.type === "rolling" || (s.type === "canary" && s.steps.some((step) => step.weight < 100));

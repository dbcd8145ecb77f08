// The AWS target: an auto scaling group per version behind an ALB listener
// with weighted target groups.
import { InputError } from "../errors";
import type { RunnableArtifact, Color, EnvironmentSpec } from "../deployments/model";
import type { DeploymentTarget, TrafficObservation, TrafficSecrets, TrafficState, TrafficView } from "../deployments/deployment-target";
import { awsListenerWeights } from "./traffic-observation";
import { fleetInputs, requirePlugin, trafficInputs, type CloudTargetOptions } from "./cloud-target-support";

export class AwsTarget implements DeploymentTarget {
  readonly name = "aws" as const;

  constructor(private readonly opts: CloudTargetOptions) {}

  async prepare(spec: EnvironmentSpec): Promise<EnvironmentSpec> {
    if (!spec.aws) throw new InputError("validation_failed", "an aws environment needs `aws` settings", { field: "aws" });
    if ((spec.aws.minSize ?? 0) > spec.fleet.replicas || (spec.aws.maxSize ?? Infinity) < spec.fleet.replicas) {
      throw new InputError("validation_failed", "aws.minSize <= fleet.replicas <= aws.maxSize must hold", { field: "aws" });
    }
    requirePlugin(this.opts, "aws");
    return spec;
  }

  fleetProgram(spec: EnvironmentSpec, color: Color, version: string, artifact: RunnableArtifact, traffic?: Record<string, unknown>, replicas?: number) {
    const inputs = fleetInputs(spec, color, version, artifact, traffic, replicas);
    return { kind: "aws/fleet", inputs, settings: spec.aws! } as const;
  }

  trafficProgram(spec: EnvironmentSpec, traffic: TrafficState, secrets?: TrafficSecrets) {
    const inputs = trafficInputs(spec, traffic, secrets);
    return { kind: "aws/traffic", inputs, settings: spec.aws! } as const;
  }

  /** The listener's forward action after a refresh of the traffic stack. */
  async observeTraffic(_spec: EnvironmentSpec, view: TrafficView): Promise<TrafficObservation | undefined> {
    return awsListenerWeights(await view.resources(true), view.fleets);
  }

  /** `up` of the fleet stack waited for ELB capacity; the outputs must show it. */
  async verify(spec: EnvironmentSpec, fleet: Record<string, unknown>, replicas = spec.fleet.replicas): Promise<void> {
    if (!fleet.targetGroupArn || Number(fleet.desiredCapacity) !== replicas) {
      throw new Error(`the auto scaling group did not report ${replicas} healthy instances in its target group`);
    }
  }
}

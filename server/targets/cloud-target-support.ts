// What the AWS and Kubernetes targets share: the plugin check at creation
// and the mapping from a spec to program inputs.
import type { FleetProgramInputs, TrafficProgramInputs } from "../../infra/program-inputs";
import { InputError } from "../errors";
import { pinnedPluginVersion, pluginInstalled } from "../engine/plugins";
import type { RunnableArtifact, Color, EnvironmentSpec } from "../deployments/model";
import type { TrafficSecrets, TrafficState } from "../deployments/deployment-target";

export interface CloudTargetOptions {
  pulumiHome: string;
  /** Skip the plugin check (programs run under Pulumi's mocks in tests). */
  assumePluginInstalled?: boolean;
}

export function requirePlugin(opts: CloudTargetOptions, pkg: "aws" | "kubernetes"): void {
  if (opts.assumePluginInstalled) return;
  const version = pinnedPluginVersion(pkg);
  if (!pluginInstalled(opts.pulumiHome, pkg, version)) {
    throw new InputError(
      "target_unavailable",
      `the ${pkg} target needs the Pulumi ${pkg} provider plugin v${version}; install it with ` +
        `\`PULUMI_HOME=${opts.pulumiHome} pulumi plugin install resource ${pkg} ${version}\` on a machine with internet access`,
      { target: pkg, plugin: `resource-${pkg}-v${version}` },
    );
  }
}

export function fleetInputs(
  spec: EnvironmentSpec,
  color: Color,
  version: string,
  artifact: RunnableArtifact,
  traffic?: Record<string, unknown>,
  replicas?: number,
): FleetProgramInputs {
  return {
    environment: spec.name,
    color,
    version,
    replicas: replicas ?? spec.fleet.replicas,
    artifact,
    healthCheck: spec.fleet.healthCheck,
    drainTimeout: spec.fleet.drainTimeout,
    traffic,
  };
}

export function trafficInputs(spec: EnvironmentSpec, traffic: TrafficState, secrets: TrafficSecrets = {}): TrafficProgramInputs {
  return { environment: spec.name, pools: { blue: traffic.blue, green: traffic.green }, ...(secrets.forceKey ? { forceKey: secrets.forceKey } : {}) };
}

// What every target's programs are given: plain data, resolved by the
// orchestrator. Programs turn it into resources and nothing else.
import type { Artifact, AwsSettings, Color, EnvironmentSpec, KubernetesSettings } from "./vocabulary";

export interface FleetProgramInputs {
  environment: string;
  color: Color;
  version: string;
  replicas: number;
  artifact: Artifact;
  healthCheck: EnvironmentSpec["fleet"]["healthCheck"];
  drainTimeout: string;
  /** Outputs of the environment's traffic stack (network, security groups). */
  traffic?: Record<string, unknown>;
}

export interface TrafficPool {
  weight: number;
  fleet?: Record<string, unknown>;
}

export interface TrafficProgramInputs {
  environment: string;
  pools: Record<Color, TrafficPool>;
  /** The environment's force key, opened for this program: with the settings' forceHeader, `<color>:<key>` forces a color. */
  forceKey?: string;
}

export type { AwsSettings, KubernetesSettings };

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

/** Whole seconds from a duration, within [min, max]. */
export function seconds(duration: string, min: number, max: number): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(duration);
  const ms = match ? Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h"] : 0;
  return Math.min(max, Math.max(min, Math.ceil(ms / 1000)));
}

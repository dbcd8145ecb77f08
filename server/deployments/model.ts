// The domain model: environments, deployments and their states. Plain
// types; nothing here knows about HTTP, SQLite or Pulumi.
export type Color = "blue" | "green";
export const otherColor = (c: Color): Color => (c === "blue" ? "green" : "blue");

export type TargetName = "local" | "aws" | "kubernetes";

export interface Artifact {
  command: string[];
  cwd?: string;
  env?: Record<string, string>;
}

export interface HealthCheck {
  path: string;
  interval: string;
  timeout: string;
  healthyThreshold: number;
  startTimeout: string;
}

export interface CanaryStep {
  weight: number;
  /** A duration, "manual" (wait for promote), or absent (go straight on). */
  pause?: string;
}

export interface Analysis {
  /** Roll back when the new pool's 5xx share over a pause exceeds this. */
  maxErrorRate: number;
  /** Judge only once the new pool served at least this many requests. */
  minRequests: number;
}

export type Strategy =
  | { type: "blue-green"; bake?: string }
  | { type: "canary"; steps: CanaryStep[]; bake?: string; analysis?: Analysis };

export interface LocalSettings {
  listenHost: string;
  listenPort: number;
  adminPort?: number;
  stickyHeader?: string;
  stickyCookie?: string;
  forceHeader: string;
}

export interface AwsSettings {
  region: string;
  vpcId?: string;
  subnetIds?: string[];
  ami: string;
  instanceType: string;
  instancePort: number;
  keyName?: string;
  listenerPort: number;
  forceHeader: string;
  stickiness?: { enabled: boolean; duration: string };
  minSize?: number;
  maxSize?: number;
  userDataPreamble?: string;
  profile?: string;
}

export interface KubernetesSettings {
  namespace: string;
  kubeconfig?: string;
  context?: string;
  image: string;
  containerPort: number;
  gateway?: { name: string; namespace?: string };
  hostnames?: string[];
  forceHeader: string;
}

export interface EnvironmentSpec {
  name: string;
  target: TargetName;
  fleet: {
    replicas: number;
    artifact: Artifact;
    healthCheck: HealthCheck;
    drainTimeout: string;
  };
  strategy: Strategy;
  operationTimeout?: string;
  local?: LocalSettings;
  aws?: AwsSettings;
  kubernetes?: KubernetesSettings;
}

export type EnvironmentStatus = "creating" | "ready" | "failed" | "deleting";

export interface FleetRecord {
  version: string;
  artifact: Artifact;
  deploymentId: string;
  outputs: Record<string, unknown>;
}

export interface Environment {
  name: string;
  spec: EnvironmentSpec;
  status: EnvironmentStatus;
  activeColor?: Color;
  liveVersion?: string;
  liveArtifact?: Artifact;
  previousVersion?: string;
  previousArtifact?: Artifact;
  weights: Record<Color, number>;
  fleets: Partial<Record<Color, FleetRecord>>;
  traffic?: Record<string, unknown>;
  error?: { code: string; message: string };
  createdAt: string;
  updatedAt: string;
}

export type DeploymentState =
  | "queued"
  | "running"
  | "paused"
  | "rolling_back"
  | "succeeded"
  | "rolled_back"
  | "failed"
  | "cancelled";
export type Phase = "queued" | "provisioning" | "verifying" | "shifting" | "baking" | "retiring" | "rolling_back" | "done";
export const TERMINAL_STATES: DeploymentState[] = ["succeeded", "rolled_back", "failed", "cancelled"];
export const isTerminal = (s: DeploymentState) => TERMINAL_STATES.includes(s);

export type DeploymentKind = "deploy" | "rollback";

export interface Deployment {
  id: string;
  environment: string;
  version: string;
  artifact: Artifact;
  strategy: Strategy;
  kind: DeploymentKind;
  state: DeploymentState;
  phase: Phase;
  /** The canary step in force (index into steps), once shifting has begun. */
  step?: number;
  steps: CanaryStep[];
  fromColor?: Color;
  toColor?: Color;
  fromVersion?: string;
  pausedBy?: "manual-step" | "user";
  error?: { code: string; message: string };
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  updatedAt: string;
}

export interface DeploymentEvent {
  id: number;
  deploymentId: string;
  environment: string;
  type: string;
  at: string;
  data: Record<string, unknown>;
}

/** The steps a strategy shifts through, ending at 100. */
export function stepsOf(strategy: Strategy): CanaryStep[] {
  if (strategy.type === "blue-green") return [{ weight: 100 }];
  const steps = [...strategy.steps];
  if (steps.length === 0 || steps[steps.length - 1].weight !== 100) steps.push({ weight: 100 });
  return steps;
}

/** Substitutes `{version}` in an artifact, so that one artifact spec serves every version. */
export function artifactFor(artifact: Artifact, version: string): Artifact {
  const sub = (s: string) => s.split("{version}").join(version);
  return {
    command: artifact.command.map(sub),
    cwd: artifact.cwd === undefined ? undefined : sub(artifact.cwd),
    env: artifact.env && Object.fromEntries(Object.entries(artifact.env).map(([k, v]) => [k, sub(v)])),
  };
}

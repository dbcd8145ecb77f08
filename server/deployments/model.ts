// The domain model: environments, deployments and their states. Plain
// types; nothing here knows about HTTP, SQLite or Pulumi.
export * from "../../infra/vocabulary";
import { parseDuration } from "../../infra/duration";
import { planWaves, waveWeight, type Wave } from "./rolling-waves";
import type { Artifact, CanaryStep, Color, EnvValue, ArtifactInput, RunnableArtifact, Strategy, EnvironmentSpec, Gate, PreDeployJob, GateKind, EnvInput } from "../../infra/vocabulary";

export type EnvironmentStatus = "creating" | "ready" | "failed" | "deleting";

export interface FleetRecord {
  version: string;
  artifact: Artifact;
  deploymentId: string;
  outputs: Record<string, unknown>;
  /** The fleet's capacity when it is not the spec's size (a rolling deployment grows and shrinks it). */
  replicas?: number;
}

/** How many instances a color's fleet has: its own record, else the spec's size. */
export const capacityOf = (env: Pick<Environment, "fleets" | "spec">, color: Color): number => env.fleets[color]?.replicas ?? env.spec.fleet.replicas;

/** When an environment with a `ttl` is due for deletion (ISO-8601): its `ttl` after it was created; undefined without one. */
export const expiryOf = (env: Pick<Environment, "spec" | "createdAt">): string | undefined =>
  env.spec.ttl ? new Date(new Date(env.createdAt).getTime() + parseDuration(env.spec.ttl)).toISOString() : undefined;

export interface Environment {
  name: string;
  spec: EnvironmentSpec;
  status: EnvironmentStatus;
  activeColor?: Color;
  liveVersion?: string;
  liveArtifact?: Artifact;
  previousVersion?: string;
  previousArtifact?: Artifact;
  /** The weights last read back from the target after a traffic change. */
  weights: Record<Color, number>;
  /**
   * Written before a traffic change and cleared once its outcome is read
   * back: while it is set, the balancer may hold either the old or the new
   * weights, and only the target can tell which.
   */
  trafficIntent?: { weights: Record<Color, number>; deploymentId?: string; at: string };
  /**
   * Set when a traffic change was applied to the balancer directly and the
   * traffic stack's state does not record it yet; cleared by the refresh
   * that records it.
   */
  trafficUnrecorded?: { weights: Record<Color, number>; at: string };
  fleets: Partial<Record<Color, FleetRecord>>;
  traffic?: Record<string, unknown>;
  error?: { code: string; message: string };
  /** What the last refresh found different between the target and Cutover's records; absent when it found nothing. */
  drift?: RecordedDrift;
  /** Set while the environment is in maintenance: its balancer keeps requests from the fleets. */
  maintenance?: Maintenance;
  createdAt: string;
  updatedAt: string;
}

/**
 * Maintenance as the balancer carries it through every traffic change:
 * `page` answers each request at once with 503 and the page; `hold` keeps
 * each request until maintenance ends (then routes it) or `holdTimeoutMs`
 * passes (then the page).
 */
export interface Maintenance {
  mode: "page" | "hold";
  /** Sent as Retry-After with the page; 0: none. */
  retryAfterSeconds: number;
  holdTimeoutMs: number;
  /** Plain text shown on the page. */
  message?: string;
  since: string;
  by?: Actor;
}

export interface RecordedDrift {
  at: string;
  /** The refresh operation that found it. */
  operationId?: string;
  items: { kind: string; message: string; color?: Color; stack?: string }[];
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

export type DeploymentKind = "deploy" | "rollback" | "repave";

/** Who asked for something: an API token, a chat user, a schedule, or Cutover itself. */
export interface Promotion {
  pipeline: string;
  from?: string;
  forced?: boolean;
  reason?: string;
}

export interface Actor {
  kind: "token" | "chat" | "schedule" | "system";
  id: string;
  name: string;
  provider?: "slack" | "mattermost";
  /** The person behind it: a token's holder, a chat user's linked person, a schedule's creator. */
  person?: string;
}

export interface Deployment {
  id: string;
  environment: string;
  version: string;
  artifact: Artifact;
  /** The release deployed, when the deployment named one: its version, artifact and pre-deploy job are the release's. */
  release?: { id: string; digest: string; recordedAt?: string };
  /** Set when a pipeline promoted the release here: from which stage, and whether it was forced past the pipeline's rules (and why). */
  promotion?: Promotion;
  strategy: Strategy;
  kind: DeploymentKind;
  /** Who asked for it. */
  requestedBy?: Actor;
  state: DeploymentState;
  phase: Phase;
  /** The canary step or rolling wave in force (index into steps), once shifting has begun. */
  step?: number;
  steps: CanaryStep[];
  /** A rolling deployment's waves, one per step. */
  waves?: Wave[];
  fromColor?: Color;
  toColor?: Color;
  fromVersion?: string;
  pausedBy?: "manual-step" | "user" | "analysis" | "gate";
  /** The gates this deployment passes (its own, or its environment's when it brought none). */
  gates?: Gate[];
  /** Where each gate stands, by gate name (`name@step` for a gate asked at every traffic step). */
  gateLog?: Record<string, GateRecord>;
  /** Set once the blue/green pre-promotion analysis has passed (a resumed deployment does not run it again). */
  prePromotionPassed?: boolean;
  /** The job run once before any fleet is built. */
  preDeploy?: PreDeployJob;
  /** How the pre-deploy job went; `process` names a running local job so a restart can stop it. */
  job?: { state: "running" | "succeeded" | "failed"; startedAt: string; handle?: Record<string, unknown>; exitCode?: number };
  /** When a timed pause or the bake ends (ISO time), so a resumed deployment waits only for what is left. */
  waitUntil?: string;
  /** What the environment's history said before this deployment, restored when it rolls back. */
  restore?: { previousVersion?: string; previousArtifact?: Artifact };
  /** Set when a graceful shutdown stopped the deployment at a safe point: the next start resumes it. */
  suspended?: boolean;
  error?: { code: string; message: string };
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  updatedAt: string;
}

/** One resource a preview would change: what Pulumi plans for it and which of its properties differ (names only: values, secret or not, stay out). */
export interface ResourceChange {
  /** Pulumi's step: create, update, replace, create-replacement, delete-replaced, delete, read, ... */
  op: string;
  type: string;
  name: string;
  /** The properties that differ, as Pulumi names them (`spec.template`, `weights[0]`), for an update or replacement. */
  changed?: string[];
  /** The properties whose change forces a replacement. */
  replaces?: string[];
}

/** The Pulumi preview of one stack a deployment touches. */
export interface StackPreview {
  stack: string;
  /** What the deployment does to the stack. */
  purpose: "create-fleet" | "shift-traffic" | "retire-fleet";
  changes: ResourceChange[];
  /** How many resources each kind of step touches (`create`, `update`, `delete`, ...). */
  counts: Record<string, number>;
  /** Why the preview is not (yet) a list of changes: not known before an earlier step, or what stopped it. */
  note?: string;
}

export interface ChangePreview {
  at: string;
  stacks: StackPreview[];
}

export interface GateRecord {
  state: "waiting" | "passed" | "approved" | "rejected" | "failed";
  at: string;
  by?: Actor;
  reason?: string;
  attempts?: number;
  /** For a manual gate: the Pulumi preview of what the deployment changes once approved (see change-preview.ts). */
  preview?: ChangePreview;
}

/** A gate as a caller gives it: name optional, secret still open. */
export interface GateInput {
  name?: string;
  kind: GateKind;
  url?: string;
  timeout?: string;
  manual?: boolean;
  requireDistinctApprover?: boolean;
  secret?: string;
}

/** Names every gate and seals its secret; `approval` is a manual confirm-promotion. */
export function sealGates(gates: GateInput[], seal: (plain: string) => string): Gate[] {
  return gates.map(({ secret, name, ...g }) => ({
    ...g,
    name: name ?? g.kind,
    ...(g.kind === "approval" ? { manual: true } : {}),
    ...(secret ? { secret: { sealed: seal(secret) } } : {}),
  }));
}

/** A pre-deploy job as a caller gives it, secrets still open. */
export interface PreDeployJobInput {
  command: string[];
  timeout: string;
  cwd?: string;
  env?: Record<string, EnvInput>;
}

export function sealJob(job: PreDeployJobInput, seal: (plain: string) => string): PreDeployJob {
  const sealed = sealArtifact({ command: job.command, cwd: job.cwd, env: job.env }, seal);
  return { ...job, env: sealed.env };
}

/** Whether two actors are the same caller (the four-eyes rule). */
/** Who an actor is, as four eyes count people: its person, or the credential itself when none is named. */
export const personOf = (a: Actor): string => a.person ?? `${a.kind}:${a.id}`;
/** Whether two actors are the same person (across tokens, chat identities and schedules). */
export const samePerson = (a: Actor | undefined, b: Actor | undefined): boolean => !!a && !!b && personOf(a) === personOf(b);

export interface DeploymentEvent {
  id: number;
  deploymentId: string;
  environment: string;
  type: string;
  at: string;
  data: Record<string, unknown>;
}

/** The waves of a rolling strategy over a fleet of `size`; none for other strategies. */
export function wavesOf(strategy: Strategy, size: number): Wave[] | undefined {
  return strategy.type === "rolling" ? planWaves(size, strategy.maxSurge, strategy.maxUnavailable) : undefined;
}

/** The steps a strategy shifts through, ending at 100; a rolling strategy's follow the capacity of its waves. */
export function stepsOf(strategy: Strategy, size = 1): CanaryStep[] {
  if (strategy.type === "blue-green") return [{ weight: 100 }];
  if (strategy.type === "rolling") {
    const waves = wavesOf(strategy, size)!;
    return waves.map((w, i) => ({ weight: waveWeight(w), ...(strategy.pause && i < waves.length - 1 ? { pause: strategy.pause } : {}) }));
  }
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
    ...(artifact.image ? { image: artifact.image } : {}),
    env: artifact.env && Object.fromEntries(Object.entries(artifact.env).map(([k, v]) => [k, typeof v === "string" ? sub(v) : v])),
  };
}

/** Seals the values a caller marked secret; plain and already sealed values stay as they are. */
export function sealArtifact(artifact: ArtifactInput, seal: (plain: string) => string): Artifact {
  if (!artifact.env) return artifact as Artifact;
  const env = Object.fromEntries(
    Object.entries(artifact.env).map(([k, v]) => [k, typeof v === "object" && "secret" in v ? { sealed: seal(v.secret) } : v]),
  ) as Record<string, EnvValue>;
  return { ...artifact, env };
}

/** The artifact as it runs: sealed values opened (or, without `open`, left empty for programs that only destroy). */
export function runnableArtifact(artifact: Artifact, open?: (sealed: string) => string): RunnableArtifact {
  if (!artifact.env) return artifact as RunnableArtifact;
  const env = Object.fromEntries(Object.entries(artifact.env).map(([k, v]) => [k, typeof v === "string" ? v : open ? open(v.sealed) : ""]));
  return { ...artifact, env };
}

export const hasSecrets = (artifact: { env?: Record<string, unknown> }): boolean =>
  Object.values(artifact.env ?? {}).some((v) => typeof v === "object" && v !== null);

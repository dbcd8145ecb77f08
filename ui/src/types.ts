// The API's shapes, as far as the views read them.
export interface Actor {
  kind: string;
  name: string;
  person?: string;
}
export interface GateRecord {
  state: "waiting" | "passed" | "approved" | "rejected" | "failed";
  at: string;
  by?: Actor;
  reason?: string;
  preview?: { stacks: { stack: string; purpose: string; changes: { op: string; type: string; name: string }[]; note?: string }[] };
}
export interface Gate {
  name: string;
  kind: string;
  manual?: boolean;
  requireDistinctApprover?: boolean;
}
export interface Deployment {
  id: string;
  environment: string;
  version: string;
  state: string;
  phase: string;
  kind: string;
  step?: number;
  steps: { weight: number; pause?: unknown }[];
  strategy: { type: string };
  fromColor?: string;
  toColor?: string;
  fromVersion?: string;
  pausedBy?: "manual-step" | "user" | "analysis" | "gate";
  gates?: Gate[];
  gateLog?: Record<string, GateRecord>;
  requestedBy?: Actor;
  error?: { code: string; message: string };
  queuePosition?: number;
  engineWait?: { reason: string; position: number; running: number; limit: number; waitingSince: string };
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  updatedAt: string;
}
export interface Environment {
  name: string;
  status: string;
  activeColor?: string;
  liveVersion?: string;
  weights: Record<string, number>;
  drift?: { at: string; items: { kind: string; message: string }[] };
  maintenance?: { mode: "page" | "hold"; since: string; by?: { kind: string; name?: string; person?: string } };
  spec: { target: string };
  updatedAt: string;
}
export interface DeploymentEvent {
  id: number;
  type: string;
  at: string;
  data: Record<string, unknown>;
}
export interface Flag {
  environment: string;
  key: string;
  enabled: boolean;
  description?: string;
  variants: Record<string, unknown>;
  defaultVariant: string;
  rollout?: { variant: string; percentage: number; stickiness: string };
  version: number;
  updatedAt: string;
  updatedBy: Actor;
}
export interface FlagChange {
  id: number;
  version: number;
  action: string;
  actor: Actor;
  at: string;
  changed: string[];
  reason?: string;
}
export interface FlagRamp {
  id: string;
  state: string;
  step: number;
  steps: { percentage: number; pause?: string }[];
  counts: Record<string, Record<string, number>>;
  reason?: string;
  createdAt: string;
}
export interface Schedule {
  id: string;
  environment: string;
  kind: string;
  cron: string;
  timezone: string;
  paused: boolean;
  nextRunAt?: string;
  createdBy?: Actor;
}
export interface ScheduleRun {
  id: string;
  scheduledAt: string;
  state: string;
  operationId?: string;
  startedAt?: string;
  finishedAt?: string;
  error?: { code: string; message: string };
}
export interface AuditEntry {
  id: number;
  at: string;
  actor: Actor;
  action: string;
  environment?: string;
  subject?: string;
}

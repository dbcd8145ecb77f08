// The journal's tables as Kysely sees them. JSON documents are stored as
// text in both dialects; times are ISO-8601 strings.
import type { Generated } from "kysely";

export interface EnvironmentsTable {
  name: string;
  spec: string;
  status: string;
  active_color: string | null;
  live_version: string | null;
  live_artifact: string | null;
  previous_version: string | null;
  previous_artifact: string | null;
  weights: string;
  fleets: string;
  traffic: string | null;
  traffic_intent: string | null;
  /** A traffic change applied to the balancer that the traffic stack's state does not record yet (JSON), or null. */
  traffic_unrecorded: string | null;
  error: string | null;
  /** The drift the last refresh found (JSON), or null. */
  drift: string | null;
  /** Maintenance while it is on (JSON), or null. */
  maintenance: string | null;
  /** When the spec's `ttl` runs out (ISO-8601), or null for an environment without one. */
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface DeploymentsTable {
  seq: Generated<number>;
  id: string;
  environment: string;
  body: string;
  state: string;
  created_at: string;
}

export interface EventsTable {
  id: Generated<number>;
  deployment_id: string;
  environment: string;
  type: string;
  at: string;
  data: string;
}

export interface IdempotencyKeysTable {
  principal: string;
  key: string;
  method: string;
  path: string;
  request_hash: string;
  status: number;
  body: string;
  created_at: string;
}

export interface TokensTable {
  id: string;
  name: string;
  hash: string;
  role: string;
  environments: string | null;
  created_at: string;
  revoked_at: string | null;
  person: string | null;
}

export interface LeasesTable {
  environment: string;
  holder: string;
  token: number;
  /** Milliseconds since the epoch, by the database's clock on Postgres. */
  expires_at: number;
}

export interface DeploymentRequestsTable {
  id: Generated<number>;
  deployment_id: string;
  action: string;
  reason: string | null;
  gate: string | null;
  /** The Actor who asked, as JSON. */
  actor: string | null;
  created_at: string;
}

export interface ChatIdentitiesTable {
  id: string;
  provider: string;
  team: string;
  user_id: string;
  role: string;
  environments: string | null;
  created_at: string;
  person: string | null;
}

/** Signed chat requests already acted on (replay protection). */
export interface SignedRequestsTable {
  key: string;
  seen_at: string;
}

/** Where a deployment started from chat reports its progress. */
export interface ChatThreadsTable {
  id: Generated<number>;
  deployment_id: string;
  provider: string;
  /** Sealed: a response_url lets anyone post to the channel. */
  response_url: string | null;
  channel: string | null;
  message_ts: string | null;
  created_at: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  /** JSON: who acted, through which provider. */
  actor: string;
  action: string;
  environment: string | null;
  /** What was acted on: a deployment, schedule, webhook or identity id. */
  subject: string | null;
  data: string;
}

export interface SchedulesTable {
  id: string;
  environment: string;
  kind: string;
  cron: string;
  timezone: string;
  /** JSON: the kind's parameters and policies. */
  body: string;
  paused: number;
  /** ISO-8601 UTC; null when the expression has no further run. */
  next_run_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface ScheduleRunsTable {
  id: string;
  schedule_id: string;
  environment: string;
  scheduled_at: string;
  state: string;
  /** The deployment or operation the run started. */
  operation_id: string | null;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  data: string;
}

/** Environment work other than deployments (refresh), queued in the environment's lane. */
export interface OperationsTable {
  seq: Generated<number>;
  id: string;
  environment: string;
  kind: string;
  state: string;
  body: string;
  created_at: string;
  updated_at: string;
}

export interface WebhooksTable {
  id: string;
  url: string;
  format: string;
  events: string;
  environments: string | null;
  /** Sealed signing secret. */
  secret: string;
  description: string | null;
  disabled_at: string | null;
  disabled_reason: string | null;
  created_at: string;
}

export interface WebhookDeliveriesTable {
  seq: Generated<number>;
  id: string;
  webhook_id: string;
  event_type: string;
  payload: string;
  state: string;
  attempts: number;
  next_attempt_at: string | null;
  claimed_until: string | null;
  claimed_by: string | null;
  last_status: number | null;
  last_error: string | null;
  /** JSON list of attempts: time, status or error. */
  attempt_log: string;
  created_at: string;
  delivered_at: string | null;
}

export interface FlagsTable {
  environment: string;
  key: string;
  /** The whole flag as JSON. */
  body: string;
  version: number;
  updated_at: string;
}

export interface FlagHistoryTable {
  id: Generated<number>;
  environment: string;
  key: string;
  version: number;
  action: string;
  actor: string;
  changed: string;
  /** The flag after the change, as JSON; null for a deletion. */
  flag: string | null;
  reason: string | null;
  at: string;
}

export interface FlagRampsTable {
  id: string;
  environment: string;
  key: string;
  /** The ramp as JSON: steps, analysis, state, progress. */
  body: string;
  state: string;
  /** When the ramp's next step is due (ISO-8601). */
  due_at: string | null;
  claimed_by: string | null;
  claimed_until: string | null;
  created_at: string;
}

export interface ReleasesTable {
  id: string;
  version: string;
  digest: string;
  /** The whole release as JSON (secret values sealed). */
  body: string;
  created_at: string;
}

export interface PipelinesTable {
  name: string;
  /** The whole pipeline as JSON. */
  body: string;
  updated_at: string;
}

export interface AnnouncementsTable {
  /** What was announced, e.g. `eligible/<pipeline>/<stage>/<release>`. */
  key: string;
  at: string;
}

export interface JournalSchema {
  releases: ReleasesTable;
  pipelines: PipelinesTable;
  announcements: AnnouncementsTable;
  flags: FlagsTable;
  flag_history: FlagHistoryTable;
  flag_ramps: FlagRampsTable;
  chat_identities: ChatIdentitiesTable;
  chat_threads: ChatThreadsTable;
  audit_log: AuditLogTable;
  schedules: SchedulesTable;
  schedule_runs: ScheduleRunsTable;
  operations: OperationsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  leases: LeasesTable;
  deployment_requests: DeploymentRequestsTable;
  environments: EnvironmentsTable;
  deployments: DeploymentsTable;
  events: EventsTable;
  idempotency_keys: IdempotencyKeysTable;
  tokens: TokensTable;
  signed_requests: SignedRequestsTable;
}

export type Dialect = "sqlite" | "postgres";

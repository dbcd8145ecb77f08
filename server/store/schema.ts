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
  error: string | null;
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
  created_at: string;
}

export interface JournalSchema {
  leases: LeasesTable;
  deployment_requests: DeploymentRequestsTable;
  environments: EnvironmentsTable;
  deployments: DeploymentsTable;
  events: EventsTable;
  idempotency_keys: IdempotencyKeysTable;
  tokens: TokensTable;
}

export type Dialect = "sqlite" | "postgres";

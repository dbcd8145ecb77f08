// Outgoing webhooks as the domain sees them, and the storage it needs.
export const WEBHOOK_EVENTS = [
  "deployment.started",
  "deployment.paused",
  "deployment.awaiting_approval",
  "deployment.succeeded",
  "deployment.rolled_back",
  "deployment.failed",
  "environment.drifted",
  "environment.maintenance",
  "schedule.run_failed",
  "promotion.started",
  "promotion.succeeded",
  "promotion.failed",
  "promotion.held",
  "promotion.eligible",
  "release.created",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface Webhook {
  id: string;
  url: string;
  /** `standard`: Standard Webhooks JSON; `slack`: a Block Kit message for a Slack incoming webhook. */
  format: "standard" | "slack";
  events: WebhookEvent[];
  /** Environment names or `prefix-*` patterns; absent means all. */
  environments?: string[];
  description?: string;
  disabledAt?: string;
  disabledReason?: string;
  createdAt: string;
}

export type DeliveryState = "pending" | "delivering" | "delivered" | "failed";

export interface DeliveryAttempt {
  at: string;
  status?: number;
  error?: string;
  durationMs: number;
}

export interface Delivery {
  /** The Standard Webhooks message id (`webhook-id`), the same on every attempt. */
  id: string;
  webhookId: string;
  eventType: WebhookEvent;
  payload: Record<string, unknown>;
  state: DeliveryState;
  attempts: DeliveryAttempt[];
  nextAttemptAt?: string;
  createdAt: string;
  deliveredAt?: string;
}

export interface WebhookRepository {
  insert(webhook: Webhook, sealedSecret: string): Promise<void>;
  get(id: string): Promise<{ webhook: Webhook; sealedSecret: string } | undefined>;
  list(): Promise<Webhook[]>;
  remove(id: string): Promise<boolean>;
  disable(id: string, reason: string): Promise<void>;
}

export interface DeliveryRepository {
  enqueue(delivery: Delivery): Promise<void>;
  /** Claims up to `limit` due deliveries until `claimUntil` (so one replica sends each); expired claims are due again. */
  claimDue(now: Date, claimUntil: Date, limit: number, claimer?: string): Promise<Delivery[]>;
  /** Frees the claims a replica held before it restarted (it has no send in flight): they are due at once. */
  releaseClaims(claimer: string, now: Date): Promise<number>;
  /** Records an attempt and the delivery's next state. */
  recordAttempt(id: string, attempt: DeliveryAttempt, next: { state: DeliveryState; nextAttemptAt?: Date }): Promise<void>;
  get(id: string): Promise<Delivery | undefined>;
  forWebhook(webhookId: string, limit: number): Promise<Delivery[]>;
  /** Makes a delivery due now again (redelivery), keeping its id and attempts. */
  requeue(id: string, now: Date): Promise<void>;
}

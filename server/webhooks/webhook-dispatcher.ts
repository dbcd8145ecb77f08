// Sends due webhook deliveries: claims them in the journal (so among
// replicas one sends each, and a sender that dies mid-way leaves a claim
// that expires), POSTs them signed, and records every attempt. 2xx is
// delivered; 410 Gone disables the webhook; anything else is retried on the
// schedule, then given up as failed.
import type { SecretSealer } from "../deployments/ports";
import type { Logger } from "../logger";
import { slackMessage } from "./slack-format";
import { guardedPost } from "../outbound/guarded-request";
import { webhookHeaders } from "./standard-webhooks";
import type { OutboundGuard } from "../outbound/outbound-guard";
import type { Delivery, DeliveryRepository, WebhookRepository } from "./ports";
import { Ticker } from "../ticker";

export interface DispatcherOptions {
  /** Waits before each retry, in milliseconds; its length is the number of retries. */
  retryScheduleMs: number[];
  /** This replica's name on its claims. */
  claimer?: string;
  intervalMs?: number;
  timeoutMs?: number;
}

export class WebhookDispatcher {
  private readonly ticker: Ticker;

  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly secrets: SecretSealer,
    private readonly guard: OutboundGuard,
    private readonly options: DispatcherOptions,
    private readonly logger: Logger,
  ) {
    this.ticker = new Ticker(() => this.pass(), { intervalMs: options.intervalMs ?? 500, onError: (err) => logger.warn({ err: String(err) }, "webhook dispatch failed") });
  }

  start(): void {
    this.ticker.start();
    // Claims this replica held before a restart belong to sends that died with it.
    const claimer = this.options.claimer;
    const released = claimer ? this.deliveries.releaseClaims(claimer, new Date()) : Promise.resolve(0);
    void released
      .then((n) => n > 0 && this.logger.info({ released: n }, "deliveries claimed before the restart are due again"))
      .catch((err) => this.logger.warn({ err: String(err) }, "could not release earlier claims"))
      .finally(() => this.kick());
  }

  /** Looks for due deliveries now (one pass at a time). */
  kick(): void {
    this.ticker.kick();
  }

  stop(): Promise<void> {
    return this.ticker.stop();
  }

  private async pass(): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const now = new Date();
    const claimed = await this.deliveries.claimDue(now, new Date(now.getTime() + timeoutMs * 2 + 5_000), 20, this.options.claimer);
    await Promise.all(claimed.map((d) => this.send(d, timeoutMs)));
  }

  private async send(d: Delivery, timeoutMs: number): Promise<void> {
    const found = await this.webhooks.get(d.webhookId);
    const started = Date.now();
    if (!found || found.webhook.disabledAt) {
      await this.deliveries.recordAttempt(d.id, { at: new Date().toISOString(), error: found ? "the webhook is disabled" : "the webhook was deleted", durationMs: 0 }, { state: "failed" });
      return;
    }
    const { webhook } = found;
    const body = JSON.stringify(webhook.format === "slack" ? slackMessage({ type: d.eventType, environment: String((d.payload.data as { environment?: string }).environment ?? ""), data: d.payload.data as Record<string, unknown> }) : d.payload);
    const headers = { "content-type": "application/json", "user-agent": "Cutover-Webhooks", ...webhookHeaders(this.secrets.open(found.sealedSecret), d.id, body) };
    const outcome = await guardedPost(webhook.url, headers, body, timeoutMs, this.guard).then(
      (status) => ({ status }),
      (err: Error) => ({ error: err.message }),
    );
    const attempt = { at: new Date(started).toISOString(), durationMs: Date.now() - started, ...outcome };
    if ("status" in outcome && outcome.status >= 200 && outcome.status < 300) {
      await this.deliveries.recordAttempt(d.id, attempt, { state: "delivered" });
      return;
    }
    if ("status" in outcome && outcome.status === 410) {
      await this.deliveries.recordAttempt(d.id, attempt, { state: "failed" });
      await this.webhooks.disable(webhook.id, `the receiver answered 410 Gone at ${attempt.at}`);
      this.logger.warn({ webhookId: webhook.id }, "webhook disabled: its receiver answered 410 Gone");
      return;
    }
    const retry = this.options.retryScheduleMs[d.attempts.length];
    if (retry === undefined) {
      await this.deliveries.recordAttempt(d.id, attempt, { state: "failed" });
      this.logger.warn({ webhookId: webhook.id, deliveryId: d.id }, "webhook delivery failed after its last retry");
    } else {
      await this.deliveries.recordAttempt(d.id, attempt, { state: "pending", nextAttemptAt: new Date(Date.now() + retry) });
    }
  }
}

// Outgoing webhooks: registration (the secret is shown once and kept
// sealed), and the outbox. Each event a webhook subscribes to becomes a
// delivery row in the journal, written on the replica that saw the event;
// the dispatcher sends it from there, so deliveries survive restarts.
import { randomBytes } from "node:crypto";
import { scopesOverlap } from "../auth/scopes";
import type { Principal, TokenService } from "../auth/token-service";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { DeploymentRepository, SecretSealer } from "../deployments/ports";
import { InputError, NotFoundError } from "../errors";
import type { Logger } from "../logger";
import { newWebhookSecret } from "./standard-webhooks";
import type { OutboundGuard } from "../outbound/outbound-guard";
import { onWebhookEvents, type WebhookMessage } from "./webhook-events";
import type { Delivery, DeliveryRepository, Webhook, WebhookEvent, WebhookRepository } from "./ports";

export interface WebhookInput {
  url: string;
  events: WebhookEvent[];
  environments?: string[];
  format: Webhook["format"];
  description?: string;
}

const inScope = (patterns: string[] | undefined, environment: string) =>
  !patterns || patterns.some((p) => (p.endsWith("*") ? environment.startsWith(p.slice(0, -1)) : p === environment));

export class WebhookService {
  private unsubscribe?: () => void;

  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly outbox: DeliveryRepository,
    private readonly tokens: TokenService,
    private readonly secrets: SecretSealer,
    private readonly guard: OutboundGuard,
    private readonly logger: Logger,
    /** Called when a delivery is due now, so the dispatcher need not wait for its next tick. */
    private readonly due: () => void = () => undefined,
  ) {}

  /** Starts turning domain events into deliveries. */
  listen(bus: DomainEventBus, deployments: DeploymentRepository): void {
    this.unsubscribe = onWebhookEvents(bus, deployments, (m) =>
      void this.publish(m).catch((err) => this.logger.error({ err: String(err), type: m.type }, "could not queue webhook deliveries")),
    );
  }

  stop(): void {
    this.unsubscribe?.();
  }

  async create(caller: Principal, input: WebhookInput): Promise<{ webhook: Webhook; secret: string }> {
    if (!this.tokens.covers(caller, input.environments)) {
      throw new InputError("webhook_scope_exceeds_own", "a webhook's environments must lie within the caller's scope");
    }
    const problem = this.guard.urlProblem(input.url);
    if (problem) throw new InputError("webhook_target_forbidden", `${problem}; an operator can allow a target with CUTOVER_OUTBOUND_ALLOW`, { url: input.url });
    const webhook: Webhook = {
      id: `wh_${randomBytes(8).toString("hex")}`,
      url: input.url,
      format: input.format,
      events: [...new Set(input.events)],
      ...(input.environments ? { environments: input.environments } : {}),
      ...(input.description ? { description: input.description } : {}),
      createdAt: new Date().toISOString(),
    };
    const secret = newWebhookSecret();
    await this.webhooks.insert(webhook, this.secrets.seal(secret));
    return { webhook, secret };
  }

  async list(caller: Principal): Promise<Webhook[]> {
    return (await this.webhooks.list()).filter((w) => this.tokens.covers(caller, w.environments));
  }

  async get(caller: Principal, id: string): Promise<Webhook> {
    const found = await this.webhooks.get(id);
    if (!found || !this.tokens.covers(caller, found.webhook.environments)) throw new NotFoundError("webhook_not_found", `no webhook ${id}`, { webhook: id });
    return found.webhook;
  }

  async remove(caller: Principal, id: string): Promise<void> {
    await this.get(caller, id);
    await this.webhooks.remove(id);
  }

  async deliveries(caller: Principal, id: string, limit: number): Promise<Delivery[]> {
    await this.get(caller, id);
    return this.outbox.forWebhook(id, limit);
  }

  async redeliver(caller: Principal, id: string, deliveryId: string): Promise<Delivery> {
    await this.get(caller, id);
    const delivery = await this.outbox.get(deliveryId);
    if (!delivery || delivery.webhookId !== id) throw new NotFoundError("delivery_not_found", `no delivery ${deliveryId} of webhook ${id}`, { delivery: deliveryId });
    await this.outbox.requeue(deliveryId, new Date());
    this.due();
    return (await this.outbox.get(deliveryId))!;
  }

  private async publish(m: WebhookMessage): Promise<void> {
    const now = new Date();
    const targets = (await this.webhooks.list()).filter((w) => !w.disabledAt && w.events.includes(m.type) && (m.scope ? scopesOverlap(w.environments, m.scope.environments) : inScope(w.environments, m.environment)));
    for (const w of targets) {
      await this.outbox.enqueue({
        id: `msg_${randomBytes(12).toString("hex")}`,
        webhookId: w.id,
        eventType: m.type,
        payload: { type: m.type, timestamp: now.toISOString(), data: m.data },
        state: "pending",
        attempts: [],
        nextAttemptAt: now.toISOString(),
        createdAt: now.toISOString(),
      });
    }
    if (targets.length) this.due();
  }
}

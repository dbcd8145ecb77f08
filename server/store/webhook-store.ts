// Webhooks and their deliveries (the outbox). A delivery is claimed with a
// conditional update, so among replicas sharing the journal one sends it;
// a claim expires, so a sender that died leaves it due again.
import type { Selectable } from "kysely";
import type { Delivery, DeliveryAttempt, DeliveryRepository, DeliveryState, Webhook, WebhookEvent, WebhookRepository } from "../webhooks/ports";
import type { SecretSealer } from "../deployments/ports";
import type { JournalDb } from "./database";
import type { WebhookDeliveriesTable, WebhooksTable } from "./schema";

const webhookOf = (r: Selectable<WebhooksTable>, open: (sealed: string) => string): Webhook => ({
  id: r.id,
  url: open(r.url),
  format: r.format as Webhook["format"],
  events: JSON.parse(r.events) as WebhookEvent[],
  ...(r.environments ? { environments: JSON.parse(r.environments) as string[] } : {}),
  ...(r.description ? { description: r.description } : {}),
  ...(r.disabled_at ? { disabledAt: r.disabled_at, disabledReason: r.disabled_reason ?? undefined } : {}),
  createdAt: r.created_at,
});

const deliveryOf = (r: Selectable<WebhookDeliveriesTable>): Delivery => ({
  id: r.id,
  webhookId: r.webhook_id,
  eventType: r.event_type as WebhookEvent,
  payload: JSON.parse(r.payload),
  state: r.state as DeliveryState,
  attempts: JSON.parse(r.attempt_log) as DeliveryAttempt[],
  ...(r.next_attempt_at && r.state === "pending" ? { nextAttemptAt: r.next_attempt_at } : {}),
  createdAt: r.created_at,
  ...(r.delivered_at ? { deliveredAt: r.delivered_at } : {}),
});

/** Webhooks, their URLs sealed: a Slack incoming-webhook URL, like many, is itself a credential. */
export class WebhookStore implements WebhookRepository {
  constructor(
    private readonly db: JournalDb,
    private readonly secrets: SecretSealer,
  ) {}

  async insert(w: Webhook, sealedSecret: string): Promise<void> {
    await this.db
      .insertInto("webhooks")
      .values({
        id: w.id,
        url: this.secrets.seal(w.url),
        format: w.format,
        events: JSON.stringify(w.events),
        environments: w.environments ? JSON.stringify(w.environments) : null,
        secret: sealedSecret,
        description: w.description ?? null,
        disabled_at: null,
        disabled_reason: null,
        created_at: w.createdAt,
      })
      .execute();
  }

  async get(id: string): Promise<{ webhook: Webhook; sealedSecret: string } | undefined> {
    const row = await this.db.selectFrom("webhooks").selectAll().where("id", "=", id).executeTakeFirst();
    return row && { webhook: webhookOf(row, (v) => this.secrets.open(v)), sealedSecret: row.secret };
  }

  async list(): Promise<Webhook[]> {
    return (await this.db.selectFrom("webhooks").selectAll().orderBy("created_at").execute()).map((r) => webhookOf(r, (v) => this.secrets.open(v)));
  }

  async remove(id: string): Promise<boolean> {
    await this.db.deleteFrom("webhook_deliveries").where("webhook_id", "=", id).execute();
    const result = await this.db.deleteFrom("webhooks").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async disable(id: string, reason: string): Promise<void> {
    await this.db.updateTable("webhooks").set({ disabled_at: new Date().toISOString(), disabled_reason: reason }).where("id", "=", id).execute();
  }

}

export class DeliveryStore implements DeliveryRepository {
  constructor(private readonly db: JournalDb) {}

  async enqueue(d: Delivery): Promise<void> {
    await this.db
      .insertInto("webhook_deliveries")
      .values({
        id: d.id,
        webhook_id: d.webhookId,
        event_type: d.eventType,
        payload: JSON.stringify(d.payload),
        state: d.state,
        attempts: d.attempts.length,
        next_attempt_at: d.nextAttemptAt ?? null,
        claimed_until: null,
        last_status: null,
        last_error: null,
        attempt_log: JSON.stringify(d.attempts),
        created_at: d.createdAt,
        delivered_at: null,
      })
      .execute();
  }

  async releaseClaims(claimer: string, now: Date): Promise<number> {
    const result = await this.db
      .updateTable("webhook_deliveries")
      .set({ state: "pending", next_attempt_at: now.toISOString(), claimed_until: null, claimed_by: null })
      .where("state", "=", "delivering")
      .where("claimed_by", "=", claimer)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async claimDue(now: Date, claimUntil: Date, limit: number, claimer = ""): Promise<Delivery[]> {
    const at = now.toISOString();
    const due = await this.db
      .selectFrom("webhook_deliveries")
      .selectAll()
      .where((eb) =>
        eb.or([
          eb.and([eb("state", "=", "pending"), eb("next_attempt_at", "<=", at)]),
          eb.and([eb("state", "=", "delivering"), eb("claimed_until", "<", at)]),
        ]),
      )
      .orderBy("seq")
      .limit(limit)
      .execute();
    const claimed: Delivery[] = [];
    for (const row of due) {
      // Claimed only if nobody changed it since it was read.
      const result = await this.db
        .updateTable("webhook_deliveries")
        .set({ state: "delivering", claimed_until: claimUntil.toISOString(), claimed_by: claimer || null })
        .where("id", "=", row.id)
        .where("state", "=", row.state)
        .where("attempts", "=", row.attempts)
        .where((eb) => (row.claimed_until === null ? eb("claimed_until", "is", null) : eb("claimed_until", "=", row.claimed_until)))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) claimed.push(deliveryOf({ ...row, state: "delivering" }));
    }
    return claimed;
  }

  async recordAttempt(id: string, attempt: DeliveryAttempt, next: { state: DeliveryState; nextAttemptAt?: Date }): Promise<void> {
    const row = await this.db.selectFrom("webhook_deliveries").select(["attempt_log"]).where("id", "=", id).executeTakeFirst();
    if (!row) return;
    const log = [...(JSON.parse(row.attempt_log) as DeliveryAttempt[]), attempt];
    await this.db
      .updateTable("webhook_deliveries")
      .set({
        state: next.state,
        attempts: log.length,
        attempt_log: JSON.stringify(log),
        next_attempt_at: next.nextAttemptAt?.toISOString() ?? null,
        claimed_until: null,
        last_status: attempt.status ?? null,
        last_error: attempt.error ?? null,
        ...(next.state === "delivered" ? { delivered_at: attempt.at } : {}),
      })
      .where("id", "=", id)
      .execute();
  }

  async get(id: string): Promise<Delivery | undefined> {
    const row = await this.db.selectFrom("webhook_deliveries").selectAll().where("id", "=", id).executeTakeFirst();
    return row && deliveryOf(row);
  }

  async forWebhook(webhookId: string, limit: number): Promise<Delivery[]> {
    const rows = await this.db.selectFrom("webhook_deliveries").selectAll().where("webhook_id", "=", webhookId).orderBy("seq", "desc").limit(limit).execute();
    return rows.map(deliveryOf);
  }

  async requeue(id: string, now: Date): Promise<void> {
    await this.db.updateTable("webhook_deliveries").set({ state: "pending", next_attempt_at: now.toISOString(), claimed_until: null }).where("id", "=", id).execute();
  }
}

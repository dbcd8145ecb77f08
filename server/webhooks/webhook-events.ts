// Which domain events become which webhook events, and what they carry.
import type { DomainEventBus } from "../deployments/deployment-events";
import type { JournalEventType } from "../deployments/journal-events";
import type { DeploymentEvent } from "../deployments/model";
import type { DeploymentRepository } from "../deployments/ports";
import type { WebhookEvent } from "./ports";

const FROM_JOURNAL: Partial<Record<JournalEventType, WebhookEvent>> = {
  "deployment:started": "deployment.started",
  "deployment:paused": "deployment.paused",
  "gate:waiting": "deployment.awaiting_approval",
  "deployment:succeeded": "deployment.succeeded",
  "deployment:rolled_back": "deployment.rolled_back",
  "deployment:failed": "deployment.failed",
};

/** A promotion is a deployment: its start and end are also the promotion's. */
const PROMOTION: Partial<Record<WebhookEvent, WebhookEvent>> = {
  "deployment.started": "promotion.started",
  "deployment.succeeded": "promotion.succeeded",
  "deployment.rolled_back": "promotion.failed",
  "deployment.failed": "promotion.failed",
};

export interface WebhookMessage {
  type: WebhookEvent;
  environment: string;
  /** For what belongs to no one environment (a release): the environments it reaches, all when absent; webhooks whose environments overlap them get it. */
  scope?: { environments?: string[] };
  data: Record<string, unknown>;
}

/** Calls `publish` for every domain event a webhook may subscribe to; returns the unsubscribe function. */
export function onWebhookEvents(bus: DomainEventBus, deployments: DeploymentRepository, publish: (m: WebhookMessage) => void): () => void {
  const fromJournal = async (e: DeploymentEvent) => {
    const type = FROM_JOURNAL[e.type as JournalEventType];
    if (!type) return;
    const d = await deployments.get(e.deploymentId);
    const data = {
      deploymentId: e.deploymentId,
      environment: e.environment,
      version: d?.version,
      ...(d?.release ? { release: d.release } : {}),
      ...(d?.promotion ? { promotion: d.promotion } : {}),
      kind: d?.kind,
      strategy: d?.strategy.type,
      state: d?.state,
      phase: d?.phase,
      ...(d?.fromVersion ? { fromVersion: d.fromVersion } : {}),
      ...(d?.error ? { error: d.error } : {}),
      ...(d?.requestedBy ? { requestedBy: d.requestedBy } : {}),
      event: { id: e.id, at: e.at, ...e.data },
    };
    publish({ type, environment: e.environment, data });
    const promotion = d?.promotion && PROMOTION[type];
    if (promotion) publish({ type: promotion, environment: e.environment, data });
  };
  const offs = [
    bus.on("deployment:event", (e) => void fromJournal(e).catch(() => undefined)),
    bus.on("environment:drifted", (e) => publish({ type: "environment.drifted", environment: e.environment, data: { ...e } })),
    bus.on("environment:maintenance", (e) => publish({ type: "environment.maintenance", environment: e.environment, data: { ...e } })),
    bus.on("promotion:held", (e) => publish({ type: "promotion.held", environment: e.stage, data: { ...e } })),
    bus.on("promotion:eligible", (e) => publish({ type: "promotion.eligible", environment: e.stage, data: { ...e } })),
    // A release belongs to no one environment: it goes to webhooks that reach every environment its maker's scope does.
    bus.on("release:created", (e) => publish({ type: "release.created", environment: "", scope: { environments: e.scope }, data: { ...e } })),
    bus.on("schedule:run_finished", (e) => {
      if (e.state === "failed" || e.state === "missed") publish({ type: "schedule.run_failed", environment: e.environment, data: { ...e } });
    }),
  ];
  return () => offs.forEach((off) => off());
}

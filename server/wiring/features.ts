// Wiring of what is built on the deployment domain: feature flags and
// their ramps, chat commands and progress, outgoing webhooks, schedules.
// Each acts on its creator's authority, checked again when it acts.
import type { Authorization } from "../auth/authorization";
import type { Principal, TokenService } from "../auth/token-service";
import type { Config } from "../config";
import type { DomainEventBus } from "../deployments/deployment-events";
import type { DeploymentService } from "../deployments/deployment-service";
import { personOf, type Actor, type Color, type Environment } from "../deployments/model";
import type { SecretSealer } from "../deployments/ports";
import type { EnvironmentService } from "../environments/environment-service";
import type { EnvironmentRefresh } from "../environments/environment-refresh";
import { maintenanceRequest, type EnvironmentMaintenance } from "../environments/environment-maintenance";
import type { Logger } from "../logger";
import type { PoolStats } from "../deployments/deployment-target";
import { metricSource, type MetricSourceDeps } from "../analysis/metric-sources";
import type { OutboundGuard } from "../outbound/outbound-guard";
import { ChatCommandService } from "../chatops/chat-commands";
import { ChatIdentityService } from "../chatops/chat-identities";
import { ChatProgress } from "../chatops/chat-progress";
import { ProviderPoster } from "../chatops/provider-poster";
import { FlagService } from "../flags/flag-service";
import { FlagRamps } from "../flags/flag-ramps";
import { ScheduleService } from "../schedules/schedule-service";
import { Scheduler } from "../schedules/scheduler";
import { DEFAULT_RETRY_SCHEDULE_MS } from "../webhooks/standard-webhooks";
import { WebhookDispatcher } from "../webhooks/webhook-dispatcher";
import { WebhookService } from "../webhooks/webhook-service";
import type { JournalDb } from "../store/database";
import type { Dialect } from "../store/schema";
import type { AuditStore } from "../store/audit-store";
import type { DeploymentStore } from "../store/deployment-store";
import type { EnvironmentStore } from "../store/environment-store";
import type { OperationStore } from "../store/operation-store";
import { FlagStore } from "../store/flag-store";
import { FlagRampStore } from "../store/flag-ramp-store";
import { ChatIdentityStore, ChatThreadStore } from "../store/chat-store";
import { RunStore, ScheduleStore } from "../store/schedule-store";
import { DeliveryStore, WebhookStore } from "../store/webhook-store";
import { ReleaseStore } from "../store/release-store";
import { ReleaseService } from "../releases/release-service";
import { PipelineService } from "../releases/pipeline-service";
import { AutoPromoter } from "../releases/auto-promoter";
import type { Release } from "../releases/release";
import { AnnouncementStore, PipelineStore } from "../store/pipeline-store";

export interface FeatureContext {
  config: Config;
  logger: Logger;
  journal: { db: JournalDb; dialect: Dialect };
  bus: DomainEventBus;
  secrets: SecretSealer;
  audit: AuditStore;
  tokens: TokenService;
  authorization: Authorization;
  outboundGuard: OutboundGuard;
  metricDeps: MetricSourceDeps;
  environmentStore: EnvironmentStore;
  deploymentStore: DeploymentStore;
  operations: OperationStore;
  deploymentService: DeploymentService;
  environmentService: EnvironmentService;
  refresh: EnvironmentRefresh;
  maintenance: EnvironmentMaintenance;
  poolStatsOf: (env: Environment) => Promise<Record<Color, PoolStats> | undefined>;
}

export function wireFeatures(c: FeatureContext) {
  const { config, logger, journal, bus, environmentStore, deploymentStore } = c;
  const flags = new FlagService({
    flags: new FlagStore(journal.db, journal.dialect),
    environmentExists: async (name) => (await environmentStore.get(name)) !== undefined,
    audit: c.audit,
    // With one SQLite journal this process is the only writer; on Postgres the cache waits for notifications to flow.
    cacheTrusted: journal.dialect === "sqlite",
    changed: (environment) => bus.emit("flag:changed", { environment }),
  });
  bus.on("environment:removed", (env) => flags.cache.invalidate(env.name));
  const chatIdentities = new ChatIdentityService(new ChatIdentityStore(journal.db), c.tokens);
  /** Who an actor is now (a revoked token or unlinked chat user is no one): schedules and ramps act on their creator's authority. */
  const principalOf = async (actor: Actor): Promise<Principal | undefined> => {
    if (actor.kind === "token") return c.tokens.principalById(actor.id);
    if (actor.kind === "chat") return chatIdentities.principalById(actor.id);
    return undefined;
  };
  const flagRamps = new FlagRamps({
    creatorRefusal: async (ramp) => {
      const creator = await principalOf(ramp.createdBy);
      if (!creator) return "the token or chat identity that started the ramp no longer exists";
      try {
        c.authorization.authorize(creator, "flag.write", ramp.environment);
        return undefined;
      } catch (err) {
        return `the ramp's creator may no longer change flags here: ${(err as Error).message}`;
      }
    },
    ramps: new FlagRampStore(journal.db),
    flags,
    replicaId: config.replicaId,
    intervalMs: config.schedulerIntervalMs,
    logger: logger.child({ component: "flag-ramps" }),
    // A ramp's builtin metrics read the environment's live pool: the version that serves the flag.
    measureFor: async (ramp) => {
      const env = await environmentStore.get(ramp.environment);
      const color = env?.activeColor ?? "blue";
      const sample = async () => {
        const current = await environmentStore.get(ramp.environment);
        return current ? (await c.poolStatsOf(current))?.[color] : undefined;
      };
      return metricSource({ environment: ramp.environment, version: env?.liveVersion ?? "", color, sample }, c.metricDeps);
    },
  });
  const chatLogger = logger.child({ component: "chat" });
  const chatThreads = new ChatThreadStore(journal.db, c.secrets);
  const chatPoster = new ProviderPoster({ slackBotToken: config.slackBotToken, slackApiUrl: config.slackApiUrl, guard: c.outboundGuard });
  const chatProgress = new ChatProgress(bus, chatThreads, deploymentStore, chatPoster, chatLogger);
  const releaseStore = new ReleaseStore(journal.db);
  const releases = new ReleaseService(releaseStore, c.secrets, bus);
  const pipelines = new PipelineService({
    pipelines: new PipelineStore(journal.db),
    releases: releaseStore,
    environments: environmentStore,
    deployments: deploymentStore,
    deploymentService: c.deploymentService,
    bus,
  });
  const chatCommands = new ChatCommandService({
    identities: chatIdentities,
    tokens: c.tokens,
    authorization: c.authorization,
    deployments: c.deploymentService,
    deploymentStore,
    environments: c.environmentService,
    threads: chatThreads,
    audit: c.audit,
    poster: chatPoster,
    logger: chatLogger,
    flags,
    ramps: flagRamps,
    pipelines,
    releases,
    maintenance: (environment, on, by) => c.maintenance.request(environment, maintenanceRequest(on && { mode: on.hold ? "hold" : "page", retryAfter: on.retryAfter, holdTimeout: on.hold }), by),
  });
  const webhookStore = new WebhookStore(journal.db, c.secrets);
  const deliveryStore = new DeliveryStore(journal.db);
  const webhookLogger = logger.child({ component: "webhooks" });
  const dispatcher = new WebhookDispatcher(
    webhookStore,
    deliveryStore,
    c.secrets,
    c.outboundGuard,
    { retryScheduleMs: config.webhookRetryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS, claimer: config.replicaId },
    webhookLogger,
  );
  const webhooks = new WebhookService(webhookStore, deliveryStore, c.tokens, c.secrets, c.outboundGuard, webhookLogger, () => dispatcher.kick());
  webhooks.listen(bus, deploymentStore);
  const scheduleStore = new ScheduleStore(journal.db);
  const runStore = new RunStore(journal.db);
  const schedules = new ScheduleService(scheduleStore, runStore, environmentStore);
  const scheduler = new Scheduler({
    schedules: scheduleStore,
    runs: runStore,
    operations: c.operations,
    environments: environmentStore,
    deploymentStore,
    deployments: c.deploymentService,
    environmentService: c.environmentService,
    refresh: c.refresh,
    maintenance: c.maintenance,
    audit: c.audit,
    bus,
    logger: logger.child({ component: "scheduler" }),
    intervalMs: config.schedulerIntervalMs,
    authorization: c.authorization,
    principalOf,
  });
  const promoter = new AutoPromoter({
    pipelines,
    // Automatic promotions act for whoever declared the pipeline, as they are now.
    authorityOf: async (pipeline) => {
      const creator = await principalOf(pipeline.createdBy);
      if (!creator) return { refused: "the token or chat identity that declared the pipeline no longer exists" };
      const by: Actor = { kind: "system", id: `pipeline:${pipeline.name}`, name: `pipeline ${pipeline.name} for ${pipeline.createdBy.name}`, person: personOf(pipeline.createdBy) };
      const mayRun = async (release: Release, environment: string) => {
        c.authorization.authorize(creator, "deployment.create", environment);
        c.authorization.authorizeRelease(release, (await environmentStore.get(environment))?.spec.target ?? "local", environment);
      };
      return { by, mayRun };
    },
    intervalMs: config.promotionIntervalMs,
    logger: logger.child({ component: "promotions" }),
    announcements: new AnnouncementStore(journal.db),
    bus,
  });
  bus.on("deployment:event", (e) => e.type === "deployment:succeeded" && promoter.kick());
  return { flags, flagRamps, chatIdentities, chatPoster, chatProgress, chatCommands, webhooks, dispatcher, schedules, scheduler, releases, pipelines, promoter };
}

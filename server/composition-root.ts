// The one place where the service is wired: stores, then the engine and
// targets, then domain services, then HTTP.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { describeError } from "./errors";
import { TokenService } from "./auth/token-service";
import { Authorization } from "./auth/authorization";
import { createApp } from "./app";
import type { Config } from "./config";
import { DomainEventBus } from "./deployments/deployment-events";
import { DeploymentJournal } from "./deployments/deployment-journal";
import { DeploymentRunner } from "./deployments/deployment-runner";
import { currentFence } from "./deployments/fencing";
import { DeploymentService } from "./deployments/deployment-service";
import { EnvironmentWorkers } from "./lane/environment-workers";
import { EnvironmentReconciler } from "./lane/recovery";
import { TrafficOperator } from "./deployments/traffic-operator";
import { WorkerEngine } from "./engine/worker-engine";
import { BoundedEngine } from "./engine/bounded-engine";
import { EngineSlots } from "./engine/engine-slots";
import { projectRoot, resolveToolchain, type Toolchain } from "./engine/toolchain";
import { EnvironmentService } from "./environments/environment-service";
import { apiRoutes } from "./http/api-routes";
import type { Logger } from "./logger";
import { createMetrics } from "./metrics/metrics";
import { openJournal } from "./store/database";
import { LeaseStore } from "./store/lease-store";
import { DeploymentRequestStore } from "./store/deployment-request-store";
import { EventNotifications } from "./store/event-notifications";
import { DeploymentStore, EVENTS_CHANNEL } from "./store/deployment-store";
import { FLAGS_CHANNEL, FlagStore } from "./store/flag-store";
import { FlagService } from "./flags/flag-service";
import { FlagRamps } from "./flags/flag-ramps";
import { FlagRampStore } from "./store/flag-ramp-store";
import { flagRoutes } from "./http/flag-routes";
import { ofrepRouter } from "./http/ofrep-routes";
import { EnvironmentStore } from "./store/environment-store";
import { IdempotencyStore } from "./store/idempotency-store";
import { SignedRequestStore } from "./store/signed-request-store";
import { TokenStore } from "./store/token-store";
import { AuditStore } from "./store/audit-store";
import { ChatIdentityStore, ChatThreadStore } from "./store/chat-store";
import { ChatCommandService } from "./chatops/chat-commands";
import { ChatIdentityService } from "./chatops/chat-identities";
import { ChatProgress } from "./chatops/chat-progress";
import { ProviderPoster } from "./chatops/provider-poster";
import { chatIdentityRoutes, chatopsRouter } from "./http/chatops-routes";
import { webhookRoutes } from "./http/webhook-routes";
import { scheduleRoutes } from "./http/schedule-routes";
import { EnvironmentRefresh } from "./environments/environment-refresh";
import { ScheduleService } from "./schedules/schedule-service";
import { Scheduler } from "./schedules/scheduler";
import { OperationStore } from "./store/operation-store";
import { RunStore, ScheduleStore } from "./store/schedule-store";
import { DeliveryStore, WebhookStore } from "./store/webhook-store";
import { DEFAULT_RETRY_SCHEDULE_MS } from "./webhooks/standard-webhooks";
import { OutboundGuard } from "./outbound/outbound-guard";
import { HttpGateCaller, gateSigningSecret } from "./webhooks/gate-caller";
import { WebhookDispatcher } from "./webhooks/webhook-dispatcher";
import { WebhookService } from "./webhooks/webhook-service";
import type { StackEngine } from "./deployments/stack-engine";
import { AwsTarget } from "./targets/aws-target";
import { KubernetesTarget } from "./targets/kubernetes-target";
import { LocalTarget } from "./targets/local-target";
import { decideLocalSandbox, type LocalSandbox } from "./targets/local-sandbox";
import { TargetRegistry } from "./deployments/target-registry";
import { SecretBox } from "./secrets/secret-box";
import { metricSource, type MetricSourceDeps } from "./analysis/metric-sources";
import { MetricProviders } from "./analysis/metric-providers";
import { guardedRequest } from "./outbound/guarded-request";
import type { Actor, Deployment, Environment } from "./deployments/model";
import type { Principal } from "./auth/token-service";

export interface ServiceOptions {
  config: Config;
  logger: Logger;
  toolchain?: Toolchain;
  /** Another engine, for running cloud programs under Pulumi's mocks in tests. */
  engine?: StackEngine;
  /** Treat cloud provider plugins as installed (their programs run under mocks). */
  assumePluginsInstalled?: boolean;
  /** The local sandbox as decided elsewhere (tests of the rule without one); otherwise decided here from the configuration. */
  localSandbox?: LocalSandbox;
}

/** This process's CPU priority (nice): the local target's fleets and balancers run at it, not at the engine's. */
function ownNiceness(): number {
  try {
    return os.getPriority();
  } catch {
    return 0;
  }
}

/** The state passphrase: the operator's, or one generated on first start and kept 0600. */
function statePassphrase(config: Config): string {
  if (config.pulumiPassphrase) return config.pulumiPassphrase;
  const file = path.join(config.dataDir, "pulumi-passphrase");
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  return readFileSync(file, "utf8").trim();
}

export async function createServices({ config, logger, toolchain, engine: injectedEngine, assumePluginsInstalled, localSandbox: decided }: ServiceOptions) {
  // Decided once, before anything runs: a run-as user that cannot be used stops the start.
  const localSandbox = decided ?? decideLocalSandbox(config.localRunAs);
  if (localSandbox.runAs) logger.info({ runAs: localSandbox.runAs }, localSandbox.summary);
  else logger.warn(localSandbox.summary);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const journalDb = await openJournal({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  logger.info({ journal: journalDb.location, dialect: journalDb.dialect }, "journal open");
  const environmentStore = new EnvironmentStore(journalDb.db, journalDb.dialect);
  const deploymentStore = new DeploymentStore(journalDb.db, journalDb.dialect);
  const idempotencyStore = new IdempotencyStore(journalDb.db);
  const tokenStore = new TokenStore(journalDb.db);
  const audit = new AuditStore(journalDb.db);

  const passphrase = statePassphrase(config);
  const leaseStore = new LeaseStore(journalDb.db, journalDb.dialect);
  // Every operation that starts Pulumi's processes takes one of the replica's engine slots first.
  // Engine work runs in engine workers, never in this process; reconciler is set below, before any operation runs.
  let reconciler: EnvironmentReconciler | undefined;
  const workerEngine = injectedEngine
    ? undefined
    : new WorkerEngine({
        settings: { dataDir: config.dataDir, passphrase, toolchain: toolchain ?? resolveToolchain(), backendUrl: config.stateBackend, dataPlaneNiceness: ownNiceness() },
        // Operations beyond the slots are reads (outputs, state) and repairs: they get workers of their own.
        maxWorkers: config.engineConcurrency + 2,
        niceness: config.engineNiceness,
        // A frozen server's engine work stops well before its leases can pass to another replica.
        watchdogMs: Math.max(1000, Math.floor(config.leaseTtlMs / 2)),
        log: (level, data, message) => logger[level](data, message),
        // Work on an environment is fenced by its lease: a dead worker's stack is repaired only while the lease is still this replica's.
        stillHolds: async () => {
          const fence = currentFence();
          if (!fence) return true;
          const lease = await leaseStore.current(fence.environment);
          return lease !== undefined && lease.holder === config.replicaId && Number(lease.token) === fence.token;
        },
        interrupted: (stack) => reconciler!.reapInterrupted(stack).catch((err) => logger.error({ stack, err: describeError(err) }, "could not remove what an interrupted operation left")),
      });
  const slots = new EngineSlots(config.engineConcurrency);
  const engine: StackEngine = new BoundedEngine(injectedEngine ?? workerEngine!, slots);
  const cloud = { pulumiHome: path.join(config.dataDir, "pulumi-home"), assumePluginInstalled: assumePluginsInstalled };
  const targets = new TargetRegistry([new LocalTarget(config.runtimeDir, { reap: journalDb.dialect === "sqlite", runAs: localSandbox.runAs }), new AwsTarget(cloud), new KubernetesTarget(cloud)]);

  const outboundGuard = new OutboundGuard(config.outboundAllow);
  const trusting = OutboundGuard.trusting();
  const metricProviders = MetricProviders.load(config.metricProvidersFile, (url) => outboundGuard.urlProblem(url));
  // Metric sources ask the operator's providers as configured, and a caller's own URLs only where the guard allows.
  const metricDeps: MetricSourceDeps = {
    providers: metricProviders,
    fetch: (url, headers, trusted) => guardedRequest({ method: "GET", url, headers, timeoutMs: 10_000 }, trusted ? trusting : outboundGuard),
  };
  const secrets = new SecretBox(passphrase);
  const gateSecret = gateSigningSecret(passphrase);
  const bus = new DomainEventBus();
  const journal = new DeploymentJournal(deploymentStore, bus);
  const traffic = new TrafficOperator(engine, environmentStore, targets, bus, secrets, config.trafficMode);
  /** The balancer's counters per pool of an environment, where its target keeps them. */
  const poolStatsOf = async (env: Environment) => {
    const target = targets.get(env.spec.target);
    return target.poolStats && env.traffic ? target.poolStats(env.spec, env.traffic) : undefined;
  };
  const core = {
    environments: environmentStore,
    deployments: deploymentStore,
    journal,
    engine,
    targets,
    traffic,
    logger,
    secrets,
    gates: new HttpGateCaller(outboundGuard, secrets, gateSecret),
    requests: new DeploymentRequestStore(journalDb.db),
    operationTimeoutMs: config.operationTimeoutMs,
    // Metric analysis measures the new pool through its target, or asks Prometheus or a JSON endpoint.
    // Before promotion the new pool has no weight: its traffic is the forced (keyed) requests, counted apart.
    measureFor: async (d: Deployment, env: Environment, stage?: "pre-promotion") =>
      metricSource(
        {
          environment: d.environment,
          version: d.version,
          color: d.toColor!,
          sample: async () => {
            const current = await environmentStore.get(env.name);
            const stats = current ? (await poolStatsOf(current))?.[d.toColor!] : undefined;
            return stage === "pre-promotion" ? stats?.forced : stats;
          },
        },
        metricDeps,
      ),
  };
  const runner = new DeploymentRunner(core);
  // The workers ask the reconciler for each environment's next piece of work; both are built before either runs.
  const leaseTtlMs = config.leaseTtlMs;
  const workers = new EnvironmentWorkers(
    (name) => reconciler!.next(name),
    {
      ttlMs: leaseTtlMs,
      acquire: (environment) => leaseStore.acquire(environment, config.replicaId, leaseTtlMs),
      renew: (lease) => leaseStore.renew(lease, leaseTtlMs),
      release: (lease) => leaseStore.release(lease),
    },
    {
      acquired: (name) => reconciler!.claimed(name),
      heldElsewhere: (name) => reconciler!.heldElsewhere(name),
      lost: (name) => runner.suspendEnvironment(name),
      // With replicas on a shared journal, one whose engine queue holds a full round of work takes no new environment.
      ...(journalDb.dialect === "sqlite" ? {} : { hasRoom: () => slots.load.waiting < slots.limit }),
    },
    logger.child({ replica: config.replicaId }),
  );
  const poke = (name: string) => workers.poke(name);
  const deploymentService = new DeploymentService(environmentStore, deploymentStore, journal, runner, poke, targets, core.secrets, core.requests, (name) =>
    slots.waitOf(name),
  );
  const environmentService = new EnvironmentService({ ...core, runner, bus, poke, busy: (name) => workers.busy(name) });
  const operations = new OperationStore(journalDb.db);
  const refresh = new EnvironmentRefresh({ ...core, operations, bus, poke });
  refresh.deploymentService = deploymentService;
  reconciler = new EnvironmentReconciler({
    ...core,
    runner,
    environmentService,
    operations: {
      next: (name) => operations.next(name),
      run: async (name) => {
        const op = await operations.next(name);
        if (op) await refresh.run(op);
      },
      pendingEnvironments: () => operations.pendingEnvironments(),
    },
  });

  let adminToken = config.adminToken;
  let adminTokenFile: string | undefined;
  if (!adminToken) {
    const boot = TokenService.bootstrapAdminToken(config.dataDir);
    adminToken = boot.token;
    adminTokenFile = boot.file;
  }
  const tokens = new TokenService(tokenStore, adminToken);
  const authorization = new Authorization(tokens, localSandbox.runAs !== undefined);
  const metrics = createMetrics(bus, environmentStore, deploymentStore, poolStatsOf);

  const flags = new FlagService({
    flags: new FlagStore(journalDb.db, journalDb.dialect),
    environmentExists: async (name) => (await environmentStore.get(name)) !== undefined,
    audit,
    // With one SQLite journal this process is the only writer; on Postgres the cache waits for notifications to flow.
    cacheTrusted: journalDb.dialect === "sqlite",
  });
  bus.on("environment:removed", (env) => flags.cache.invalidate(env.name));
  // A ramp's builtin metrics read the environment's live pool: the version that serves the flag.
  const chatIdentities = new ChatIdentityService(new ChatIdentityStore(journalDb.db), tokens);
  /** Who an actor is now (a revoked token or unlinked chat user is no one): schedules and ramps act on their creator's authority. */
  const principalOf = async (actor: Actor): Promise<Principal | undefined> => {
    if (actor.kind === "token") return tokens.principalById(actor.id);
    if (actor.kind === "chat") return chatIdentities.principalById(actor.id);
    return undefined;
  };
  const flagRamps = new FlagRamps({
    creatorRefusal: async (ramp) => {
      const creator = await principalOf(ramp.createdBy);
      if (!creator) return "the token or chat identity that started the ramp no longer exists";
      try {
        authorization.authorize(creator, "flag.write", ramp.environment);
        return undefined;
      } catch (err) {
        return `the ramp's creator may no longer change flags here: ${(err as Error).message}`;
      }
    },
    ramps: new FlagRampStore(journalDb.db),
    flags,
    replicaId: config.replicaId,
    intervalMs: config.schedulerIntervalMs,
    logger: logger.child({ component: "flag-ramps" }),
    measureFor: async (ramp) => {
      const env = await environmentStore.get(ramp.environment);
      const color = env?.activeColor ?? "blue";
      return metricSource(
        {
          environment: ramp.environment,
          version: env?.liveVersion ?? "",
          color,
          sample: async () => {
            const current = await environmentStore.get(ramp.environment);
            return current ? (await poolStatsOf(current))?.[color] : undefined;
          },
        },
        metricDeps,
      );
    },
  });
  let started = false;
  const chatThreads = new ChatThreadStore(journalDb.db, core.secrets);
  const chatPoster = new ProviderPoster({ slackBotToken: config.slackBotToken, slackApiUrl: config.slackApiUrl, guard: outboundGuard });
  const chatProgress = new ChatProgress(bus, chatThreads, deploymentStore, chatPoster, logger.child({ component: "chat" }));
  const chatCommands = new ChatCommandService({
    identities: chatIdentities,
    tokens,
    authorization,
    deployments: deploymentService,
    deploymentStore,
    environments: environmentService,
    threads: chatThreads,
    audit,
    poster: chatPoster,
    logger: logger.child({ component: "chat" }),
    flags,
    ramps: flagRamps,
  });
  const webhookStore = new WebhookStore(journalDb.db, core.secrets);
  const deliveryStore = new DeliveryStore(journalDb.db);
  const dispatcher = new WebhookDispatcher(
    webhookStore,
    deliveryStore,
    core.secrets,
    outboundGuard,
    { retryScheduleMs: config.webhookRetryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS, claimer: config.replicaId },
    logger.child({ component: "webhooks" }),
  );
  const webhooks = new WebhookService(webhookStore, deliveryStore, tokens, core.secrets, outboundGuard, logger.child({ component: "webhooks" }), () => dispatcher.kick());
  webhooks.listen(bus, deploymentStore);
  const scheduleStore = new ScheduleStore(journalDb.db);
  const runStore = new RunStore(journalDb.db);
  const schedules = new ScheduleService(scheduleStore, runStore, environmentStore);
  const scheduler = new Scheduler({
    schedules: scheduleStore,
    runs: runStore,
    operations,
    environments: environmentStore,
    deploymentStore,
    deployments: deploymentService,
    environmentService,
    refresh,
    audit,
    bus,
    logger: logger.child({ component: "scheduler" }),
    intervalMs: config.schedulerIntervalMs,
    authorization,
    principalOf,
  });
  const routes = [
    ...apiRoutes({ environments: environmentService, deployments: deploymentService, deploymentStore, tokens, authorization, metricProviders, urlProblem: (url) => outboundGuard.urlProblem(url), bus, audit, gateSigningSecret: gateSecret }),
    ...chatIdentityRoutes(chatIdentities),
    ...webhookRoutes(webhooks),
    ...scheduleRoutes(schedules, refresh, tokens, authorization, metricProviders),
    ...flagRoutes(flags, flagRamps, tokens, authorization, metricProviders),
  ];
  const app = createApp({
    routes,
    tokens,
    idempotencyStore,
    audit,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    version: (JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { version: string }).version,
    ready: () => started && !reconciler!.recovering,
    signedRoutes: [
      ofrepRouter({ flags, tokens, logger: logger.child({ component: "flags" }), ratePerSecond: config.flagsRateLimit, maxBodyBytes: config.maxBodyBytes }),
      chatopsRouter({
        commands: chatCommands,
        identities: chatIdentities,
        poster: chatPoster,
        logger: logger.child({ component: "chat" }),
        slackSigningSecret: config.slackSigningSecret,
        mattermostToken: config.mattermostToken,
        replays: new SignedRequestStore(journalDb.db),
      }),
    ],
  });
  const prune = () =>
    idempotencyStore.prune(new Date(Date.now() - 24 * 3600_000)).catch((err) => logger.warn({ err: String(err) }, "pruning idempotency keys failed"));
  const pruneTimer = setInterval(prune, 3600_000);
  const notifications = config.databaseUrl
    ? new EventNotifications(
        config.databaseUrl,
        {
          [EVENTS_CHANNEL]: (deploymentId) => bus.emit("deployment:journaled_elsewhere", { deploymentId }),
          [FLAGS_CHANNEL]: (environment) => flags.cache.invalidate(environment),
        },
        logger,
        (listening) => flags.cache.setTrusted(listening),
      )
    : undefined;
  await notifications?.start();
  // Work queued through another replica, or left by one that died, is found by looking.
  const pollTimer = setInterval(() => {
    if (!started) return;
    reconciler!.pending().then(
      (names) => names.forEach((name) => workers.poke(name)),
      (err) => logger.warn({ err: String(err) }, "looking for pending work failed"),
    );
  }, config.workPollIntervalMs);
  pollTimer.unref();
  pruneTimer.unref();

  return {
    app,
    adminTokenFile,
    deploymentService,
    environmentService,
    flags,
    workers,
    /** Starts every environment's worker, each beginning with the recovery of what a crash interrupted. */
    async start(): Promise<void> {
      await prune();
      for (const name of await reconciler!.begin()) workers.poke(name);
      started = true;
      dispatcher.start();
      scheduler.start();
      flagRamps.start();
      return reconciler!.recovered();
    },
    /** Graceful stop: running deployments stop at a safe point (resumed at the next start), then the journal closes. */
    async shutdown(graceMs: number): Promise<boolean> {
      runner.suspendAll();
      const stopped = workers.stop().then(() => true);
      const done = await Promise.race([stopped, new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())]);
      await this.close();
      return done;
    },
    async close(): Promise<void> {
      clearInterval(pruneTimer);
      clearInterval(pollTimer);
      await notifications?.stop();
      chatProgress.stop();
      await chatProgress.drain();
      webhooks.stop();
      await dispatcher.stop();
      await scheduler.stop();
      await flagRamps.stop();
      metrics.stop();
      await workerEngine?.close();
      await journalDb.close();
    },
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;

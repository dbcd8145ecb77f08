// The one place where the service is wired, in order: stores, then the
// targets and the engine, then the deployment domain and each
// environment's lane, then what is built on them, then HTTP. What runs
// over time is in wiring/lifecycle.ts; start-up secrets in
// wiring/startup-secrets.ts.
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { TokenService } from "./auth/token-service";
import { Authorization } from "./auth/authorization";
import { createApp } from "./app";
import type { Config } from "./config";
import { DomainEventBus } from "./deployments/deployment-events";
import { DeploymentJournal } from "./deployments/deployment-journal";
import { DeploymentRunner } from "./deployments/deployment-runner";
import { DeploymentService } from "./deployments/deployment-service";
import { previewChanges } from "./deployments/change-preview";
import { EnvironmentWorkers } from "./lane/environment-workers";
import { EnvironmentReconciler } from "./lane/recovery";
import { LaneActivity } from "./lane/lane-activity";
import { Reaper } from "./lane/reaper";
import { TrafficOperator } from "./deployments/traffic-operator";
import { BoundedEngine } from "./engine/bounded-engine";
import { EngineSlots } from "./engine/engine-slots";
import { projectRoot, type Toolchain } from "./engine/toolchain";
import { EnvironmentService } from "./environments/environment-service";
import { apiRoutes } from "./http/api-routes";
import { flagRoutes } from "./http/flag-routes";
import { ofrepRouter } from "./http/ofrep-routes";
import { chatIdentityRoutes, chatopsRouter } from "./http/chatops-routes";
import { webhookRoutes } from "./http/webhook-routes";
import { scheduleRoutes } from "./http/schedule-routes";
import { pipelineRoutes } from "./http/pipeline-routes";
import { changeRoutes } from "./http/change-routes";
import type { Logger } from "./logger";
import { createMetrics } from "./metrics/metrics";
import { openJournal } from "./store/database";
import { LeaseStore } from "./store/lease-store";
import { DeploymentRequestStore } from "./store/deployment-request-store";
import { EventNotifications } from "./store/event-notifications";
import { DeploymentStore, EVENTS_CHANNEL } from "./store/deployment-store";
import { FLAGS_CHANNEL } from "./store/flag-store";
import { EnvironmentStore } from "./store/environment-store";
import { IdempotencyStore } from "./store/idempotency-store";
import { SignedRequestStore } from "./store/signed-request-store";
import { TokenStore } from "./store/token-store";
import { AuditStore } from "./store/audit-store";
import { OperationStore } from "./store/operation-store";
import { environmentOperations } from "./wiring/environment-operations";
import { maintenanceRoutes } from "./http/maintenance-routes";
import { OutboundGuard } from "./outbound/outbound-guard";
import { HttpGateCaller, gateSigningSecret } from "./webhooks/gate-caller";
import type { StackEngine } from "./deployments/stack-engine";
import { AwsTarget } from "./targets/aws-target";
import { KubernetesTarget } from "./targets/kubernetes-target";
import { LocalTarget } from "./targets/local-target";
import { decideLocalSandbox, guardLocalSandbox, type LocalSandbox } from "./targets/local-sandbox";
import { TargetRegistry } from "./deployments/target-registry";
import { SecretBox } from "./secrets/secret-box";
import { metricSource, type MetricSourceDeps } from "./analysis/metric-sources";
import { MetricProviders } from "./analysis/metric-providers";
import { guardedRequest } from "./outbound/guarded-request";
import type { Deployment, Environment } from "./deployments/model";
import { Lifecycle } from "./wiring/lifecycle";
import { adminToken, statePassphrase } from "./wiring/startup-secrets";
import { engineWorkers } from "./wiring/engine";
import { wireFeatures } from "./wiring/features";
import { browserAccess } from "./wiring/browser";

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

export async function createServices({ config, logger, toolchain, engine: injectedEngine, assumePluginsInstalled, localSandbox: decided }: ServiceOptions) {
  // Decided once, before anything runs: a run-as user that cannot be used stops the start.
  const localSandbox = decided ?? decideLocalSandbox(config.localRunAs);
  await guardLocalSandbox(localSandbox);
  if (localSandbox.runAs) logger.info({ runAs: localSandbox.runAs }, localSandbox.summary);
  else logger.warn(localSandbox.summary);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  // Stores.
  const journalDb = await openJournal({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  logger.info({ journal: journalDb.location, dialect: journalDb.dialect }, "journal open");
  const { db, dialect } = journalDb;
  const environmentStore = new EnvironmentStore(db, dialect);
  const deploymentStore = new DeploymentStore(db, dialect);
  const idempotencyStore = new IdempotencyStore(db);
  const audit = new AuditStore(db);
  const leaseStore = new LeaseStore(db, dialect);
  const operations = new OperationStore(db);
  const passphrase = statePassphrase(config);

  // Targets, and the engine: Pulumi runs in engine workers, never in this process.
  const cloud = { pulumiHome: path.join(config.dataDir, "pulumi-home"), assumePluginInstalled: assumePluginsInstalled };
  const targets = new TargetRegistry([new LocalTarget(config.runtimeDir, { reap: dialect === "sqlite", runAs: localSandbox.runAs, tlsDir: config.tlsDir }), new AwsTarget(cloud), new KubernetesTarget(cloud)]);
  const reaper = new Reaper({ environments: environmentStore, targets, logger });
  const workerEngine = injectedEngine ? undefined : engineWorkers({ config, logger, passphrase, toolchain, leases: leaseStore, reaper });
  // Every operation that starts Pulumi's processes takes one of the replica's engine slots first.
  const slots = new EngineSlots(config.engineConcurrency);
  const engine: StackEngine = new BoundedEngine(injectedEngine ?? workerEngine!, slots);

  // The deployment domain.
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
    requests: new DeploymentRequestStore(db),
    operationTimeoutMs: config.operationTimeoutMs,
    // Metric analysis measures the new pool through its target, or asks Prometheus or a JSON endpoint.
    // Before promotion the new pool has no weight: its traffic is the forced (keyed) requests, counted apart.
    measureFor: async (d: Deployment, env: Environment, stage?: "pre-promotion") => {
      const sample = async () => {
        const current = await environmentStore.get(env.name);
        const stats = current ? (await poolStatsOf(current))?.[d.toColor!] : undefined;
        return stage === "pre-promotion" ? stats?.forced : stats;
      };
      return metricSource({ environment: d.environment, version: d.version, color: d.toColor!, sample }, metricDeps);
    },
  };
  const runner = new DeploymentRunner(core);
  // Services ring the lane when they record work; the lane's workers listen.
  const lane = new LaneActivity();
  const deploymentService = new DeploymentService(environmentStore, deploymentStore, journal, runner, lane.recorded, targets, secrets, core.requests, (name) => slots.waitOf(name), (env, d, plan) => previewChanges(core, env, d, plan));
  const environmentService = new EnvironmentService({ ...core, runner, bus, poke: lane.recorded, busy: lane.busy });
  const { refresh, maintenance, lane: environmentWork } = environmentOperations(core, {
    operations,
    bus,
    poke: lane.recorded,
    repave: (environment, live, by) => deploymentService.create(environment, { ...live, strategy: { type: "blue-green" } }, "repave", by),
  });

  // Each environment's lane: its worker takes the lease, the reconciler recovers it and picks its next work.
  const reconciler = new EnvironmentReconciler({
    ...core,
    runner,
    reaper,
    environmentService,
    operations: environmentWork,
  });
  const leaseTtlMs = config.leaseTtlMs;
  const workers = new EnvironmentWorkers(
    (name) => reconciler.next(name),
    {
      ttlMs: leaseTtlMs,
      acquire: (environment) => leaseStore.acquire(environment, config.replicaId, leaseTtlMs),
      renew: (lease) => leaseStore.renew(lease, leaseTtlMs),
      release: (lease) => leaseStore.release(lease),
    },
    {
      acquired: (name) => reconciler.claimed(name),
      heldElsewhere: (name) => reconciler.heldElsewhere(name),
      lost: (name) => runner.suspendEnvironment(name),
      // With replicas on a shared journal, one whose engine queue holds a full round of work takes no new environment.
      ...(dialect === "sqlite" ? {} : { hasRoom: () => slots.load.waiting < slots.limit }),
    },
    logger.child({ replica: config.replicaId }),
    lane,
  );

  // Callers and what is built on the domain.
  const admin = adminToken(config);
  const tokens = new TokenService(new TokenStore(db), admin.token);
  const authorization = new Authorization(tokens, localSandbox.runAs !== undefined);
  const metrics = createMetrics(bus, environmentStore, deploymentStore, poolStatsOf);
  const features = wireFeatures({
    config,
    logger,
    journal: { db, dialect },
    bus,
    secrets,
    audit,
    tokens,
    authorization,
    outboundGuard,
    metricDeps,
    environmentStore,
    deploymentStore,
    operations,
    deploymentService,
    environmentService,
    refresh,
    maintenance,
    poolStatsOf,
  });
  const { flags, flagRamps, chatCommands, chatIdentities, chatPoster, chatProgress, webhooks, dispatcher, schedules, scheduler, releases, pipelines, promoter } = features;
  const notifications = config.databaseUrl
    ? new EventNotifications(
        config.databaseUrl,
        {
          [EVENTS_CHANNEL]: (deploymentId) => bus.emit("deployment:journaled_elsewhere", { deploymentId }),
          [FLAGS_CHANNEL]: (environment) => (flags.cache.invalidate(environment), bus.emit("flag:changed", { environment })),
        },
        logger,
        (listening) => flags.cache.setTrusted(listening),
      )
    : undefined;
  await notifications?.start();
  const lifecycle = new Lifecycle({
    logger,
    runner,
    workers,
    reconciler,
    workPollIntervalMs: config.workPollIntervalMs,
    prune: () => idempotencyStore.prune(new Date(Date.now() - 24 * 3600_000)).catch((err) => logger.warn({ err: String(err) }, "pruning idempotency keys failed")),
    loops: [dispatcher, scheduler, flagRamps, promoter],
    closing: [
      () => notifications?.stop(),
      () => chatProgress.stop(),
      () => chatProgress.drain(),
      () => webhooks.stop(),
      () => metrics.stop(),
      () => workerEngine?.close(),
      () => journalDb.close(),
    ],
  });

  // HTTP.
  const routes = [
    ...apiRoutes({ environments: environmentService, deployments: deploymentService, releases, deploymentStore, tokens, authorization, metricProviders, urlProblem: (url) => outboundGuard.urlProblem(url), bus, audit, gateSigningSecret: gateSecret }),
    ...chatIdentityRoutes(chatIdentities),
    ...webhookRoutes(webhooks),
    ...changeRoutes({ tokens, deploymentStore, bus }),
    ...scheduleRoutes(schedules, refresh, tokens, authorization, metricProviders),
    ...maintenanceRoutes(maintenance, authorization),
    ...flagRoutes(flags, flagRamps, tokens, authorization, metricProviders),
    ...pipelineRoutes({ pipelines, releases, environments: environmentService, tokens, authorization, metricProviders }),
  ];
  const chatSecrets = { slackSigningSecret: config.slackSigningSecret, mattermostToken: config.mattermostToken };
  const app = createApp({
    routes,
    tokens,
    idempotencyStore,
    audit,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    version: (JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { version: string }).version,
    ready: lifecycle.ready,
    browser: browserAccess(config, passphrase, tokens, logger),
    signedRoutes: [
      ofrepRouter({ flags, tokens, logger: logger.child({ component: "flags" }), ratePerSecond: config.flagsRateLimit, maxBodyBytes: config.maxBodyBytes }),
      chatopsRouter({ commands: chatCommands, identities: chatIdentities, poster: chatPoster, logger: logger.child({ component: "chat" }), replays: new SignedRequestStore(db), ...chatSecrets }),
    ],
  });

  return {
    app,
    adminTokenFile: admin.file,
    deploymentService,
    environmentService,
    flags,
    workers,
    /** Starts every environment's worker, each beginning with the recovery of what a crash interrupted. */
    start: () => lifecycle.start(),
    /** Graceful stop: running deployments stop at a safe point (resumed at the next start), then the journal closes. */
    shutdown: (graceMs: number) => lifecycle.shutdown(graceMs),
    close: () => lifecycle.close(),
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;

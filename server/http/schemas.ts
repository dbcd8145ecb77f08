// Every input the API accepts, parsed once at the edge. The same schemas
// generate /openapi.json.
import { z } from "zod";
import { duration } from "./duration-schema";
import { metricAnalysisSchema } from "./analysis-schemas";
import { forceHeader, localSchema, port } from "./local-schema";

export { metricAnalysisSchema };

export const environmentName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/, "lower-case letters, digits and dashes, 2 to 40 characters, starting with a letter");
const name = environmentName;
export const version = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, "letters, digits, '.', '_', '+', '-'; up to 64 characters");
const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "an environment variable name");

export const artifactSchema = z.strictObject({
  command: z
    .array(z.string().min(1).max(4096))
    .max(64)
    .describe("argv; `{version}` is replaced by the deployed version; empty on kubernetes keeps the image's entrypoint"),
  cwd: z.string().regex(/^\/[^\x00-\x1f\x7f]*$/, "an absolute path without control characters").max(4096).optional(),
  image: z
    .string()
    .max(512)
    .regex(/^[a-z0-9][a-z0-9._\-/:]*@sha256:[0-9a-f]{64}$/, "an image pinned by its digest: name@sha256:<64 hex digits>")
    .optional()
    .describe("kubernetes: the container image pinned by digest, in place of the environment's image template (what a release records runs as recorded)"),
  env: z
    .record(
      envVarName,
      z.union([
        z.string().max(8192),
        z.strictObject({ secret: z.string().min(1).max(8192) }).describe("kept sealed at rest and shown as [secret]; local target only"),
      ]),
    )
    .refine((e) => Object.keys(e).length <= 64, "at most 64 variables")
    .refine((e) => !("PORT" in e) && !("APP_VERSION" in e), "PORT and APP_VERSION are set by Cutover")
    .optional(),
});

const healthCheckSchema = z.strictObject({
  path: z.string().regex(/^\/[^\s]*$/, "an absolute path such as /healthz").max(1024).default("/healthz"),
  interval: duration.default("1s"),
  timeout: duration.default("2s"),
  healthyThreshold: z.number().int().min(1).max(10).default(2),
  startTimeout: duration.default("60s"),
});

const stepSchema = z.strictObject({
  weight: z.number().int().min(1).max(100),
  pause: z.union([duration, z.literal("manual")]).optional(),
});

const analysisSchema = z.strictObject({
  maxErrorRate: z.number().min(0).max(1),
  minRequests: z.number().int().min(1).max(1_000_000).default(20),
});

const countOrPercent = z.union([
  z.number().int().min(0).max(1000),
  z.string().regex(/^(100|[1-9]?\d)%$/, "a count or a percentage such as 25%"),
]);
const isZero = (v: number | string) => v === 0 || v === "0%";

export const strategySchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("blue-green"),
    bake: duration.optional(),
    analysis: metricAnalysisSchema.optional().describe("run during the bake, with the new version live"),
    prePromotion: metricAnalysisSchema.optional().describe("run against the new fleet before it gets any traffic"),
  }),
  z.strictObject({
    type: z.literal("canary"),
    steps: z
      .array(stepSchema)
      .min(1)
      .max(20)
      .refine((s) => s.every((step, i) => i === 0 || step.weight > s[i - 1].weight), "step weights must increase"),
    bake: duration.optional(),
    analysis: z.union([analysisSchema, metricAnalysisSchema]).optional(),
  }),
  z
    .strictObject({
      type: z.literal("rolling"),
      maxSurge: countOrPercent.default("25%").describe("instances above the fleet's size during a wave (a percentage rounds up)"),
      maxUnavailable: countOrPercent.default(0).describe("instances below the fleet's size during a wave (a percentage rounds down)"),
      pause: duration.or(z.literal("manual")).optional().describe("the wait after each wave but the last (manual: until promoted), analysed when `analysis` is given"),
      bake: duration.optional(),
      analysis: metricAnalysisSchema.optional(),
    })
    .refine((s) => !(isZero(s.maxSurge) && isZero(s.maxUnavailable)), { message: "maxSurge and maxUnavailable cannot both be 0", path: ["maxSurge"] }),
]);

const awsSchema = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region such as eu-west-1"),
  vpcId: z.string().regex(/^vpc-[0-9a-f]+$/).optional(),
  subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/)).min(2).max(16).optional(),
  ami: z.string().regex(/^ami-[0-9a-f]+$/, "an AMI id"),
  instanceType: z.string().min(2).max(32).default("t3.micro"),
  instancePort: port.default(8080),
  keyName: z.string().min(1).max(255).optional(),
  listenerPort: port.default(80),
  forceHeader: forceHeader.optional(),
  stickiness: z.strictObject({ enabled: z.boolean(), duration: duration.default("1h") }).optional(),
  minSize: z.number().int().min(0).max(1000).optional(),
  maxSize: z.number().int().min(1).max(1000).optional(),
  userDataPreamble: z.string().max(8192).optional(),
  profile: z.string().min(1).max(128).optional(),
});

const kubernetesSchema = z.strictObject({
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(63).default("default"),
  kubeconfig: z.string().min(1).max(4096).optional(),
  context: z.string().min(1).max(253).optional(),
  image: z.string().min(1).max(512).describe("container image; `{version}` is replaced by the deployed version"),
  containerPort: port.default(8080),
  gateway: z.strictObject({ name: z.string().min(1).max(253), namespace: z.string().min(1).max(63).optional() }).optional(),
  hostnames: z.array(z.string().min(1).max(253)).max(16).optional(),
  forceHeader: forceHeader.optional(),
});

const CONFIRM_KINDS = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion"];

const gateSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, "lower-case letters, digits and dashes, starting with a letter")
    .optional()
    .describe("unique in the deployment; the kind by default"),
  kind: z.enum(["confirm-rollout", "pre-rollout", "confirm-traffic-increase", "confirm-promotion", "post-rollout", "rollback", "approval"]),
  url: z.url({ protocol: /^https?$/ }).max(2048).optional().describe("where the deployment's context is POSTed, signed (Standard Webhooks)"),
  timeout: duration.optional().describe("how long the gate may hold the deployment; default 1m for a URL, none for a person"),
  manual: z.boolean().optional().describe("a person approves or rejects (confirm-* kinds)"),
  requireDistinctApprover: z.boolean().optional().describe("the approver may not be who requested the deployment"),
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, "a Standard Webhooks secret: whsec_ and base64")
    .optional()
    .describe("signs this gate's requests; kept sealed; default: Cutover's gate signing secret"),
});

export const gatesSchema = z
  .array(gateSchema)
  .max(20)
  .superRefine((gates, ctx) => {
    const seen = new Set<string>();
    gates.forEach((g, i) => {
      const manual = g.kind === "approval" || g.manual === true;
      if (g.manual && !CONFIRM_KINDS.includes(g.kind)) ctx.addIssue({ code: "custom", path: [i, "manual"], message: `only confirm-* gates can be manual, not ${g.kind}` });
      if (!manual && !g.url) ctx.addIssue({ code: "custom", path: [i, "url"], message: `a ${g.kind} gate needs a url (or manual: true on a confirm-* gate)` });
      if (manual && g.url) ctx.addIssue({ code: "custom", path: [i, "url"], message: "a manual gate waits for a person; it takes no url" });
      if (g.requireDistinctApprover && !manual) ctx.addIssue({ code: "custom", path: [i, "requireDistinctApprover"], message: "only a manual gate has an approver" });
      const gateName = g.name ?? g.kind;
      if (seen.has(gateName)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `two gates are named ${gateName}; give each a name` });
      seen.add(gateName);
    });
  });

export const preDeploySchema = z.strictObject({
  command: z.array(z.string().min(1).max(4096)).min(1).max(64).describe("argv; `{version}` is replaced by the deployed version"),
  timeout: duration.default("5m"),
  cwd: artifactSchema.shape.cwd,
  env: artifactSchema.shape.env,
});

export const createEnvironmentSchema = z
  .strictObject({
    name,
    target: z.enum(["local", "aws", "kubernetes"]).default("local"),
    fleet: z.strictObject({
      replicas: z.number().int().min(1).max(50).default(2),
      artifact: artifactSchema,
      healthCheck: healthCheckSchema.default(healthCheckSchema.parse({})),
      drainTimeout: duration.default("10s"),
    }),
    strategy: strategySchema.default({ type: "blue-green" }),
    operationTimeout: duration.optional(),
    ttl: duration.optional().describe("an ephemeral environment: deleted this long after it is created"),
    gates: gatesSchema.optional(),
    preDeploy: preDeploySchema.optional(),
    local: localSchema.optional(),
    aws: awsSchema.optional(),
    kubernetes: kubernetesSchema.optional(),
  })
  .superRefine((env, ctx) => {
    if (!env[env.target]) {
      ctx.addIssue({ code: "custom", path: [env.target], message: `a ${env.target} environment needs its \`${env.target}\` settings` });
    }
  });

export const releaseId = z.string().regex(/^rel_[0-9a-f]{16}$/, "a release id such as rel_0123456789abcdef");

export const createDeploymentSchema = z
  .strictObject({
    version: version.optional(),
    release: releaseId.optional().describe("deploys a release: its version, artifact and pre-deploy job"),
    artifact: artifactSchema.optional(),
    strategy: strategySchema.optional(),
    gates: gatesSchema.optional().describe("replaces the environment's gates for this deployment"),
    preDeploy: preDeploySchema.optional().describe("replaces the environment's pre-deploy job for this deployment"),
  })
  .superRefine((d, ctx) => {
    if (!d.version === !d.release) ctx.addIssue({ code: "custom", path: ["version"], message: "give a version, or a release (not both)" });
    for (const field of ["artifact", "preDeploy"] as const) {
      if (d.release && d[field]) ctx.addIssue({ code: "custom", path: [field], message: `a release brings its own ${field}` });
    }
  });

export const dryRunQuery = z.strictObject({
  dryRun: z.enum(["true", "false"]).optional().describe("true: answer 200 with what the deployment would do, in order, and queue nothing"),
  preview: z
    .enum(["true", "false"])
    .optional()
    .describe("with dryRun: false leaves out the Pulumi preview of each stack (answered at once, without the engine)"),
});

export const gateParams = z.strictObject({
  id: z.string().regex(/^dep_[0-9a-f]{16}$/, "a deployment id such as dep_0123456789abcdef"),
  gate: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "a gate name"),
});
export const gateDecisionSchema = z.strictObject({ reason: z.string().min(1).max(500).optional() });

/** Environment names or `prefix-*` patterns: the scope of a token, a chat identity or a webhook. */
export const environmentScope = z.array(z.string().regex(/^[a-z0-9-]+\*?$/, "an environment name, or a prefix ending in *")).min(1).max(100);

/** Who holds a token or uses a chat identity: four eyes (requireDistinctApprover) compare it. */
export const personSchema = z
  .string()
  .regex(/^[^\x00-\x1f\x7f]{1,254}$/, "a person's name or email, without control characters")
  .describe("the person behind it (e.g. an email); four eyes compare people across tokens, chat identities and schedules");

export const createTokenSchema = z.strictObject({
  name: z.string().min(1).max(100),
  role: z.enum(["viewer", "deployer", "approver", "admin", "metrics", "flags-reader"]),
  environments: environmentScope.optional(),
  person: personSchema.optional(),
});

export const abortSchema = z.strictObject({ reason: z.string().min(1).max(500).optional() });
export const emptySchema = z.strictObject({});

export const nameParams = z.strictObject({ name });
export const idParams = z.strictObject({ id: z.string().regex(/^dep_[0-9a-f]{16}$/, "a deployment id such as dep_0123456789abcdef") });
export const tokenIdParams = z.strictObject({ id: z.string().regex(/^tok_[0-9a-f]{16}$/, "a token id") });

export const listDeploymentsQuery = z.strictObject({
  environment: name.optional(),
  state: z.enum(["queued", "running", "paused", "rolling_back", "succeeded", "rolled_back", "failed", "cancelled"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const auditQuery = z.strictObject({
  environment: name.optional(),
  actor: z.enum(["token", "chat", "schedule", "system"]).optional().describe("only entries of this caller kind"),
  action: z.string().regex(/^[a-z_.]{1,64}$/, "an action such as deployment.promote").optional(),
  before: z.coerce.number().int().min(1).optional().describe("the id of the last entry of the previous page"),
  limit: z.coerce.number().int().min(1).max(500).default(100),
}).transform(({ actor, ...q }) => ({ ...q, ...(actor ? { actorKind: actor } : {}) }));

export const eventsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
});

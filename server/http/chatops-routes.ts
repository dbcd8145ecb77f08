// Chat providers' endpoints. Slack's slash commands and button presses are
// verified by Slack's request signature, Mattermost's commands by their
// command token, both on the raw body before anything else is read; then
// the command is parsed, validated and carried out as the linked user.
// Every answer is a chat message (ephemeral unless it reports progress),
// never a 5xx: a chat user gets help, a refusal or the outcome.
import express, { type Request, type Response, Router } from "express";
import { z } from "zod";
import type { Principal } from "../auth/token-service";
import type { ChatCommandService, ChatCaller } from "../chatops/chat-commands";
import { parseChatCommand, type ChatCommand } from "../chatops/chat-grammar";
import type { ChatIdentityService } from "../chatops/chat-identities";
import { ephemeral, helpMessage } from "../chatops/chat-messages";
import type { ChatMessage, ChatPoster, ChatProvider, ReplayGuard } from "../chatops/ports";
import { verifyCommandToken, verifySlackRequest } from "../chatops/slack-signature";
import type { DeploymentRequest } from "../deployments/deployment-service";
import { AuthenticationError, InputError, NotFoundError } from "../errors";
import type { Logger } from "../logger";
import { principalOf } from "./authentication";
import { route, type Route } from "./route-table";
import { createDeploymentSchema, environmentScope, personSchema } from "./schemas";

export interface ChatopsDeps {
  commands: ChatCommandService;
  identities: ChatIdentityService;
  poster: ChatPoster;
  logger: Logger;
  slackSigningSecret?: string;
  mattermostToken?: string;
  /** Signed requests already acted on: a replay is answered without acting again. */
  replays: ReplayGuard;
  /** How long a command may take before the answer goes to response_url instead (Slack waits 3 s). */
  answerWithinMs?: number;
}

const id = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "a chat id");
const responseUrl = z.url({ protocol: /^https?$/ }).max(2048);

const commandForm = z.object({
  team_id: id,
  user_id: id,
  user_name: z.string().max(128).optional(),
  channel_id: id.optional(),
  command: z.string().max(64).default("/cutover"),
  text: z.string().max(2000).default(""),
  response_url: responseUrl.optional(),
  trigger_id: z.string().max(256).optional(),
});

const interactionPayload = z.object({
  type: z.literal("block_actions"),
  user: z.object({ id, username: z.string().max(128).optional(), name: z.string().max(128).optional(), team_id: id.optional() }),
  team: z.object({ id }).nullish(),
  channel: z.object({ id }).nullish(),
  response_url: responseUrl.optional(),
  trigger_id: z.string().max(256).optional(),
  actions: z
    .array(
      z.union([
        z.object({ action_id: z.enum(["promote", "abort", "approve", "reject"]), value: z.string().regex(/^dep_[0-9a-f]{16}(:[a-z][a-z0-9-]{0,62})?$/) }),
        // A release eligible for a pipeline's stage: `<pipeline>/<stage>/<release id>`.
        z.object({ action_id: z.literal("promote_stage"), value: z.string().regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]\/[a-z][a-z0-9-]{0,38}[a-z0-9]\/rel_[0-9a-f]{16}$/) }),
      ]),
    )
    .min(1),
});

const raw = express.raw({ type: () => true, limit: "64kb" });

export function chatopsRouter(deps: ChatopsDeps): Router {
  const router = Router();
  const answerWithin = deps.answerWithinMs ?? 2500;

  router.post("/v1/chatops/slack/commands", raw, async (req, res) => {
    const body = verifiedSlackBody(deps, req);
    const form = parseForm(commandForm, body);
    if (!(await deps.replays.firstSeen(replayKeys("slack", req.get("x-slack-signature"), form.trigger_id)))) return sendMessage(res, "slack", ALREADY_HANDLED);
    const caller: ChatCaller = { provider: "slack", team: form.team_id, user: form.user_id, userName: form.user_name, channel: form.channel_id, responseUrl: form.response_url };
    sendMessage(res, "slack", await answer(deps, caller, form.command, form.text, answerWithin));
  });

  router.post("/v1/chatops/slack/interactions", raw, async (req, res) => {
    const body = verifiedSlackBody(deps, req);
    const payloadText = new URLSearchParams(bodyText(body)).get("payload");
    let payload: z.infer<typeof interactionPayload>;
    try {
      payload = interactionPayload.parse(JSON.parse(payloadText ?? ""));
    } catch {
      // A kind of interaction Cutover does not offer: acknowledged and ignored, as Slack expects.
      res.status(200).end();
      return;
    }
    if (!(await deps.replays.firstSeen(replayKeys("slack", req.get("x-slack-signature"), payload.trigger_id)))) {
      res.status(200).end();
      return;
    }
    const team = payload.team?.id ?? payload.user.team_id ?? "";
    const caller: ChatCaller = {
      provider: "slack",
      team,
      user: payload.user.id,
      userName: payload.user.username ?? payload.user.name,
      channel: payload.channel?.id,
      responseUrl: payload.response_url,
    };
    const [action] = payload.actions;
    const outcome = deps.commands.press(caller, action.action_id, action.value);
    res.status(200).end();
    void outcome.then(
      (message) => (caller.responseUrl ? deps.poster.respond("slack", caller.responseUrl, message) : undefined),
      (err) => deps.logger.error({ err }, "a chat button press failed"),
    ).catch((err) => deps.logger.warn({ err: String(err) }, "could not answer a button press"));
  });

  router.post("/v1/chatops/mattermost/commands", raw, async (req, res) => {
    if (!deps.mattermostToken) throw new NotFoundError("chatops_not_configured", "Mattermost commands are off: set CUTOVER_MATTERMOST_TOKEN");
    const body = req.body instanceof Buffer ? req.body : Buffer.alloc(0);
    const fields = new URLSearchParams(bodyText(body));
    const header = /^Token\s+(\S+)$/i.exec(req.get("authorization") ?? "")?.[1];
    if (!verifyCommandToken(deps.mattermostToken, header ?? fields.get("token") ?? undefined)) {
      throw new AuthenticationError("invalid_signature", "the Mattermost command token is missing or wrong");
    }
    const form = parseForm(commandForm, body);
    if (!(await deps.replays.firstSeen(replayKeys("mattermost", undefined, form.trigger_id)))) return sendMessage(res, "mattermost", ALREADY_HANDLED);
    const caller: ChatCaller = { provider: "mattermost", team: form.team_id, user: form.user_id, userName: form.user_name, channel: form.channel_id, responseUrl: form.response_url };
    sendMessage(res, "mattermost", await answer(deps, caller, form.command, form.text, answerWithin));
  });

  return router;
}

const ALREADY_HANDLED = ephemeral("This request was already handled; nothing was done again.");

/** What identifies one signed request: its signature (unique per timestamp and body) and the provider's trigger id. */
function replayKeys(provider: ChatProvider, signature: string | undefined, triggerId: string | undefined): string[] {
  return [...(signature ? [`${provider}:signature:${signature}`] : []), ...(triggerId ? [`${provider}:trigger:${triggerId}`] : [])];
}

function verifiedSlackBody(deps: ChatopsDeps, req: Request): Buffer {
  if (!deps.slackSigningSecret) throw new NotFoundError("chatops_not_configured", "Slack commands are off: set CUTOVER_SLACK_SIGNING_SECRET");
  const body = req.body instanceof Buffer ? req.body : Buffer.alloc(0);
  const verdict = verifySlackRequest(deps.slackSigningSecret, { timestamp: req.get("x-slack-request-timestamp"), signature: req.get("x-slack-signature") }, body);
  if (!verdict.ok) {
    const message = {
      missing_signature: "X-Slack-Signature and X-Slack-Request-Timestamp are required",
      stale_timestamp: "the request timestamp is more than five minutes from now",
      bad_signature: "the Slack signature does not match",
    }[verdict.reason];
    throw new AuthenticationError("invalid_signature", message, { reason: verdict.reason });
  }
  return body;
}

const bodyText = (body: Buffer) => body.toString("utf8");

function parseForm<T extends z.ZodType>(schema: T, body: Buffer): z.output<T> {
  const fields = Object.fromEntries(new URLSearchParams(bodyText(body)));
  const parsed = schema.safeParse(fields);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new InputError("invalid_chat_request", `the chat request is incomplete: ${problems}`);
  }
  return parsed.data;
}

/** Parses and runs a command; one that takes too long is answered at once and finished through response_url. */
async function answer(deps: ChatopsDeps, caller: ChatCaller, slash: string, text: string, withinMs: number): Promise<ChatMessage> {
  const parsed = parseChatCommand(text);
  if (!parsed.ok) return helpMessage(slash, parsed.problem);
  if (parsed.command.verb === "help") return helpMessage(slash);
  let request: DeploymentRequest | undefined;
  if (parsed.command.verb === "deploy") {
    const made = deploymentRequestOf(parsed.command);
    if (typeof made === "string") return helpMessage(slash, made);
    request = made;
  }
  const work = deps.commands.run(caller, parsed.command, request, text);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), withinMs)));
  const message = await Promise.race([work, late]).finally(() => clearTimeout(timer));
  if (message) return message;
  void work
    .then((m) => (caller.responseUrl ? deps.poster.respond(caller.provider, caller.responseUrl, m) : undefined))
    .catch((err) => deps.logger.warn({ err: String(err) }, "could not deliver a late chat answer"));
  return ephemeral("Working on it; the answer follows here.");
}

/** The deployment a `deploy` command asks for, checked by the API's own schema. */
function deploymentRequestOf(c: Extract<ChatCommand, { verb: "deploy" }>): DeploymentRequest | string {
  const strategy = c.canary
    ? {
        type: "canary",
        steps: c.canary.map((weight) => (weight === 100 ? { weight } : { weight, pause: c.stepPause ?? "manual" })),
        ...(c.bake ? { bake: c.bake } : {}),
      }
    : c.bake
      ? { type: "blue-green", bake: c.bake }
      : undefined;
  const parsed = createDeploymentSchema.safeParse({ version: c.version, ...(strategy ? { strategy } : {}) });
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join(".") || "command"}: ${i.message}`).join("; ");
  return parsed.data as DeploymentRequest;
}

function sendMessage(res: Response, provider: ChatProvider, message: ChatMessage): void {
  res.status(200).json({
    response_type: message.ephemeral === false ? "in_channel" : "ephemeral",
    text: message.text,
    ...(provider === "slack" && message.blocks ? { blocks: message.blocks } : {}),
  });
}

const identitySchema = z.strictObject({
  provider: z.enum(["slack", "mattermost"]),
  team: id.describe("Slack team id (T…) or Mattermost team id"),
  user: id.describe("Slack user id (U…) or Mattermost user id"),
  role: z.enum(["viewer", "deployer", "approver", "admin"]),
  environments: environmentScope.optional(),
  person: personSchema.optional(),
});
const identityParams = z.strictObject({ id: z.string().regex(/^chi_[0-9a-f]{16}$/, "a chat identity id") });

/** Linking chat users to roles: admin routes behind the usual bearer token. */
export function chatIdentityRoutes(identities: ChatIdentityService): Route[] {
  const admin = (res: Response): Principal => principalOf(res);
  return [
    route({
      method: "post",
      path: "/v1/chatops/identities",
      summary: "Link a chat user to a role and environment scope (within the caller's own).",
      role: "admin",
      body: identitySchema,
      success: 201,
      errors: ["validation_failed", "identity_exists", "token_role_exceeds_own", "token_scope_exceeds_own"],
      audit: "chat.identity.link",
      handle: async ({ body, res }) => ({ status: 201, body: await identities.link(admin(res), body) }),
    }),
    route({
      method: "get",
      path: "/v1/chatops/identities",
      summary: "The chat users linked within the caller's scope.",
      role: "admin",
      success: 200,
      handle: async ({ res }) => ({ status: 200, body: { identities: await identities.list(admin(res)) } }),
    }),
    route({
      method: "delete",
      path: "/v1/chatops/identities/:id",
      summary: "Unlink a chat user: its commands are refused from then on.",
      role: "admin",
      params: identityParams,
      success: 204,
      errors: ["identity_not_found"],
      audit: "chat.identity.unlink",
      handle: async ({ params, res }) => {
        await identities.unlink(admin(res), params.id);
        return { status: 204 };
      },
    }),
  ];
}

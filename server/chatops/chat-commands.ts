// Carries out chat commands and button presses as the linked user: the same
// service calls, role and environment checks as the API, with every action
// (and every refusal) in the audit log and the deployment's events.
import type { ReleaseService } from "../releases/release-service";
import type { AuditRepository } from "../audit/audit-log";
import type { TokenService } from "../auth/token-service";
import type { Action, Authorization } from "../auth/authorization";
import type { DeploymentRequest, DeploymentService } from "../deployments/deployment-service";
import type { Actor, Deployment } from "../deployments/model";
import type { DeploymentRepository } from "../deployments/ports";
import type { EnvironmentService } from "../environments/environment-service";
import { CutoverError } from "../errors";
import type { FlagRamps } from "../flags/flag-ramps";
import type { FlagService } from "../flags/flag-service";
import type { Logger } from "../logger";
import type { PipelineService } from "../releases/pipeline-service";
import { actorOfIdentity, principalOfIdentity, type ChatIdentityService } from "./chat-identities";
import type { ChatCommand } from "./chat-grammar";
import { ephemeral, historyMessage, refusal, statusMessage } from "./chat-messages";
import type { ChatIdentity, ChatMessage, ChatPoster, ChatProvider, ChatThreadRepository } from "./ports";

/** Who typed the command, and where the answer goes. */
export interface ChatCaller {
  provider: ChatProvider;
  team: string;
  user: string;
  userName?: string;
  channel?: string;
  responseUrl?: string;
}

export interface ChatCommandDeps {
  identities: ChatIdentityService;
  tokens: TokenService;
  authorization: Authorization;
  deployments: DeploymentService;
  deploymentStore: DeploymentRepository;
  environments: EnvironmentService;
  threads: ChatThreadRepository;
  audit: AuditRepository;
  poster: ChatPoster;
  logger: Logger;
  flags: FlagService;
  ramps: FlagRamps;
  pipelines: PipelineService;
  releases: ReleaseService;
  /** Turns maintenance on or off (as the API's /maintenance does). */
  maintenance(environment: string, on: { hold?: string; retryAfter?: string } | undefined, by: Actor): Promise<{ id: string }>;
}

// Each verb is an action of the API's one policy: a chat user needs for it exactly what a token would.
const ACTION_OF: Record<Exclude<ChatCommand["verb"], "help" | "flag">, Action> = {
  status: "environment.read",
  history: "environment.read",
  flags: "flag.read",
  deploy: "deployment.create",
  promote: "deployment.control",
  pause: "deployment.control",
  resume: "deployment.control",
  abort: "deployment.control",
  rollback: "deployment.rollback",
  approve: "deployment.decide",
  reject: "deployment.decide",
  maintenance: "environment.maintenance",
};
const actionOf = (c: Exclude<ChatCommand, { verb: "help" }>): Action =>
  c.verb === "flag" ? (c.action === "status" ? "flag.read" : "flag.write") : c.verb === "promote" && c.pipeline ? "deployment.create" : ACTION_OF[c.verb];

export class ChatCommandService {
  constructor(private readonly deps: ChatCommandDeps) {}

  /** Runs a parsed command; `request` is the validated deployment request of a `deploy`. */
  async run(caller: ChatCaller, command: Exclude<ChatCommand, { verb: "help" }>, request?: DeploymentRequest, text = ""): Promise<ChatMessage> {
    const identity = await this.deps.identities.find(caller.provider, caller.team, caller.user);
    if (!identity) return this.refuse(caller, undefined, command.verb, command.environment, "you are not linked to a Cutover identity; ask an admin to link you");
    const actor = actorOfIdentity(identity, caller.userName);
    const principal = principalOfIdentity(identity);
    const env = command.environment;
    try {
      this.deps.authorization.authorizeAll(principal, command.verb === "deploy" && request ? this.deps.authorization.deploymentActions(request) : [actionOf(command)], env);
    } catch (err) {
      if (err instanceof CutoverError) return this.refuse(caller, identity, command.verb, env, err.message.replace(/the token/g, "your chat identity"));
      throw err;
    }
    try {
      return await this.perform(caller, actor, command, request, text);
    } catch (err) {
      if (err instanceof CutoverError) return ephemeral(`:warning: ${err.message}`);
      this.deps.logger.error({ err, verb: command.verb, environment: env }, "chat command failed");
      return ephemeral(":warning: Cutover could not do that just now; the operators' logs say why.");
    }
  }

  /**
   * A Promote or Abort button on a message about a deployment, Approve or
   * Reject on one about a gate (`value` is `<id>:<gate>`), or Promote on one
   * about a release eligible for a pipeline's stage (`promote_stage`).
   */
  async press(caller: ChatCaller, action: "promote" | "abort" | "approve" | "reject" | "promote_stage", value: string): Promise<ChatMessage> {
    if (action === "promote_stage") return this.promoteStage(caller, value);
    const [deploymentId, gate] = value.split(":");
    const identity = await this.deps.identities.find(caller.provider, caller.team, caller.user);
    const d = await this.deps.deploymentStore.get(deploymentId);
    if (!d) return ephemeral(`:warning: no deployment ${deploymentId}`);
    if (!identity) return this.refuse(caller, undefined, action, d.environment, "you are not linked to a Cutover identity; ask an admin to link you");
    try {
      this.deps.authorization.authorize(principalOfIdentity(identity), ACTION_OF[action], d.environment);
    } catch (err) {
      if (err instanceof CutoverError) return this.refuse(caller, identity, action, d.environment, err.message.replace(/the token/g, "your chat identity"));
      throw err;
    }
    const actor = actorOfIdentity(identity, caller.userName);
    if (action === "approve" || action === "reject") return this.decide(actor, d, gate, action, "button");
    try {
      const after = action === "promote" ? await this.deps.deployments.promote(d.id, actor) : await this.deps.deployments.abort(d.id, `aborted by ${actor.name} from ${caller.provider}`, actor);
      await this.audit(actor, `deployment.${action}`, d.environment, d.id, { via: "button" });
      const verb = action === "promote" ? "promoted" : "aborted";
      return { text: `${actor.name} ${verb} ${d.version} on ${d.environment} (${after.id})`, replaceOriginal: false };
    } catch (err) {
      if (err instanceof CutoverError) return ephemeral(`:warning: ${err.message}`);
      throw err;
    }
  }

  /** Promotes the release a message said may go into a stage (`<pipeline>/<stage>/<release id>`), as the clicking user, under the pipeline's rules. */
  private async promoteStage(caller: ChatCaller, value: string): Promise<ChatMessage> {
    const [name, stage, releaseId] = value.split("/");
    const identity = await this.deps.identities.find(caller.provider, caller.team, caller.user);
    if (!identity) return this.refuse(caller, undefined, "promote", stage, "you are not linked to a Cutover identity; ask an admin to link you");
    const principal = principalOfIdentity(identity);
    try {
      this.deps.authorization.authorize(principal, "deployment.create", stage);
      const pipeline = await this.deps.pipelines.get(name);
      const release = await this.deps.releases.get(releaseId, principal.environments);
      const { target } = (await this.deps.environments.record(stage)).spec;
      const actor = actorOfIdentity(identity, caller.userName);
      const d = await this.deps.pipelines.promote(pipeline, stage, { release }, actor, (r) => this.deps.authorization.authorizeRelease(r, target, stage));
      await this.follow(caller, d);
      await this.audit(actor, "pipeline.promote", stage, d.id, { via: "button", pipeline: name });
      return { text: `${actor.name} promoted ${d.version} into ${stage} through pipeline ${name} (${d.id})`, replaceOriginal: false };
    } catch (err) {
      if (!(err instanceof CutoverError)) throw err;
      if (err.kind === "forbidden") return this.refuse(caller, identity, "promote", stage, err.message.replace(/the token/g, "your chat identity"));
      return ephemeral(`:warning: ${err.message}`);
    }
  }

  private async perform(caller: ChatCaller, actor: Actor, command: Exclude<ChatCommand, { verb: "help" }>, request: DeploymentRequest | undefined, text: string): Promise<ChatMessage> {
    const { deployments, environments, deploymentStore } = this.deps;
    const env = command.environment;
    switch (command.verb) {
      case "status": {
        const view = await environments.get(env);
        return statusMessage(view, await this.active(env));
      }
      case "history": {
        await environments.record(env);
        return historyMessage(env, await deploymentStore.forEnvironment(env, 10));
      }
      case "deploy": {
        const d = await deployments.create(env, request!, "deploy", actor, (queued) => this.follow(caller, queued));
        await this.audit(actor, "deployment.create", env, d.id, { command: text });
        const where = d.queuePosition ? ` (queued behind ${d.queuePosition})` : "";
        return ephemeral(`Deploying *${d.version}* to *${env}* as \`${d.id}\`${where}. Progress follows here.`);
      }
      case "rollback": {
        let followed = false;
        const d = await deployments.rollback(env, actor, async (queued) => {
          followed = true;
          await this.follow(caller, queued);
        });
        // A rollback of a deployment in flight aborts it: follow that one instead.
        if (!followed) await this.follow(caller, d);
        await this.audit(actor, "environment.rollback", env, d.id, { command: text });
        return ephemeral(`Rolling *${env}* back: \`${d.id}\` (${d.version}).`);
      }
      case "promote": {
        if (!command.pipeline) return this.steer(caller, actor, "promote", env, text);
        const pipeline = await this.deps.pipelines.get(command.pipeline);
        const { target } = (await environments.record(env)).spec;
        const d = await this.deps.pipelines.promote(pipeline, env, {}, actor, (r) => this.deps.authorization.authorizeRelease(r, target, env));
        await this.follow(caller, d);
        await this.audit(actor, "pipeline.promote", env, d.id, { command: text, pipeline: pipeline.name });
        const from = d.promotion?.from ? ` from *${d.promotion.from}*` : "";
        return ephemeral(`Promoting *${d.version}*${from} into *${env}* through pipeline \`${pipeline.name}\` as \`${d.id}\`. Progress follows here.`);
      }
      case "flags": {
        const flags = await this.deps.flags.list(env);
        if (flags.length === 0) return ephemeral(`*${env}* has no feature flags`);
        return ephemeral([`Feature flags of *${env}*:`, ...flags.map(flagLine)].join("\n"));
      }
      case "flag":
        return this.flag(actor, command, text);
      case "maintenance": {
        const op = await this.deps.maintenance(env, command.on ? { hold: command.hold, retryAfter: command.retryAfter } : undefined, actor);
        await this.audit(actor, command.on ? "environment.maintenance_on" : "environment.maintenance_off", env, op.id, { command: text });
        return ephemeral(command.on ? `Putting *${env}* in maintenance (${command.hold ? `requests held up to ${command.hold}` : "a 503 page"}): \`${op.id}\`.` : `Taking *${env}* out of maintenance: \`${op.id}\`.`);
      }
      case "approve":
      case "reject": {
        const d = await this.active(env);
        if (!d) return ephemeral(`*${env}* has no deployment waiting at a gate`);
        return this.decide(actor, d, command.gate, command.verb, text);
      }
      default:
        return this.steer(caller, actor, command.verb, env, text);
    }
  }

  /** Promote, pause, resume or abort the environment's deployment. */
  private async steer(caller: ChatCaller, actor: Actor, verb: "promote" | "pause" | "resume" | "abort", env: string, text: string): Promise<ChatMessage> {
    const d = await this.active(env, verb === "abort");
    if (!d) return ephemeral(`*${env}* has no deployment to ${verb}`);
    if (verb === "abort") await this.deps.deployments.abort(d.id, `aborted by ${actor.name} from ${caller.provider}`, actor);
    else await this.deps.deployments[verb](d.id, actor);
    await this.audit(actor, `deployment.${verb}`, env, d.id, { command: text });
    return ephemeral(`${verb} requested for \`${d.id}\` (${d.version} on *${env}*).`);
  }

  private async flag(actor: Actor, c: Extract<ChatCommand, { verb: "flag" }>, text: string): Promise<ChatMessage> {
    const { flags, ramps } = this.deps;
    if (c.action === "status") {
      const flag = await flags.get(c.environment, c.key);
      const [ramp] = await ramps.list(c.environment, c.key);
      const rampLine = ramp ? `ramp \`${ramp.id}\` ${ramp.state}${ramp.step >= 0 ? ` at step ${ramp.step + 1} of ${ramp.steps.length}` : ""}${ramp.reason ? `: ${ramp.reason}` : ""}` : "";
      return ephemeral([flagLine(flag), `changed by ${flag.updatedBy.name} at ${flag.updatedAt}`, rampLine].filter(Boolean).join("\n"));
    }
    if (c.action === "ramp") {
      const ramp = await ramps.create(c.environment, c.key, { steps: c.steps }, actor);
      await this.audit(actor, "flag.ramp.create", c.environment, c.key, { command: text, ramp: ramp.id });
      return { text: `${actor.name} started ramp \`${ramp.id}\` of *${c.key}* on *${c.environment}*: ${c.steps.map((s) => `${s.percentage}%${s.pause ? ` for ${s.pause}` : ""}`).join(" → ")}`, replaceOriginal: false };
    }
    const flag = await flags.setEnabled(c.environment, c.key, c.action === "enable", actor, `from chat: ${text}`);
    return { text: `${actor.name} switched *${c.key}* ${flag.enabled ? "on" : "off"} on *${c.environment}* (version ${flag.version})`, replaceOriginal: false };
  }

  /** A person's answer at the gate the deployment waits at (or the named one). */
  private async decide(actor: Actor, d: Deployment, gate: string | undefined, verb: "approve" | "reject", how: string): Promise<ChatMessage> {
    const waiting = gate ?? Object.entries(d.gateLog ?? {}).find(([, r]) => r.state === "waiting")?.[0].split("@")[0];
    if (!waiting) return ephemeral(`\`${d.id}\` waits at no gate`);
    try {
      await this.deps.deployments.decide(d.id, waiting, verb === "approve", actor, verb === "reject" ? `rejected by ${actor.name} in chat` : undefined);
    } catch (err) {
      if (err instanceof CutoverError) return ephemeral(`:warning: ${err.message}`);
      throw err;
    }
    await this.audit(actor, `deployment.gate.${verb}`, d.environment, d.id, how === "button" ? { via: "button", gate: waiting } : { command: how, gate: waiting });
    return { text: `${actor.name} ${verb === "approve" ? "approved" : "rejected"} ${d.version} on ${d.environment} at gate ${waiting} (${d.id})`, replaceOriginal: false };
  }

  /** The environment's running deployment; with `queuedToo`, the oldest queued one when none runs. */
  private async active(environment: string, queuedToo = false): Promise<Deployment | undefined> {
    const unfinished = await this.deps.deploymentStore.unfinished(environment);
    return unfinished.find((d) => d.state !== "queued") ?? (queuedToo ? unfinished[0] : undefined);
  }

  /**
   * Progress of the deployment goes back to where the command came from.
   * The thread is saved before the deployment can start; the bot's status
   * message, if any, is posted afterwards and edited from then on.
   */
  private async follow(caller: ChatCaller, d: Deployment): Promise<void> {
    await this.deps.threads.add({ deploymentId: d.id, provider: caller.provider, responseUrl: caller.responseUrl, channel: caller.channel });
    const { post } = this.deps.poster;
    const channel = caller.channel;
    if (!channel || caller.provider !== "slack" || !post) return;
    void post(channel, { text: `${d.version} → ${d.environment} (${d.id}) queued` })
      .then((ts) => (ts ? this.deps.threads.setMessageTs(d.id, channel, ts) : undefined))
      .catch((err) => this.deps.logger.warn({ err: String(err), deploymentId: d.id }, "could not post the deployment's status message"));
  }

  private async refuse(caller: ChatCaller, identity: ChatIdentity | undefined, verb: string, environment: string | undefined, why: string): Promise<ChatMessage> {
    const actor: Actor = identity
      ? actorOfIdentity(identity, caller.userName)
      : { kind: "chat", id: `${caller.team}/${caller.user}`, name: caller.userName ?? caller.user, provider: caller.provider };
    await this.audit(actor, "chat.refused", environment, undefined, { verb, why });
    return refusal(why.charAt(0).toUpperCase() + why.slice(1));
  }

  private async audit(actor: Actor, action: string, environment: string | undefined, subject: string | undefined, data: Record<string, unknown>): Promise<void> {
    await this.deps.audit
      .append({ actor, action, ...(environment ? { environment } : {}), ...(subject ? { subject } : {}), data })
      .catch((err) => this.deps.logger.error({ err: String(err), action }, "could not record an audit entry"));
  }
}

function flagLine(f: { key: string; enabled: boolean; defaultVariant: string; rollout?: { percentage: number; variant: string }; rules: unknown[] }): string {
  return `\`${f.key}\` ${f.enabled ? "on" : "*off*"}, default ${f.defaultVariant}${f.rollout ? `, ${f.rollout.percentage}% get ${f.rollout.variant}` : ""}${f.rules.length ? `, ${f.rules.length} rule(s)` : ""}`;
}

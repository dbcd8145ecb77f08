// What chat ops needs from storage and from the chat providers, declared
// here and implemented by the journal's adapters and the provider clients.
import type { Role } from "../auth/token-service";

export type ChatProvider = "slack" | "mattermost";

/** A chat user linked to a Cutover role and environment scope, as a token would carry them. */
export interface ChatIdentity {
  id: string;
  provider: ChatProvider;
  team: string;
  user: string;
  role: Exclude<Role, "metrics">;
  environments?: string[];
  /** Who the chat user is (e.g. an email), as tokens name their holder: four eyes compare it. */
  person?: string;
  createdAt: string;
}

export interface ChatIdentityRepository {
  /** False when the user is already linked. */
  insert(identity: ChatIdentity): Promise<boolean>;
  find(provider: ChatProvider, team: string, user: string): Promise<ChatIdentity | undefined>;
  list(): Promise<ChatIdentity[]>;
  remove(id: string): Promise<boolean>;
}

/** Where a deployment started from chat reports its progress. */
export interface ChatThread {
  deploymentId: string;
  provider: ChatProvider;
  /** The command's response_url, opened. */
  responseUrl?: string;
  channel?: string;
  /** The status message a bot token posted, updated in place. */
  messageTs?: string;
}

export interface ChatThreadRepository {
  add(thread: ChatThread): Promise<void>;
  forDeployment(deploymentId: string): Promise<ChatThread[]>;
  setMessageTs(deploymentId: string, channel: string, ts: string): Promise<void>;
}

/** A message in provider-neutral form; `blocks` are Slack Block Kit, other providers show `text`. */
export interface ChatMessage {
  text: string;
  blocks?: unknown[];
  /** Seen only by the person who ran the command. */
  ephemeral?: boolean;
  /** Replace the message a button was pressed on. */
  replaceOriginal?: boolean;
}

export interface ChatPoster {
  /** Posts to a command's or an interaction's response_url. */
  respond(provider: ChatProvider, responseUrl: string, message: ChatMessage): Promise<void>;
  /** With a bot token: posts to a channel and returns the message's ts; undefined without one. */
  post?(channel: string, message: ChatMessage): Promise<string | undefined>;
  update?(channel: string, ts: string, message: ChatMessage): Promise<void>;
}

/** Remembers signed requests already acted on, so a replay acts on nothing. */
export interface ReplayGuard {
  /** True when none of the request's keys (its signature, its trigger id) was seen before; records them. */
  firstSeen(keys: string[]): Promise<boolean>;
}

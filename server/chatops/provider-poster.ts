// Posts to chat providers: a command's response_url (Slack and Mattermost
// speak the same JSON there), and, with a Slack bot token, a status message
// in the channel through Slack's Web API (chat.postMessage, chat.update).
import { LogLevel, WebClient } from "@slack/web-api";
import type { ChatMessage, ChatPoster, ChatProvider } from "./ports";

export interface ProviderPosterOptions {
  slackBotToken?: string;
  /** Slack's Web API base, `https://slack.com/api/` unless pointed elsewhere (a proxy, or a local fake in tests). */
  slackApiUrl?: string;
  timeoutMs?: number;
}

export class ProviderPoster implements ChatPoster {
  private readonly timeoutMs: number;
  readonly post?: ChatPoster["post"];
  readonly update?: ChatPoster["update"];

  constructor(options: ProviderPosterOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    if (options.slackBotToken) {
      const client = new WebClient(options.slackBotToken, {
        slackApiUrl: options.slackApiUrl,
        logLevel: LogLevel.ERROR,
        retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
        timeout: this.timeoutMs,
        allowAbsoluteUrls: false,
      });
      this.post = async (channel, message) => {
        const res = await client.chat.postMessage({ channel, text: message.text, ...(message.blocks ? { blocks: message.blocks as never } : {}) });
        return res.ts;
      };
      this.update = async (channel, ts, message) => {
        await client.chat.update({ channel, ts, text: message.text, ...(message.blocks ? { blocks: message.blocks as never } : {}) });
      };
    }
  }

  async respond(provider: ChatProvider, responseUrl: string, message: ChatMessage): Promise<void> {
    const body =
      provider === "slack"
        ? {
            response_type: message.ephemeral ? "ephemeral" : "in_channel",
            text: message.text,
            ...(message.blocks ? { blocks: message.blocks } : {}),
            ...(message.replaceOriginal !== undefined ? { replace_original: message.replaceOriginal } : {}),
          }
        : { response_type: message.ephemeral ? "ephemeral" : "in_channel", text: message.text };
    const res = await fetch(responseUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
      redirect: "error",
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`${provider} response_url answered ${res.status}`);
  }
}

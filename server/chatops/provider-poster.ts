// Posts to chat providers: a command's response_url (Slack and Mattermost
// speak the same JSON there), and, with a Slack bot token, a status message
// in the channel through Slack's Web API (chat.postMessage, chat.update).
import { LogLevel, WebClient } from "@slack/web-api";
import type { OutboundGuard } from "../outbound/outbound-guard";
import { guardedRequest } from "../outbound/guarded-request";
import type { ChatMessage, ChatPoster, ChatProvider } from "./ports";

export interface ProviderPosterOptions {
  slackBotToken?: string;
  /** Slack's Web API base, `https://slack.com/api/` unless pointed elsewhere (a proxy, or a local fake in tests). */
  slackApiUrl?: string;
  timeoutMs?: number;
  /** A response_url comes with the request: it is called only where the outbound guard allows. */
  guard: OutboundGuard;
}

export class ProviderPoster implements ChatPoster {
  private readonly timeoutMs: number;
  private readonly guard: OutboundGuard;
  readonly post?: ChatPoster["post"];
  readonly update?: ChatPoster["update"];

  constructor(options: ProviderPosterOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.guard = options.guard;
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
    const res = await guardedRequest(
      { method: "POST", url: responseUrl, headers: { "content-type": "application/json" }, body: JSON.stringify(body), timeoutMs: this.timeoutMs, maxBytes: 64 * 1024 },
      this.guard,
    );
    if (res.status < 200 || res.status > 299) throw new Error(`${provider} response_url answered ${res.status}`);
  }
}

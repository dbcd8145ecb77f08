// Tells the chat a deployment was started from how it goes: each phase,
// each traffic step, a pause (with Promote and Abort), and the outcome.
// It listens to the journal's events on the replica that writes them, so
// progress is reported wherever the deployment runs.
import type { DomainEventBus } from "../deployments/deployment-events";
import { END_EVENTS, type JournalEventType } from "../deployments/journal-events";
import type { DeploymentEvent } from "../deployments/model";
import type { DeploymentRepository } from "../deployments/ports";
import type { Logger } from "../logger";
import { progressMessage } from "./chat-messages";
import type { ChatPoster, ChatThreadRepository } from "./ports";

const REPORTED: ReadonlySet<string> = new Set<string>([
  ...([
    "deployment:started",
    "deployment:phase",
    "deployment:step",
    "deployment:paused",
    "gate:waiting",
    "gate:approved",
    "gate:rejected",
  ] satisfies JournalEventType[]),
  ...END_EVENTS,
]);

export class ChatProgress {
  /** Messages of one deployment are posted in the order its events happened. */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly unsubscribe: () => void;

  constructor(
    bus: DomainEventBus,
    private readonly threads: ChatThreadRepository,
    private readonly deployments: DeploymentRepository,
    private readonly poster: ChatPoster,
    private readonly logger: Logger,
  ) {
    this.unsubscribe = bus.on("deployment:event", (e) => {
      if (REPORTED.has(e.type)) this.enqueue(e);
    });
  }

  /** Resolves when every message so far has been posted (or given up on). */
  async drain(): Promise<void> {
    while (this.tails.size) await Promise.all([...this.tails.values()]);
  }

  stop(): void {
    this.unsubscribe();
  }

  private enqueue(e: DeploymentEvent): void {
    const tail = (this.tails.get(e.deploymentId) ?? Promise.resolve())
      .then(() => this.report(e))
      .catch((err) => this.logger.warn({ err: String(err), deploymentId: e.deploymentId, event: e.type }, "could not report progress to chat"));
    this.tails.set(e.deploymentId, tail);
    void tail.then(() => {
      if (this.tails.get(e.deploymentId) === tail) this.tails.delete(e.deploymentId);
    });
  }

  private async report(e: DeploymentEvent): Promise<void> {
    const threads = await this.threads.forDeployment(e.deploymentId);
    if (threads.length === 0) return;
    const d = await this.deployments.get(e.deploymentId);
    const message = d && progressMessage(d, e);
    if (!message) return;
    for (const t of threads) {
      if (t.responseUrl) await retry(() => this.poster.respond(t.provider, t.responseUrl!, { ...message, ephemeral: false }));
      // With a bot token the channel's status message also shows the latest state (it outlives response_url's limits).
      if (t.channel && t.messageTs && this.poster.update) await retry(() => this.poster.update!(t.channel!, t.messageTs!, message));
    }
  }
}

async function retry(send: () => Promise<void>, attempts = 3): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await send();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 500 * i));
    }
  }
}

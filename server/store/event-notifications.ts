// Listens on Postgres for events other replicas journal (NOTIFY on
// cutover_events) and passes the deployment ids on, so that a live event
// stream on this replica follows a deployment another replica runs. The
// connection is re-made after a failure; a stream also re-reads the journal
// on reconnect, so a notification lost meanwhile costs nothing.
import pg from "pg";
import type { Logger } from "../logger";
import { EVENTS_CHANNEL } from "./deployment-store";

export class EventNotifications {
  private client?: pg.Client;
  private stopped = false;
  private retry?: NodeJS.Timeout;

  constructor(
    private readonly databaseUrl: string,
    private readonly onEvent: (deploymentId: string) => void,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on("notification", (n) => {
      if (n.channel === EVENTS_CHANNEL && n.payload) this.onEvent(n.payload);
    });
    client.on("error", (err) => {
      this.logger.warn({ err: String(err) }, "event notifications connection failed; reconnecting");
      this.reconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      this.client = client;
    } catch (err) {
      await client.end().catch(() => undefined);
      this.logger.warn({ err: String(err) }, "could not listen for event notifications; retrying");
      this.reconnect();
    }
  }

  private reconnect(): void {
    const old = this.client;
    this.client = undefined;
    void old?.end().catch(() => undefined);
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.start();
    }, 1000);
    this.retry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.client?.end().catch(() => undefined);
  }
}

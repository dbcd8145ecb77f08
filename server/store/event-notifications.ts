// Listens on Postgres for what other replicas announce: events they journal
// (NOTIFY on cutover_events, so a live event stream here follows a
// deployment another replica runs) and flag changes (cutover_flags, so a
// cached flag is dropped as soon as it changes). The connection is re-made
// after a failure; `onListening(false)` tells the listeners that anything
// may have been missed meanwhile, and `onListening(true)` that
// notifications flow again.
import pg from "pg";
import type { Logger } from "../logger";

export class EventNotifications {
  private client?: pg.Client;
  private stopped = false;
  private retry?: NodeJS.Timeout;

  constructor(
    private readonly databaseUrl: string,
    private readonly channels: Record<string, (payload: string) => void>,
    private readonly logger: Logger,
    private readonly onListening: (listening: boolean) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on("notification", (n) => {
      const handler = this.channels[n.channel];
      if (handler && n.payload) handler(n.payload);
    });
    client.on("error", (err) => {
      this.logger.warn({ err: String(err) }, "event notifications connection failed; reconnecting");
      this.reconnect();
    });
    // A connection the server closed without an error is as lost.
    client.on("end", () => {
      if (this.client === client && !this.stopped) this.reconnect();
    });
    try {
      await client.connect();
      for (const channel of Object.keys(this.channels)) await client.query(`LISTEN ${channel}`);
      this.client = client;
      this.onListening(true);
    } catch (err) {
      await client.end().catch(() => undefined);
      this.logger.warn({ err: String(err) }, "could not listen for event notifications; retrying");
      this.reconnect();
    }
  }

  private reconnect(): void {
    this.onListening(false);
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

// A small client of the Cutover API for the CLI: JSON requests with the
// token, retried on connection errors (POSTs carry an Idempotency-Key, so a
// retry never starts anything twice), and an SSE reader.
import { randomUUID } from "node:crypto";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async request<T>(method: string, path: string, body?: unknown, idempotencyKey = randomUUID(), extra: Record<string, string> = {}): Promise<T> {
    const headers = this.headers({ accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }), ...extra });
    if (method === "POST") headers["idempotency-key"] = idempotencyKey;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (err) {
        if (attempt >= 4) throw new ApiError(0, "unreachable", `cannot reach Cutover at ${this.baseUrl}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        continue;
      }
      const text = await res.text();
      const json = text ? JSON.parse(text) : undefined;
      if (!res.ok) {
        const e = json?.error ?? { code: "http_error", message: `HTTP ${res.status}` };
        throw new ApiError(res.status, e.code, e.message);
      }
      return json as T;
    }
  }

  /** Yields the deployment's events until the server ends the stream; resumes after drops. */
  async *events(deploymentId: string): AsyncGenerator<SseEvent> {
    let lastId = "";
    for (let attempt = 0; attempt < 20; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${this.baseUrl}/v1/deployments/${deploymentId}/events`, {
          headers: this.headers({ accept: "text/event-stream", ...(lastId ? { "last-event-id": lastId } : {}) }),
        });
      } catch {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!res.ok || !res.body) {
        const json = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
        throw new ApiError(res.status, json?.error?.code ?? "http_error", json?.error?.message ?? `HTTP ${res.status}`);
      }
      let buffer = "";
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let idx: number;
          while ((idx = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, idx);
            buffer = buffer.slice(idx + 2);
            const event: SseEvent = { data: "" };
            for (const line of block.split("\n")) {
              if (line.startsWith("id: ")) event.id = line.slice(4);
              else if (line.startsWith("event: ")) event.event = line.slice(7);
              else if (line.startsWith("data: ")) event.data += line.slice(6);
            }
            if (!event.event) continue;
            if (event.id) lastId = event.id;
            yield event;
          }
        }
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

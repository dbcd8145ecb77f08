// Tiny HTTP client for tests.
import http from "node:http";

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? "GET", headers: init.headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

/** The first 200 from `url` after `since` (a kill), each try on a new connection, within `withinMs`: how long it took and its body. */
export async function firstAnswerAfter(url: string, since: number, withinMs = 5000): Promise<{ ms: number; body: string }> {
  while (Date.now() - since < withinMs) {
    const r = await request(url).catch(() => undefined);
    if (r?.status === 200) return { ms: Date.now() - since, body: r.body };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { ms: Infinity, body: "" };
}

/** What one GET came to: the status (-1 when it failed, the body then its error), its `Retry-After`, and how long it took. */
export interface Answer {
  status: number;
  body: string;
  retryAfter?: string;
  ms: number;
}

/**
 * One GET on a connection of its own (an idle kept-alive one may belong to
 * a balancer process killed a moment ago), never rejected: a failure is
 * status -1, so requests in flight through a fault can be counted.
 */
export function ask(url: string, headers: Record<string, string> = {}, timeoutMs = 90_000): Promise<Answer> {
  const start = Date.now();
  return new Promise((resolve) => {
    const req = http.get(url, { headers, timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers["retry-after"] as string | undefined, ms: Date.now() - start }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: -1, body: e.message, ms: Date.now() - start }));
  });
}

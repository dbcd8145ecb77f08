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

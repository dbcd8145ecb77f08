// A local stand-in for Slack: the Web API methods Cutover calls
// (chat.postMessage, chat.update) and response_url endpoints, each
// recording what it received. Listens on 127.0.0.1, port from the OS.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeSlack {
  apiUrl: string;
  /** A fresh response_url whose posts are kept under its key. */
  responseUrl(key: string): string;
  responses: Map<string, any[]>;
  apiCalls: { method: string; args: Record<string, any> }[];
  close(): Promise<void>;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const responses = new Map<string, any[]>();
  const apiCalls: FakeSlack["apiCalls"] = [];
  let ts = 1000;
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname.startsWith("/response/")) {
        const key = decodeURIComponent(url.pathname.slice("/response/".length));
        responses.set(key, [...(responses.get(key) ?? []), JSON.parse(body)]);
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
        return;
      }
      if (url.pathname.startsWith("/api/")) {
        const method = url.pathname.slice("/api/".length);
        const args: Record<string, any> = req.headers["content-type"]?.includes("json")
          ? JSON.parse(body)
          : Object.fromEntries(new URLSearchParams(body));
        if (typeof args.blocks === "string") args.blocks = JSON.parse(args.blocks);
        apiCalls.push({ method, args });
        const auth = req.headers.authorization ?? "";
        if (!auth.startsWith("Bearer xoxb-")) {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: false, error: "not_authed" }));
          return;
        }
        const reply = method === "chat.postMessage" ? { ok: true, channel: args.channel, ts: `${++ts}.000100` } : { ok: true, channel: args.channel, ts: args.ts };
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply));
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    apiUrl: `${base}/api/`,
    responseUrl: (key) => `${base}/response/${encodeURIComponent(key)}`,
    responses,
    apiCalls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

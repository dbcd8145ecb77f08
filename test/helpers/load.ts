// A bounded load generator on 127.0.0.1: a few keep-alive clients issuing
// requests until stopped or until maxRequests, counting failures.
import http from "node:http";

export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
  byBody: Map<string, number>;
  /** Answers counted as ok, by status. */
  byStatus: Map<number, number>;
}

export interface LoadOptions {
  concurrency?: number;
  maxRequests?: number;
  maxMs?: number;
  /** Each client waits this long between two requests (its connection stays open, idle, meanwhile). */
  pauseMs?: number;
  bodyKey?: (body: string) => string;
  /** The statuses that count as answered (200 alone by default), e.g. 503 while a maintenance page is meant to be served. */
  okStatuses?: number[];
}

export function startLoad(url: string, opts: LoadOptions = {}) {
  const { concurrency = 4, maxRequests = 200_000, maxMs = 120_000, pauseMs = 0 } = opts;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const okStatuses = opts.okStatuses ?? [200];
  const result: LoadResult = { ok: 0, failed: 0, errors: [], byBody: new Map(), byStatus: new Map() };
  const deadline = Date.now() + maxMs;
  let stopped = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => {
          if (okStatuses.includes(res.statusCode ?? 0)) {
            result.ok++;
            result.byStatus.set(res.statusCode ?? 0, (result.byStatus.get(res.statusCode ?? 0) ?? 0) + 1);
            const key = opts.bodyKey ? opts.bodyKey(body) : "";
            result.byBody.set(key, (result.byBody.get(key) ?? 0) + 1);
          } else {
            result.failed++;
            if (result.errors.length < 20) result.errors.push(`status ${res.statusCode}: ${body.slice(0, 200)}`);
          }
          resolve();
        });
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => {
        result.failed++;
        if (result.errors.length < 20) result.errors.push(err.message);
        resolve();
      });
    });
  const worker = async () => {
    while (!stopped && Date.now() < deadline && result.ok + result.failed < maxRequests) {
      await one();
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    result,
    async stop(): Promise<LoadResult> {
      stopped = true;
      await done;
      agent.destroy();
      return result;
    },
  };
}

// The balancer's admin API (`/config`, `/metrics`), as every caller reads
// it: the provider waiting for a change to apply, the server observing the
// weights a balancer routes by and the pools' counters.
import http from "node:http";

export interface AdminReadOptions {
  /** Keeps the connection for the next read (a server that asks often); the provider, which lives for one operation, does not. */
  keepAlive?: boolean;
  timeoutMs?: number;
}

/** Connections kept open between reads: status polls ask on every call. */
const keptAgent = new http.Agent({ keepAlive: true, maxSockets: 8, timeout: 10_000 });

/** The admin URL of a path on the balancer whose admin port is `port`. */
export const adminUrl = (port: number, p: string): string => `http://127.0.0.1:${port}${p}`;

/** The admin URL of a path, from a traffic stack's outputs (which carry its metrics URL); undefined without one. */
export function adminUrlOf(traffic: Record<string, unknown> | undefined, p: string): string | undefined {
  const metrics = traffic?.metricsUrl;
  return typeof metrics === "string" ? metrics.replace(/\/metrics$/, p) : undefined;
}

/** The body of an admin read. */
export function readAdmin(url: string, opts: AdminReadOptions = {}, retried = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: opts.timeoutMs ?? 2000, agent: opts.keepAlive ? keptAgent : false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error(`the balancer's admin API did not answer ${new URL(url).pathname} in time`)));
    req.on("error", (err: NodeJS.ErrnoException) => {
      // A kept connection the balancer closed meanwhile (a restart): asked again once on a new one.
      if (req.reusedSocket && !retried && (err.code === "ECONNRESET" || err.code === "EPIPE")) resolve(readAdmin(url, opts, true));
      else reject(err);
    });
  });
}

/** The routing a balancer holds now, by pool. */
export interface AdminConfig {
  pools?: Record<string, { weight?: number; endpoints?: string[] }>;
}

export async function readAdminConfig<T extends AdminConfig = AdminConfig>(url: string, opts: AdminReadOptions = {}): Promise<T> {
  return JSON.parse(await readAdmin(url, opts)) as T;
}

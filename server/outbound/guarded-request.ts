// HTTP requests that connect only to addresses the outbound guard allows,
// checked on the address actually connected to (a host name is resolved
// once, here). No redirects are followed, answers are read up to a bound,
// and failures are reported as short reasons that never quote a header
// value or an answer's body.
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { OutboundGuard } from "./outbound-guard";

export interface GuardedRequest {
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** The most of the answer's body that is read; more fails the request. */
  maxBytes?: number;
}

export interface GuardedAnswer {
  status: number;
  body: Buffer;
}

/** A failure whose message is safe to show a caller: a host and a short reason, nothing the far side sent. */
export class OutboundError extends Error {
  override readonly name = "OutboundError";
}

const DEFAULT_MAX_BYTES = 1024 * 1024;

/** Sends a request with the guard on the address actually connected to. */
export function guardedRequest(r: GuardedRequest, guard: OutboundGuard): Promise<GuardedAnswer> {
  let u: URL;
  try {
    u = new URL(r.url);
  } catch {
    return Promise.reject(new OutboundError("not a URL"));
  }
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const problem = guard.urlProblem(r.url);
  if (problem) return Promise.reject(new OutboundError(`${host}: ${problem}`));
  const allowlisted = guard.hostAllowlisted(host);
  // Every address the name resolves to is checked; the connection is made only to allowed ones.
  const lookup: LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(new OutboundError(`${hostname} could not be resolved`), "", 0);
      const usable = allowlisted ? addresses : addresses.filter((a) => guard.addressAllowed(a.address));
      if (usable.length === 0) {
        return callback(new OutboundError(`${hostname} resolves only to private, loopback or link-local addresses`), "", 0);
      }
      if (options.all) (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, usable);
      else callback(null, usable[0].address, usable[0].family);
    });
  };
  const maxBytes = r.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => reject(err instanceof OutboundError ? err : new OutboundError(`${host} could not be reached`));
    const headers = { ...r.headers, ...(r.body !== undefined ? { "content-length": String(Buffer.byteLength(r.body)) } : {}) };
    let req: http.ClientRequest;
    try {
      req = (u.protocol === "https:" ? https : http).request(u, { method: r.method, headers, lookup, timeout: r.timeoutMs, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy();
            reject(new OutboundError(`${host} answered with more than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", fail);
      });
    } catch {
      // Node refuses header values it cannot send (control characters) before anything leaves; its message quotes them.
      reject(new OutboundError(`a header for ${host} holds characters HTTP does not allow`));
      return;
    }
    req.on("timeout", () => req.destroy(new OutboundError(`${host} did not answer within ${r.timeoutMs} ms`)));
    req.on("error", fail);
    req.end(r.body);
  });
}

/** POSTs with the guard on the address actually connected to; resolves with the status code. */
export async function guardedPost(url: string, headers: Record<string, string>, body: string, timeoutMs: number, guard: OutboundGuard): Promise<number> {
  return (await guardedRequest({ method: "POST", url, headers, body, timeoutMs, maxBytes: 64 * 1024 }, guard)).status;
}

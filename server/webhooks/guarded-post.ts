// A POST that connects only to addresses the SSRF guard allows, checked on
// the address actually connected to (a host name is resolved once, here).
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { TargetGuard } from "./target-guard";

/** POSTs with the SSRF guard on the address actually connected to; resolves with the status code. */
export function guardedPost(url: string, headers: Record<string, string>, body: string, timeoutMs: number, guard: TargetGuard): Promise<number> {
  const u = new URL(url);
  const allowlisted = guard.hostAllowlisted(u.hostname.replace(/^\[|\]$/g, ""));
  // Every address the name resolves to is checked; the connection is made only to allowed ones.
  const lookup: LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const usable = allowlisted ? addresses : addresses.filter((a) => guard.addressAllowed(a.address));
      if (usable.length === 0) {
        return callback(new Error(`${hostname} resolves only to private, loopback or link-local addresses`), "", 0);
      }
      if (options.all) (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, usable);
      else callback(null, usable[0].address, usable[0].family);
    });
  };
  return new Promise((resolve, reject) => {
    const host = u.hostname.replace(/^\[|\]$/g, "");
    if (!allowlisted && /^[\d.]+$|:/.test(host) && !guard.addressAllowed(host)) {
      reject(new Error(`${host} is a private, loopback or link-local address`));
      return;
    }
    const req = (u.protocol === "https:" ? https : http).request(
      u,
      { method: "POST", headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, lookup, timeout: timeoutMs, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

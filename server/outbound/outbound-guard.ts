// The one guard for every address Cutover calls on a caller's word
// (webhooks, gates, metric providers, chat response URLs): no loopback,
// private, link-local, unique-local, carrier-grade NAT, multicast, NAT64,
// 6to4, Teredo or unspecified address, IPv4 or IPv6 (IPv4-mapped
// included), unless the operator allowlists it (CUTOVER_OUTBOUND_ALLOW).
// Checked when the URL is given, and again on the address each request
// actually connects to, so DNS cannot swap it.
import { BlockList, isIP } from "node:net";

const BLOCKED_V4: [string, number][] = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];
const BLOCKED_V6: [string, number][] = [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
  ["::", 96],
  ["64:ff9b::", 96],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001::", 32],
  ["2001:db8::", 32],
  ["2002::", 16],
];

export class OutboundGuard {
  private readonly blocked = new BlockList();
  private readonly allowed = new BlockList();
  private readonly allowedHosts = new Set<string>();

  /** `allow`: hosts or addresses, with an optional /prefix, e.g. `127.0.0.1, 10.1.0.0/16, hooks.internal`. */
  constructor(allow: string[] = []) {
    for (const [net, prefix] of BLOCKED_V4) this.blocked.addSubnet(net, prefix, "ipv4");
    for (const [net, prefix] of BLOCKED_V6) this.blocked.addSubnet(net, prefix, "ipv6");
    for (const entry of allow.map((a) => a.trim()).filter(Boolean)) {
      const [address, prefix] = entry.split("/");
      const family = isIP(address);
      if (family === 0) this.allowedHosts.add(entry.toLowerCase());
      else if (prefix === undefined) this.allowed.addAddress(address, family === 4 ? "ipv4" : "ipv6");
      else this.allowed.addSubnet(address, Number(prefix), family === 4 ? "ipv4" : "ipv6");
    }
  }

  /** A guard that allows every address: for what the operator configured (metric providers), never for a caller's URL. */
  static trusting(): OutboundGuard {
    const guard = new OutboundGuard();
    guard.trustAll = true;
    return guard;
  }

  private trustAll = false;

  /** Whether a resolved address may be connected to. */
  addressAllowed(address: string): boolean {
    if (this.trustAll) return isIP(address) !== 0;
    let family = isIP(address);
    if (family === 0) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) {
      address = mapped[1];
      family = 4;
    }
    const type = family === 4 ? "ipv4" : "ipv6";
    if (this.allowed.check(address, type)) return true;
    return !this.blocked.check(address, type);
  }

  /** Why a URL may not be called, or undefined when it may (a host name is checked again once resolved). */
  urlProblem(url: string): string | undefined {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return "not a URL";
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") return "only http and https URLs";
    if (u.username || u.password) return "credentials in the URL are not allowed";
    const host = u.hostname.replace(/^\[|\]$/g, "");
    if (this.trustAll || this.allowedHosts.has(host.toLowerCase())) return undefined;
    if (isIP(host) !== 0) return this.addressAllowed(host) ? undefined : `${host} is a private, loopback or link-local address`;
    if (host === "localhost" || host.endsWith(".localhost")) return "localhost is not allowed";
    return undefined;
  }

  hostAllowlisted(host: string): boolean {
    return this.trustAll || this.allowedHosts.has(host.toLowerCase());
  }
}

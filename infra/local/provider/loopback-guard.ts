// What a sandboxed process may not reach: the engine's own servers. The
// Pulumi CLI, each operation's language host and the provider serve gRPC on
// 127.0.0.1 at ports the kernel picks from its ephemeral range, without
// authentication. Cutover's own servers refuse other users
// (infra/grpc-peer-guard.ts), but the CLI's resource monitor is not Cutover's:
// a fleet reaching it could add resources to another environment's running
// operation, or stop it. So before a process is started as an environment's
// user, the kernel is told (nftables, one base chain per guarded user range,
// in the table `inet cutover`) to refuse that user's TCP connections to
// loopback ports of the ephemeral range. Fleets' own ports are drawn from
// outside that range (port-allocation.ts), so fleets and balancers still
// reach each other, and everything off the machine stays reachable.
import { execFile } from "node:child_process";
import { ephemeralPortRange, type PortRange } from "./port-allocation";
import { ENVIRONMENT_ID_BASE, ENVIRONMENT_ID_SPAN, type RunAs } from "./run-as";

export const GUARD_TABLE = "cutover";

/** The uids a guard covers: every environment's own (one chain for them all), or the one configured user. */
export function guardedUids(runAs: RunAs): PortRange {
  return runAs.perEnvironment || runAs.uid >= ENVIRONMENT_ID_BASE ? { low: ENVIRONMENT_ID_BASE, high: ENVIRONMENT_ID_BASE + ENVIRONMENT_ID_SPAN - 1 } : { low: runAs.uid, high: runAs.uid };
}

/** The nftables script, applied in one transaction: it replaces this range's chain and nothing else. */
export function guardRules(uids: PortRange, ports: PortRange): string {
  const chain = `sandbox_${uids.low}_${uids.high}`;
  const who = uids.low === uids.high ? `meta skuid ${uids.low}` : `meta skuid ${uids.low}-${uids.high}`;
  // Only a connection's first packet: a sandboxed server's replies go to ephemeral ports too.
  const where = `tcp dport ${ports.low}-${ports.high} tcp flags & (syn | ack) == syn`;
  return [
    `add table inet ${GUARD_TABLE}`,
    `add chain inet ${GUARD_TABLE} ${chain} { type filter hook output priority 0; policy accept; }`,
    `flush chain inet ${GUARD_TABLE} ${chain}`,
    `add rule inet ${GUARD_TABLE} ${chain} ${who} ip daddr 127.0.0.0/8 ${where} reject with tcp reset`,
    `add rule inet ${GUARD_TABLE} ${chain} ${who} ip6 daddr ::1 ${where} reject with tcp reset`,
    "",
  ].join("\n");
}

const NFT_TIMEOUT_MS = 10_000;

/**
 * Puts the guard for `runAs` in place (again: a firewall reload may have
 * flushed it). Undefined when it is in place, else why not: the caller must
 * then not start the process.
 */
export function guardLoopback(runAs: RunAs, nft = process.env.CUTOVER_NFT ?? "nft"): Promise<string | undefined> {
  const script = guardRules(guardedUids(runAs), ephemeralPortRange());
  return new Promise((resolve) => {
    const child = execFile(nft, ["-f", "-"], { timeout: NFT_TIMEOUT_MS, env: { PATH: `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/sbin:/sbin` } }, (err, _stdout, stderr) => {
      if (!err) return resolve(undefined);
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      resolve(
        missing
          ? `nftables is not installed (${nft}): install Debian's nftables (set-up does as root) so sandboxed processes are kept off the engine's loopback ports`
          : `nft could not keep sandboxed processes off the engine's loopback ports: ${String(stderr || err.message).trim().split("\n")[0]}`,
      );
    });
    // nft that exits before reading (or is not there) answers through the callback, not a pipe error.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(script);
  });
}

// Who may call the engine's gRPC servers: only processes of the user they
// run as. They listen on 127.0.0.1, where every local process can reach
// them: the `cutover` provider, which starts fleets as any environment's
// user, and an engine worker's inline program, which hands its resources'
// inputs (sealed values among them) to whoever asks it to run. A fleet's
// process (the deployer's code, running as its environment's user) must
// reach neither. Each call's peer is looked up in the kernel's socket
// table: the connecting socket's owner must be this process's user, or the
// call is refused before it reaches the server.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import type * as grpcTypes from "@grpc/grpc-js";

/** Pulumi's own copy of grpc-js: the server it builds uses this one. */
const grpc = createRequire(require.resolve("@pulumi/pulumi/package.json"))("@grpc/grpc-js") as typeof grpcTypes;

const ESTABLISHED = "01";
const LISTEN = "0A";

interface SocketRow {
  local: string;
  remote: string;
  state: string;
  uid: number;
  inode: string;
}

/** 127.0.0.1:8080 as /proc/net/tcp writes it (0100007F:1F90); undefined for anything but IPv4. */
export function kernelAddress(host: string, port: number): string | undefined {
  const octets = host.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined;
  const ip = octets
    .reverse()
    .map((o) => o.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
  return `${ip}:${port.toString(16).padStart(4, "0").toUpperCase()}`;
}

function socketRows(): SocketRow[] {
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 9)
    .map((f) => ({ local: f[1], remote: f[2], state: f[3], uid: Number(f[7]), inode: f[9] }));
}

/** The sockets this process has open, by inode. */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/**
 * The user owning the socket that connected from `peer` ("127.0.0.1:54321")
 * to one of this process's listening sockets; undefined when there is no
 * such socket (or the peer is not IPv4).
 */
export function peerUid(peer: string): number | undefined {
  const m = /^(?:ipv4:)?(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(peer);
  const from = m ? kernelAddress(m[1], Number(m[2])) : undefined;
  if (!from) return undefined;
  const rows = socketRows();
  const own = ownSocketInodes();
  const listening = new Set(rows.filter((r) => r.state === LISTEN && own.has(r.inode)).map((r) => r.local.split(":")[1]));
  const client = rows.find((r) => r.state === ESTABLISHED && r.local === from && listening.has(r.remote.split(":")[1]) && r.remote.startsWith("0100007F:"));
  return client?.uid;
}

/**
 * The HTTP/2 session (one TCP connection) a call came on, where grpc-js
 * keeps it: a connection's owner cannot change, so it is looked up once
 * per connection. Without it, every call is looked up.
 */
function sessionOf(call: unknown): object | undefined {
  const session = (call as { stream?: { session?: unknown } }).stream?.session;
  return typeof session === "object" && session !== null ? session : undefined;
}

/** A gRPC server interceptor refusing every call whose peer is not a process of this user. */
export function sameUserOnly(uid: number = process.getuid?.() ?? 0): grpcTypes.ServerInterceptor {
  const verdicts = new WeakMap<object, boolean>();
  const allowed = (call: grpcTypes.ServerInterceptingCallInterface): boolean => {
    const session = sessionOf(call);
    const known = session && verdicts.get(session);
    if (known !== undefined) return known;
    let owner: number | undefined;
    try {
      owner = peerUid(call.getPeer());
    } catch {
      owner = undefined;
    }
    if (session) verdicts.set(session, owner === uid);
    return owner === uid;
  };
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            if (allowed(call)) mdNext(metadata);
            else call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: "this engine server answers only its own user's processes" });
          },
        });
      },
    });
}

/**
 * Makes every gRPC server Pulumi's SDK starts in this process (a
 * provider's, an inline program's) refuse callers of other users. The SDK
 * builds its servers from one shared options object, which carries the
 * interceptors.
 */
export function guardGrpcServers(): void {
  const settings = createRequire(require.resolve("@pulumi/pulumi/package.json"))("./runtime/settings") as { grpcChannelOptions: Record<string, unknown> };
  settings.grpcChannelOptions.interceptors = [sameUserOnly()];
}

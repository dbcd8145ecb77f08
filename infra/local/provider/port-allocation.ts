// Ports for fleet instances. A port probed free is only free until someone
// binds it, and the kernel hands ports of its ephemeral range to every
// `listen(0)` and outgoing connection on the machine. Candidates are drawn
// from outside that range, so only processes binding explicit ports can take
// one before the instance does; the supervisor retries on those.
import { readFileSync } from "node:fs";
import net from "node:net";
import { freePort } from "./free-port";

export interface PortRange {
  /** First port of the range. */
  low: number;
  /** Last port of the range, inclusive. */
  high: number;
}

// Linux's default, for kernels that do not say.
const DEFAULT_EPHEMERAL: PortRange = { low: 32768, high: 60999 };
const PREFERRED_LOW = 10_000;
const UNPRIVILEGED_LOW = 1024;
// A range narrower than this makes random picks collide with each other too often.
const MIN_SPAN = 1000;
const ATTEMPTS = 64;

export function ephemeralPortRange(file = "/proc/sys/net/ipv4/ip_local_port_range"): PortRange {
  try {
    const [low, high] = readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low > 0 && low <= high && high <= 65535) return { low, high };
  } catch {
    // not Linux, or /proc is not mounted
  }
  return DEFAULT_EPHEMERAL;
}

/**
 * Where candidates come from: below the ephemeral range from 10000 up, or,
 * when the kernel's range leaves too little room there, the widest stretch
 * of unprivileged ports outside it. Undefined when there is none.
 */
export function candidateRange(ephemeral: PortRange = ephemeralPortRange()): PortRange | undefined {
  const preferred = { low: PREFERRED_LOW, high: ephemeral.low - 1 };
  if (span(preferred) >= MIN_SPAN) return preferred;
  const below = { low: UNPRIVILEGED_LOW, high: ephemeral.low - 1 };
  const above = { low: ephemeral.high + 1, high: 65535 };
  const widest = span(below) >= span(above) ? below : above;
  return span(widest) >= MIN_SPAN ? widest : undefined;
}

const span = (r: PortRange) => r.high - r.low + 1;

/** True when nothing holds `port` on 127.0.0.1 at this moment. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A port outside the ephemeral range that could be bound just now, never one
 * in `avoid`. Falls back to a kernel-chosen port when the machine's ephemeral
 * range leaves no room outside it.
 */
export async function allocatePort(avoid: Iterable<number> = []): Promise<number> {
  const taken = new Set(avoid);
  const range = candidateRange();
  if (range) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const port = range.low + Math.floor(Math.random() * span(range));
      if (!taken.has(port) && (await canBind(port))) return port;
    }
  }
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = await freePort();
    if (!taken.has(port)) return port;
  }
  throw new Error("no free port to allocate");
}

/** `count` distinct ports from `allocatePort`. */
export async function allocatePorts(count: number, avoid: Iterable<number> = []): Promise<number[]> {
  const ports: number[] = [];
  const taken = new Set(avoid);
  while (ports.length < count) {
    const port = await allocatePort(taken);
    taken.add(port);
    ports.push(port);
  }
  return ports;
}

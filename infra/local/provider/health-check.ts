// HTTP health checks of fleet instances: a check passes on a 2xx answer
// within its timeout; an instance is healthy after N passes in a row.
import http from "node:http";
import { pollUntil } from "../../poll";

export interface HealthCheckSpec {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
}

export function probe(port: number, spec: HealthCheckSpec): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: "127.0.0.1", port, path: spec.path, timeout: spec.timeoutMs, agent: false },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/**
 * Resolves when every port has passed `healthyThreshold` checks in a row;
 * rejects with the ports still failing once `deadlineMs` passes or `abort` says so.
 */
export async function waitUntilHealthy(
  ports: number[],
  spec: HealthCheckSpec,
  deadlineMs: number,
  abort: () => string | undefined,
): Promise<void> {
  const streak = new Map(ports.map((p) => [p, 0]));
  const failing = () => ports.filter((p) => streak.get(p)! < spec.healthyThreshold);
  const passed = await pollUntil(
    async () => {
      await Promise.all(
        ports.map(async (p) => {
          if (streak.get(p)! >= spec.healthyThreshold) return;
          streak.set(p, (await probe(p, spec)) ? streak.get(p)! + 1 : 0);
        }),
      );
      if (failing().length === 0) return true;
      const reason = abort();
      if (reason) throw new HealthCheckError(reason, failing());
      return undefined;
    },
    { timeoutMs: deadlineMs, intervalMs: spec.intervalMs },
  );
  if (!passed) throw new HealthCheckError(`health check ${spec.path} did not pass within ${deadlineMs}ms`, failing());
}

export class HealthCheckError extends Error {
  constructor(
    message: string,
    readonly failingPorts: number[],
  ) {
    super(message);
    this.name = "HealthCheckError";
  }
}

// The on-disk contract between the fleet controller (in the provider) and
// the fleet supervisor (a detached process): spec.json in, status.json out.
// Instances may move off a taken port while the fleet starts; the controller
// ends that by writing `settled` once the fleet is healthy, and trusts the
// ports in status.json only after the supervisor has acknowledged it there.
// A fleet's capacity changes through scale.json: the supervisor starts the
// instances it adds and drains the ones it removes (the highest indexes),
// so the instances that stay are never touched.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ProcessIdentity } from "./process-identity";
import type { RunAs } from "./run-as";

export interface ArtifactSpec {
  command: string[];
  cwd?: string;
  env?: Record<string, string>;
}

export interface FleetSpec {
  fleetId: string;
  version: string;
  artifact: ArtifactSpec;
  /** The first port each instance tries; status.json says where it listens. */
  ports: number[];
  drainTimeoutMs: number;
  /** The user the instances run as; absent, the supervisor's own. */
  runAs?: RunAs;
}

export interface InstanceStatus {
  index: number;
  /** The port the instance is given now; fixed once the fleet is settled. */
  port: number;
  process?: ProcessIdentity;
  restarts: number;
  lastExit?: string;
}

export interface FleetStatus {
  supervisor: ProcessIdentity;
  state: "running" | "stopping" | "stopped";
  /** Set once the supervisor has seen the settled marker for every instance: their ports never move after. */
  settled?: boolean;
  /** How many instances (from index 0) have fixed ports; the settled marker holds the count. */
  settledCount?: number;
  instances: InstanceStatus[];
}

/** A capacity change asked of a running fleet: `ports` gives the first port of each instance it adds. */
export interface FleetScale {
  replicas: number;
  ports: number[];
}

export const scalePath = (dir: string) => path.join(dir, "scale.json");
export const specPath = (dir: string) => path.join(dir, "spec.json");
export const statusPath = (dir: string) => path.join(dir, "status.json");
export const settledPath = (dir: string) => path.join(dir, "settled");
export const instanceLogPath = (dir: string, index: number) => path.join(dir, `instance-${index}.log`);

export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

// The fleet supervisor: a detached process that keeps a fleet's instances
// running, as an auto scaling group replaces instances that die. It outlives
// the Pulumi operation that started it and the Cutover server.
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import {
  type FleetSpec,
  type FleetStatus,
  instanceLogPath,
  readJson,
  specPath,
  statusPath,
  writeJsonAtomic,
} from "./fleet-spec";
import { identify, terminate, type ProcessIdentity } from "./process-identity";

const MAX_BACKOFF_MS = 10_000;
const STABLE_AFTER_MS = 30_000;

export function runSupervisor(dir: string): void {
  const spec = readJson<FleetSpec>(specPath(dir));
  if (!spec) throw new Error(`no fleet spec in ${dir}`);
  const self = identify(process.pid)!;
  const status: FleetStatus = {
    supervisor: self,
    state: "running",
    instances: spec.ports.map((port, index) => ({ index, port, restarts: 0 })),
  };
  const children = new Map<number, ChildProcess>();
  const startedAt = new Map<number, number>();
  const publish = () => writeJsonAtomic(statusPath(dir), status);

  const start = (index: number) => {
    if (status.state !== "running") return;
    const port = spec.ports[index];
    const log = openSync(instanceLogPath(dir, index), "a");
    const [cmd, ...args] = spec.artifact.command;
    const child = spawn(cmd, args, {
      cwd: spec.artifact.cwd,
      env: { ...process.env, ...spec.artifact.env, PORT: String(port), APP_VERSION: spec.version },
      stdio: ["ignore", log, log],
      detached: true,
    });
    closeSync(log);
    children.set(index, child);
    startedAt.set(index, Date.now());
    const instance = status.instances[index];
    if (child.pid) instance.process = identify(child.pid);
    publish();
    let ended = false;
    const onEnd = (reason: string) => {
      if (ended) return;
      ended = true;
      children.delete(index);
      instance.process = undefined;
      instance.lastExit = reason;
      if (status.state !== "running") return publish();
      const ranFor = Date.now() - (startedAt.get(index) ?? 0);
      if (ranFor > STABLE_AFTER_MS) instance.restarts = 0;
      instance.restarts += 1;
      publish();
      const backoff = Math.min(250 * 2 ** Math.min(instance.restarts, 6), MAX_BACKOFF_MS);
      setTimeout(() => start(index), backoff);
    };
    // A command that cannot be started (missing binary or cwd) fails like one that exits at once.
    child.on("error", (err) => onEnd(`could not start: ${err.message}`));
    child.on("exit", (code, sig) => onEnd(sig ? `signal ${sig}` : `exit code ${code}`));
  };

  const stop = async () => {
    if (status.state !== "running") return;
    status.state = "stopping";
    publish();
    const ids = status.instances.map((i) => i.process).filter((p): p is ProcessIdentity => !!p);
    await terminate(ids, spec.drainTimeoutMs);
    status.state = "stopped";
    publish();
    process.exit(0);
  };

  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  process.on("SIGHUP", () => undefined);
  spec.ports.forEach((_, i) => start(i));
}

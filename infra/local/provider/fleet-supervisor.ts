// The fleet supervisor: a detached process that keeps a fleet's instances
// running, as an auto scaling group replaces instances that die. It outlives
// the Pulumi operation that started it and the Cutover server. Until the
// fleet is settled it also owns the instances' ports: a port taken between
// its choice and the instance's bind is replaced, not retried with backoff.
// Its capacity changes when scale.json asks: added instances start on the
// ports given there (movable until settled), removed ones (the highest
// indexes) are drained and never restarted. With `runAs` in the spec the
// instances run as that user (the supervisor stays Cutover's own: it reads
// the spec, which may hold secrets, and opens the instances' log files).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import {
  type FleetScale,
  type FleetSpec,
  type FleetStatus,
  instanceLogPath,
  readJson,
  scalePath,
  settledPath,
  specPath,
  statusPath,
  writeJsonAtomic,
} from "./fleet-spec";
import { allocatePort } from "./port-allocation";
import { identify, terminate, type ProcessIdentity } from "./process-identity";
import { spawnIdentity } from "./run-as";
import { cleanEnv } from "./clean-env";

const MAX_BACKOFF_MS = 10_000;
const STABLE_AFTER_MS = 30_000;
// Each move is a fresh random pick outside the ephemeral range; needing more
// than this means something other than a race is wrong, and the ordinary
// crash handling (backoff, the controller's crash-loop check) takes over.
const MAX_PORT_MOVES = 5;
const SETTLED_POLL_MS = 100;
const PORT_TAKEN = /EADDRINUSE|address already in use/i;

export function runSupervisor(dir: string): void {
  const spec = readJson<FleetSpec>(specPath(dir));
  if (!spec) throw new Error(`no fleet spec in ${dir}`);
  const self = identify(process.pid)!;
  const status: FleetStatus = {
    supervisor: self,
    state: "running",
    settled: false,
    instances: spec.ports.map((port, index) => ({ index, port, restarts: 0 })),
  };
  const children = new Map<number, ChildProcess>();
  const startedAt = new Map<number, number>();
  const logOffset = new Map<number, number>();
  const portMoves = new Map<number, number>();
  const publish = () => writeJsonAtomic(statusPath(dir), status);

  // Polled rather than watched: a missed watch event would leave ports movable forever.
  const settleTimer = setInterval(() => {
    if (status.state !== "running") return;
    scaleTo(readJson<FleetScale>(scalePath(dir)));
    const count = settledMarker(dir, status.instances.length);
    if (count === undefined || count <= (status.settledCount ?? 0)) return;
    status.settledCount = count;
    status.settled = count >= status.instances.length;
    publish();
  }, SETTLED_POLL_MS);

  const scaleTo = (scale: FleetScale | undefined) => {
    if (!scale || !Number.isInteger(scale.replicas) || scale.replicas < 0 || scale.replicas === status.instances.length) return;
    if (scale.replicas > status.instances.length) {
      const from = status.instances.length;
      for (let index = from; index < scale.replicas; index++) status.instances.push({ index, port: scale.ports[index], restarts: 0 });
      status.settled = false;
      publish();
      for (let index = from; index < scale.replicas; index++) start(index);
      return;
    }
    const removed = status.instances.splice(scale.replicas);
    status.settledCount = Math.min(status.settledCount ?? 0, scale.replicas);
    status.settled = status.settledCount >= status.instances.length;
    publish();
    const ids = removed.map((i) => i.process).filter((p): p is ProcessIdentity => !!p);
    void terminate(ids, spec.drainTimeoutMs).then(() => publish());
  };

  const start = (index: number) => {
    if (status.state !== "running") return;
    const instance = status.instances[index];
    if (!instance) return;
    const logFile = instanceLogPath(dir, index);
    const log = openSync(logFile, "a", 0o600);
    logOffset.set(index, fstatSync(log).size);
    const [cmd, ...args] = spec.artifact.command;
    const child = spawn(cmd, args, {
      cwd: spec.artifact.cwd ?? spec.runAs?.home,
      env: { ...cleanEnv(spec.runAs), ...spec.artifact.env, PORT: String(instance.port), APP_VERSION: spec.version },
      stdio: ["ignore", log, log],
      detached: true,
      ...spawnIdentity(spec.runAs),
    });
    closeSync(log);
    children.set(index, child);
    startedAt.set(index, Date.now());
    if (child.pid) instance.process = identify(child.pid);
    publish();
    let ended = false;
    const onEnd = (reason: string) => {
      if (ended) return;
      ended = true;
      if (children.get(index) === child) children.delete(index);
      instance.process = undefined;
      instance.lastExit = reason;
      // An instance the fleet scaled away is not restarted.
      if (status.state !== "running" || status.instances[index] !== instance) return publish();
      if (mayMovePort(index) && portWasTaken(logFile, logOffset.get(index) ?? 0)) {
        publish();
        return void movePort(index);
      }
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

  // Before the fleet is settled no endpoint has been handed out, so an instance
  // has not been declared healthy anywhere and its port is still the supervisor's to change.
  const mayMovePort = (index: number) => index >= (status.settledCount ?? 0) && (portMoves.get(index) ?? 0) < MAX_PORT_MOVES;

  const movePort = async (index: number) => {
    const instance = status.instances[index];
    const from = instance.port;
    const others = status.instances.filter((i) => i.index !== index).map((i) => i.port);
    portMoves.set(index, (portMoves.get(index) ?? 0) + 1);
    const port = await allocatePort([from, ...others]).catch(() => from);
    // The fleet may have settled while the port was chosen; its ports are fixed from then on.
    if (index >= (status.settledCount ?? 0) && status.instances[index] === instance && port !== from) {
      instance.port = port;
      instance.lastExit = `port ${from} was taken; moved to ${port}`;
      publish();
    }
    start(index);
  };

  const stop = async () => {
    if (status.state !== "running") return;
    status.state = "stopping";
    clearInterval(settleTimer);
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

/** The settled marker's count: empty (a fleet settled whole at its start) means every instance there is now. */
function settledMarker(dir: string, instances: number): number | undefined {
  if (!existsSync(settledPath(dir))) return undefined;
  try {
    const text = readFileSync(settledPath(dir), "utf8").trim();
    return text === "" ? instances : Number.isInteger(Number(text)) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the output an instance wrote since `offset` says its port was in use. */
function portWasTaken(logFile: string, offset: number, maxBytes = 64 * 1024): boolean {
  let fd: number | undefined;
  try {
    const size = statSync(logFile).size;
    const from = Math.max(offset, size - maxBytes);
    if (size <= from) return false;
    const buf = Buffer.alloc(size - from);
    fd = openSync(logFile, "r");
    readSync(fd, buf, 0, buf.length, from);
    return PORT_TAKEN.test(buf.toString("utf8"));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

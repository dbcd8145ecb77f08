// An engine worker: a process of its own that runs the Pulumi operations
// (inline programs, the CLI and the providers it starts) its API process
// hands it, so the process that serves HTTP, holds leases and writes the
// journal never shares its CPU time or event loop with them. It runs at a
// lower CPU priority than the API, and so does everything it starts.
//
// Where asked to, it keeps the local target's provider running for all its
// operations (see resident-provider.ts). It lets no process of another user call the
// gRPC servers it and its provider listen with (see grpc-peer-guard.ts).
//
// It leads a process group of its own: the CLI and plugins it starts are
// in it (fleets and balancers start sessions of their own), so the API can
// stop a dead worker's processes together. When its API process goes away
// (the IPC channel closes), it stops them and itself: no engine work
// outlives the process that asked for it. Nor does it go on for a process
// that stopped answering (frozen, SIGSTOPped, starved): past the watchdog,
// shorter than the leases that process holds, the worker stops, so its
// operation cannot still be at work on a stack when another replica takes
// the environment over.
//
// Leading a session puts it in an autogroup of its own where the kernel
// has them (Linux's sched_autogroup): CPU time is shared between
// autogroups first and by nice only within one, so the worker lowers its
// autogroup's priority as well as its own; otherwise each busy worker
// would weigh as much as the whole API (see autogroupNiceness).
import "../../infra/compile-cache";
import { writeFileSync } from "node:fs";
import { setPriority } from "node:os";
import type { EngineOperation, FromWorker, ToWorker } from "./engine-protocol";
import { PulumiEngine } from "./pulumi-engine";
import { killSession } from "./file-backend";
import { startWatchdog } from "./watchdog";
import { autogroupNiceness, engineWorkersOnHost } from "./autogroup";
import { RESIDENT_PROVIDER, ResidentProvider } from "./resident-provider";
import { guardGrpcServers } from "../../infra/grpc-peer-guard";
import type { OperationOptions } from "../deployments/stack-engine";

// The inline programs' language servers answer only the CLI (a process of this user), never a fleet's process.
guardGrpcServers();

let engine: PulumiEngine | undefined;
let provider: ResidentProvider | undefined;

const priority = { niceness: 10, groupFloor: 10, group: undefined as number | undefined };

/** Lowers this process's priority and its autogroup's (lowering needs no privilege; a refusal, or no autogroups, leaves it as it is). */
function lowerPriority(niceness: number, groupNiceness: number): void {
  try {
    setPriority(niceness);
  } catch {
    // as it is
  }
  Object.assign(priority, { niceness, groupFloor: groupNiceness });
  weighAgainstHost();
}

/**
 * Sets the autogroup's nice from the engine workers running on the host
 * now, never above the API's weight its own pool was given: done before
 * each operation, as other replicas' workers come and go. Any nice from 0
 * up is allowed without privilege.
 */
function weighAgainstHost(): void {
  const wanted = Math.max(priority.groupFloor, autogroupNiceness(priority.niceness, Math.max(1, engineWorkersOnHost())));
  if (wanted === priority.group) return;
  try {
    writeFileSync("/proc/self/autogroup", String(wanted));
    priority.group = wanted;
  } catch {
    // no autogroups here
  }
}
const running = new Map<number, AbortController>();
let heardAt = Date.now();

function send(message: FromWorker): void {
  if (process.connected) process.send!(message);
}

/** The worker and everything it started: its process group, and the plugins in its session (each leads a group of its own). */
function stopGroup(): never {
  killSession(process.pid);
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {
    // not a group leader (started by hand): only this process
  }
  process.exit(1);
}

async function perform(engine: PulumiEngine, operation: EngineOperation, opts: OperationOptions): Promise<unknown> {
  switch (operation.op) {
    case "up":
      return engine.up(operation.stack, operation.program, { ...opts, refresh: operation.refresh });
    case "destroy":
      return engine.destroy(operation.stack, operation.program, opts);
    case "refresh":
      return engine.refresh(operation.stack, opts);
    case "preview":
      return engine.preview(operation.stack, operation.program, opts);
    case "resources":
      return engine.resources(operation.stack, { refresh: operation.refresh });
    case "outputs":
      return engine.outputs(operation.stack);
    case "exists":
      return engine.exists(operation.stack);
    case "repair":
      return engine.repair(operation.stack);
  }
}

/** What the provider runs with: what the CLI would have started its plugin with. */
function providerEnvironment(engine: PulumiEngine): () => NodeJS.ProcessEnv {
  return () => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...engine.environment() };
    delete env.PULUMI_DEBUG_PROVIDERS;
    return env;
  };
}

/** The engine attached to the worker's running provider; left to start its plugin when the provider cannot start. */
async function attached(engine: PulumiEngine): Promise<void> {
  if (!provider) return;
  try {
    engine.attachProviders({ [RESIDENT_PROVIDER]: await provider.port() });
  } catch (err) {
    engine.attachProviders({});
    process.stderr.write(`${JSON.stringify({ level: 40, msg: "engine worker: the resident provider did not start; the operation starts its plugin", err: String(err).slice(0, 300) })}\n`);
  }
}

function run(id: number, operation: EngineOperation): void {
  if (!engine) {
    send({ type: "failed", id, error: { message: "the engine worker was not initialised" } });
    return;
  }
  weighAgainstHost();
  const abort = new AbortController();
  running.set(id, abort);
  const ready = engine;
  attached(ready)
    .then(() => perform(ready, operation, { signal: abort.signal, onEvent: (event) => send({ type: "event", id, event }) }))
    .then(
      (value) => {
        running.delete(id);
        send({ type: "done", id, value: value ?? null });
      },
      (err: unknown) => {
        running.delete(id);
        // The provider may still be at work for an operation that ended badly: it goes, as a plugin goes with its CLI.
        provider?.stop();
        const error = err instanceof Error ? { message: err.message, name: err.name } : { message: String(err) };
        send({ type: "failed", id, error });
      },
    );
}

process.on("message", (message: ToWorker) => {
  heardAt = Date.now();
  switch (message.type) {
    case "ping":
      return;
    case "init":
      startWatchdog(message.watchdogMs, () => heardAt, (silentMs) => {
        process.stderr.write(`${JSON.stringify({ level: 50, msg: "engine worker: its server stopped answering; stopping its operation", silentMs })}\n`);
        stopGroup();
      });
      lowerPriority(message.niceness, message.groupNiceness);
      // The CLI inherits this process's priority: it is not lowered a second time.
      engine = new PulumiEngine({ ...message.settings, cliNiceness: 0 });
      provider = message.settings.residentProvider ? new ResidentProvider(providerEnvironment(engine)) : undefined;
      send({ type: "ready", pid: process.pid });
      return;
    case "run":
      run(message.id, message.operation);
      return;
    case "cancel":
      running.get(message.id)?.abort(new Error("the operation was cancelled"));
      return;
  }
});

process.on("disconnect", stopGroup);
// A late RPC failure of a finished program is no reason to stop a worker; the operation it belonged to has reported.
process.on("unhandledRejection", (reason) => {
  process.stderr.write(`${JSON.stringify({ level: 40, msg: "engine worker: unhandled rejection", reason: String(reason).slice(0, 500) })}\n`);
});

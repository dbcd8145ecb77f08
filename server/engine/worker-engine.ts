// The engine as the API process has it: every operation that runs a Pulumi
// program or starts the CLI is carried out by an engine worker, a child
// process of its own at a lower CPU priority (engine-worker-main.ts), one
// operation per worker at a time. The API process keeps only what is
// cheap and local: looking at the file backend's stacks and locks, and
// mending what a killed engine left half-written.
//
// A worker that dies mid-operation (killed, out of memory) costs the
// operation nothing it cannot get back: the worker's processes are
// stopped together, the state files mended, the stack's lock and pending
// operations cleared, what the dead operation half-made removed (the
// `interrupted` hook), and the operation runs once more in a new worker.
// Every operation is declarative or idempotent, so running it again
// converges on the same state.
import { AsyncResource } from "node:async_hooks";
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { EngineOperation, FromWorker, ToWorker, WorkerError } from "./engine-protocol";
import { PulumiEngine, type EngineSettings } from "./pulumi-engine";
import { projectRoot } from "./toolchain";
import type { StackProgram } from "../../infra/programs";
import type { EngineProgress, OperationOptions, RefreshChanges, ResourceState, StackEngine, StackOutputs } from "../deployments/stack-engine";
import { engineGroups, faultFires } from "../fault-injection";
import { pollUntilGone } from "../../infra/poll";

export interface WorkerEngineOptions {
  settings: EngineSettings;
  /** Workers alive at most; each runs one operation at a time, and the rest wait. */
  maxWorkers: number;
  /** How much lower than the API the workers (and all they start) run. */
  niceness: number;
  /** A worker idle this long exits (one is kept). */
  idleMs?: number;
  /** A worker is replaced after this many operations, so no worker's memory grows without end. */
  recycleAfter?: number;
  /**
   * A worker that has not heard from this process for this long stops,
   * with all it started (this process is frozen or starved). Keep it
   * shorter than the leases this process holds. 5 s by default.
   */
  watchdogMs?: number;
  log?: (level: "info" | "warn", data: Record<string, unknown>, message: string) => void;
  /** Removes what an operation a worker died in had half-made on the stack's target; awaited before the operation runs again. */
  interrupted?: (stack: string) => Promise<void>;
  /**
   * Whether the caller may still act on the stack (asked in the caller's
   * async context before a dead worker's stack is repaired): a replica that
   * was frozen while another took its environment over must not touch the
   * stack the other now works on.
   */
  stillHolds?: () => Promise<boolean>;
}

/** The worker running an operation died before it ended. */
export class EngineWorkerDied extends Error {
  constructor(
    readonly operation: EngineOperation["op"],
    readonly stack: string,
    readonly exit: string,
  ) {
    super(`the engine worker running ${operation} of ${stack} died (${exit})`);
    this.name = "EngineWorkerDied";
  }
}

class WorkerFailure extends Error {
  constructor(error: WorkerError) {
    super(error.message);
    if (error.name) this.name = error.name;
  }
}

interface Pending {
  operation: EngineOperation;
  resolve(value: unknown): void;
  reject(err: Error): void;
  onEvent?(event: EngineProgress): void;
}

/** The entry point of a worker, compiled; under ts-jest this file is a .ts and the worker is taken from the build. */
const WORKER_SCRIPT = __filename.endsWith(".ts")
  ? path.join(projectRoot, "dist", "server", "engine", "engine-worker-main.js")
  : path.join(__dirname, "engine-worker-main.js");

/** Cutover's own settings a worker needs (the rest of the API's CUTOVER_* settings, its secrets among them, stay out). */
const PASSED_SETTINGS = ["CUTOVER_LOCAL_RUN_AS", "CUTOVER_PROXY_BIN", "CUTOVER_PULUMI_BIN"];

class EngineWorker {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Taken for an operation (from the moment it is handed out until the operation ends). */
  busy = false;
  current?: { id: number; pending: Pending };
  operations = 0;
  idleSince = Date.now();
  exited = false;
  /** Stopped on purpose (idle, recycled, shut down): its exit is no failure. */
  stopping = false;
  readonly gone: Promise<string>;

  constructor(settings: EngineSettings, niceness: number, pulumiHome: string, watchdogMs: number) {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("CUTOVER_") || PASSED_SETTINGS.includes(k)) env[k] = v;
    // The marker a restarted server finds a dead server's engine processes by.
    env.PULUMI_HOME = pulumiHome;
    this.child = fork(WORKER_SCRIPT, [], { detached: true, stdio: ["ignore", "inherit", "inherit", "ipc"], env, execArgv: [], serialization: "advanced" });
    this.pid = this.child.pid!;
    engineGroups.add(this.pid);
    this.gone = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        this.exited = true;
        resolve(signal ?? `exit code ${code}`);
      }),
    );
    // A worker that could not be started, or whose channel broke, ends like one that died.
    this.child.on("error", () => this.child.kill("SIGKILL"));
    this.send({ type: "init", settings, niceness, watchdogMs });
  }

  send(message: ToWorker): void {
    // A message to a worker dying at that moment is lost with it: its exit ends what was asked of it.
    if (this.child.connected) this.child.send(message, (err) => err && this.child.kill("SIGKILL"));
  }

  /** Stops the worker and every process of its group (the CLI and plugins it started); resolves once the worker is gone. */
  async stop(): Promise<void> {
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
    await this.gone;
    await groupGone(this.pid, 2000);
    engineGroups.delete(this.pid);
  }
}

export class WorkerEngine implements StackEngine {
  /** What the API process does itself: file-backend lookups and mending. */
  private readonly local: PulumiEngine;
  private readonly workers = new Set<EngineWorker>();
  private readonly queue: (() => void)[] = [];
  private nextId = 1;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly pingTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: WorkerEngineOptions) {
    this.local = new PulumiEngine(opts.settings);
    this.idleTimer = setInterval(() => this.retireIdle(), Math.min(opts.idleMs ?? 30_000, 10_000));
    this.idleTimer.unref();
    this.pingTimer = setInterval(() => this.workers.forEach((w) => w.send({ type: "ping" })), Math.max(50, Math.floor(this.watchdogMs / 3)));
    this.pingTimer.unref();
  }

  private get watchdogMs(): number {
    return this.opts.watchdogMs ?? 5000;
  }

  /** The workers' pids, for tests and metrics. */
  get workerPids(): number[] {
    return [...this.workers].filter((w) => !w.exited).map((w) => w.pid);
  }

  up(stackName: string, program: StackProgram, opts: OperationOptions = {}): Promise<StackOutputs> {
    return this.operate({ op: "up", stack: stackName, program, refresh: opts.refresh }, opts) as Promise<StackOutputs>;
  }

  async destroy(stackName: string, program: StackProgram, opts: OperationOptions = {}): Promise<void> {
    if (!(await this.exists(stackName))) return;
    await this.operate({ op: "destroy", stack: stackName, program }, opts);
  }

  refresh(stackName: string, opts: OperationOptions = {}): Promise<RefreshChanges> {
    return this.operate({ op: "refresh", stack: stackName }, opts) as Promise<RefreshChanges>;
  }

  resources(stackName: string, opts: { refresh?: boolean } = {}): Promise<ResourceState[]> {
    return this.operate({ op: "resources", stack: stackName, refresh: opts.refresh }, {}) as Promise<ResourceState[]>;
  }

  outputs(stackName: string): Promise<StackOutputs> {
    return this.operate({ op: "outputs", stack: stackName }, {}) as Promise<StackOutputs>;
  }

  async exists(stackName: string): Promise<boolean> {
    // On the own file backend a lookup is a file check, done here; elsewhere it takes the CLI.
    if (this.local.backendUrl === `file://${path.join(this.opts.settings.dataDir, "state")}`) return this.local.exists(stackName);
    return (await this.operate({ op: "exists", stack: stackName }, {})) as boolean;
  }

  isLocked(stackName: string): Promise<boolean | undefined> {
    return this.local.isLocked(stackName);
  }

  repair(stackName: string): Promise<{ cancelled: boolean; pendingCleared: number }> {
    return this.operate({ op: "repair", stack: stackName }, {}) as Promise<{ cancelled: boolean; pendingCleared: number }>;
  }

  /** A previous server's engine processes (its workers among them), never this one's own workers. */
  killOrphanedProcesses(): number[] {
    const own = new Set(this.workerPids);
    return this.local.killOrphanedProcesses().filter((pid) => !own.has(pid));
  }

  mendInterruptedWrites(): string[] {
    return this.local.mendInterruptedWrites();
  }

  /** Stops every worker (and what they started); operations under way fail. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.idleTimer);
    clearInterval(this.pingTimer);
    for (const w of this.workers) w.stopping = true;
    await Promise.all([...this.workers].map((w) => w.stop()));
  }

  /** One operation, run once more in a new worker if its worker died (after the stack is repaired). */
  private async operate(operation: EngineOperation, opts: OperationOptions): Promise<unknown> {
    try {
      return await this.once(operation, opts);
    } catch (err) {
      if (!(err instanceof EngineWorkerDied) || opts.signal?.aborted || this.closed) throw err;
      if (this.opts.stillHolds && !(await this.opts.stillHolds())) throw err;
      await this.afterDeath(operation.stack, err);
      opts.onEvent?.({
        type: "engine:diagnostic",
        data: { severity: "warning", message: `${err.message}; its processes were stopped and the stack repaired, and the operation runs again` },
      });
      return this.once(operation, opts);
    }
  }

  /** What a dead worker's operation left: half-written state files, the stack's lock and pending operations, half-made resources. */
  private async afterDeath(stack: string, death: EngineWorkerDied): Promise<void> {
    const mended = this.local.mendInterruptedWrites();
    const repaired = await this.once({ op: "repair", stack }, {});
    this.opts.log?.("warn", { stack, operation: death.operation, exit: death.exit, mended, repaired }, "an engine worker died mid-operation; its stack was repaired");
    await this.opts.interrupted?.(stack);
  }

  private async once(operation: EngineOperation, opts: OperationOptions): Promise<unknown> {
    if (this.closed) throw new Error("the engine is shut down");
    if (opts.signal?.aborted) throw opts.signal.reason;
    const worker = await this.take(opts.signal);
    const id = this.nextId++;
    let faultArmed = opts.faultPoint !== undefined;
    const onAbort = () => worker.send({ type: "cancel", id });
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await new Promise((resolve, reject) => {
        worker.current = {
          id,
          pending: {
            operation,
            resolve,
            reject,
            // Progress is delivered in the caller's async context (its lease's fence among it), not the IPC channel's.
            onEvent: AsyncResource.bind((event: EngineProgress) => {
              opts.onEvent?.(event);
              // Fault injection: the worker (and its group) dies once at work on its first resource.
              if (faultArmed && event.type === "engine:step_started") {
                faultArmed = false;
                if (faultFires(`worker:${opts.faultPoint}`)) void worker.stop();
              }
            }),
          },
        };
        worker.send({ type: "run", id, operation });
      });
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      worker.current = undefined;
      worker.busy = false;
      worker.idleSince = Date.now();
      this.give(worker);
    }
  }

  /** An idle worker, a new one while there is room, or the next to come free. */
  private async take(signal?: AbortSignal): Promise<EngineWorker> {
    for (;;) {
      const idle = [...this.workers].find((w) => !w.busy && !w.exited);
      const worker = idle ?? (this.workers.size < this.opts.maxWorkers ? this.spawn() : undefined);
      if (worker) {
        worker.busy = true;
        return worker;
      }
      await new Promise<void>((resolve, reject) => {
        const waiter = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          this.queue.splice(this.queue.indexOf(waiter) >>> 0, 1);
          reject(signal!.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.queue.push(waiter);
      });
    }
  }

  /** A worker back from an operation: replaced once it has run its share, then handed to the next waiting. */
  private give(worker: EngineWorker): void {
    worker.operations += 1;
    if (!worker.exited && worker.operations >= (this.opts.recycleAfter ?? 100)) {
      this.workers.delete(worker);
      worker.stopping = true;
      void worker.stop();
    }
    this.queue.shift()?.();
  }

  private spawn(): EngineWorker {
    const worker = new EngineWorker(this.opts.settings, this.opts.niceness, this.local.pulumiHome, this.watchdogMs);
    this.workers.add(worker);
    worker.child.on("message", (message: FromWorker) => {
      const current = worker.current;
      if (message.type === "ready" || !current || current.id !== message.id) return;
      if (message.type === "event") current.pending.onEvent?.(message.event);
      else if (message.type === "done") current.pending.resolve(message.value ?? undefined);
      else current.pending.reject(new WorkerFailure(message.error));
    });
    void worker.gone.then(async (exit) => {
      this.workers.delete(worker);
      const pending = worker.current?.pending;
      // What it started dies with it (the CLI would otherwise go on holding the stack's lock).
      await worker.stop();
      if (pending) pending.reject(new EngineWorkerDied(pending.operation.op, pending.operation.stack, exit));
      else if (!this.closed && !worker.stopping) this.opts.log?.("info", { pid: worker.pid, exit }, "an idle engine worker exited");
      this.queue.shift()?.();
    });
    return worker;
  }

  private retireIdle(): void {
    const idleMs = this.opts.idleMs ?? 30_000;
    const idle = [...this.workers].filter((w) => !w.busy && !w.exited).sort((a, b) => b.idleSince - a.idleSince);
    // The most recently used stays warm; the others go once idle long enough.
    for (const worker of idle.slice(1)) {
      if (Date.now() - worker.idleSince < idleMs) continue;
      this.workers.delete(worker);
      worker.stopping = true;
      void worker.stop();
    }
  }
}

/** Waits until no process of the group is left (or the time is up). */
async function groupGone(pgid: number, withinMs: number): Promise<void> {
  await pollUntilGone(() => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }, withinMs);
}

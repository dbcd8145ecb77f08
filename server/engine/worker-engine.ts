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
import path from "node:path";
import type { EngineOperation, FromWorker } from "./engine-protocol";
import { EngineWorker, EngineWorkerDied, WorkerFailure } from "./engine-worker";
import { PulumiEngine, type EngineSettings } from "./pulumi-engine";
import type { StackProgram } from "../../infra/programs";
import type { EngineProgress, OperationOptions, RefreshChanges, ResourceChange, ResourceState, StackEngine, StackOutputs, StackRepair } from "../deployments/stack-engine";
import { faultFires } from "../fault-injection";

export interface WorkerEngineOptions {
  settings: EngineSettings;
  /** Workers alive at most; each runs one operation at a time, and the rest wait. */
  maxWorkers: number;
  /** How much lower than the API the workers (and all they start) run. */
  niceness: number;
  /**
   * How much lower each worker's autogroup runs, where the kernel groups
   * sessions for CPU time (see autogroupNiceness); the workers' own by default.
   */
  groupNiceness?: number;
  /** A worker idle this long exits (one is kept). */
  idleMs?: number;
  /** How long an aborted operation has to end by Pulumi's own cancel before its worker is stopped (default 1 s). */
  abortGraceMs?: number;
  /** A worker is replaced after this many operations, so no worker's memory grows without end. */
  recycleAfter?: number;
  /**
   * A worker that has not heard from this process for this long stops,
   * with all it started (this process is frozen or starved). Keep it
   * shorter than the leases this process holds. 5 s by default.
   */
  watchdogMs?: number;
  log?: (level: "info" | "warn", data: Record<string, unknown>, message: string) => void;
  /**
   * Removes what an operation a worker died in had half-made on the
   * stack's target, reading stacks through this engine; awaited before the
   * operation runs again.
   */
  interrupted?: (stack: string, engine: StackEngine) => Promise<void>;
  /**
   * Whether the caller may still act on the stack (asked in the caller's
   * async context before a dead worker's stack is repaired): a replica that
   * was frozen while another took its environment over must not touch the
   * stack the other now works on.
   */
  stillHolds?: () => Promise<boolean>;
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

  preview(stackName: string, program: StackProgram, opts: OperationOptions = {}): Promise<ResourceChange[]> {
    return this.operate({ op: "preview", stack: stackName, program }, opts) as Promise<ResourceChange[]>;
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

  repair(stackName: string): Promise<StackRepair> {
    return this.operate({ op: "repair", stack: stackName }, {}) as Promise<StackRepair>;
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
      if (!(err instanceof EngineWorkerDied) || this.closed) throw err;
      if (this.opts.stillHolds && !(await this.opts.stillHolds())) throw err;
      if (opts.signal?.aborted) {
        // Stopped on the caller's word (its deadline, an abort): what the operation half-made goes before the caller goes on.
        await this.afterDeath(operation.stack, err);
        throw opts.signal.reason;
      }
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
    // A preview writes nothing to its stack, which another operation may hold: only the stack made for it goes (mended above).
    if (death.operation === "preview") return;
    const repaired = await this.once({ op: "repair", stack }, {});
    this.opts.log?.("warn", { stack, operation: death.operation, exit: death.exit, mended, repaired }, "an engine worker died mid-operation; its stack was repaired");
    await this.opts.interrupted?.(stack, this);
  }

  private async once(operation: EngineOperation, opts: OperationOptions): Promise<unknown> {
    if (this.closed) throw new Error("the engine is shut down");
    if (opts.signal?.aborted) throw opts.signal.reason;
    const worker = await this.take(opts.signal);
    const id = this.nextId++;
    let faultArmed = opts.faultPoint !== undefined;
    let hardStop: NodeJS.Timeout | undefined;
    const onAbort = () => {
      worker.send({ type: "cancel", id });
      // Pulumi's cancel waits for the resource at work (a fleet waiting out its health check's start timeout):
      // past a moment's grace the worker and all it started stop, as in a crash, and the stack is repaired.
      hardStop = setTimeout(() => void worker.stop(), this.opts.abortGraceMs ?? 1000);
      hardStop.unref();
    };
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
      clearTimeout(hardStop);
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
    const worker = new EngineWorker(this.opts.settings, { own: this.opts.niceness, group: this.opts.groupNiceness ?? this.opts.niceness }, this.local.pulumiHome, this.watchdogMs);
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

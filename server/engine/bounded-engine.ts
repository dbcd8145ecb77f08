// The engine as the domain gets it: every operation that starts Pulumi's
// CLI and providers (up, destroy, refresh, a refreshed read) takes one of
// the replica's engine slots first. Destroys, traffic-stack updates and
// refreshed reads of the traffic stack (what a rollback, a retirement and a
// traffic change do) are urgent and go before new fleets; the rest (new
// fleets, refreshes) is served round-robin across environments. Bookkeeping
// asks whether the engine is busy first and waits for a quiet moment, so
// it never takes a slot a deployment waits for.
// A wait shows in the operation's events (`engine:waiting`, then
// `engine:slot_granted`), so a deployment says why it is not moving.
import type { StackProgram } from "../../infra/programs";
import type { EngineSlots, SlotPriority } from "./engine-slots";
import type { OperationOptions, RefreshChanges, ResourceChange, ResourceState, StackEngine, StackOutputs, StackRepair } from "../deployments/stack-engine";

/** `<environment>.<blue|green|traffic|job>` → the environment and whether its traffic is at stake. */
function stackParts(stackName: string): { environment: string; traffic: boolean } {
  const dot = stackName.lastIndexOf(".");
  return { environment: dot > 0 ? stackName.slice(0, dot) : stackName, traffic: stackName.endsWith(".traffic") };
}

export class BoundedEngine implements StackEngine {
  constructor(
    private readonly inner: StackEngine,
    readonly slots: EngineSlots,
  ) {}

  up(stackName: string, program: StackProgram, opts: OperationOptions = {}): Promise<StackOutputs> {
    return this.bounded(stackName, stackParts(stackName).traffic ? "urgent" : "normal", opts, () => this.inner.up(stackName, program, opts));
  }

  destroy(stackName: string, program: StackProgram, opts: OperationOptions = {}): Promise<void> {
    return this.bounded(stackName, "urgent", opts, () => this.inner.destroy(stackName, program, opts));
  }

  /** A refresh changes nothing at the target (a drift check, the record of direct changes): it waits with new fleets. */
  refresh(stackName: string, opts: OperationOptions = {}): Promise<RefreshChanges> {
    return this.bounded(stackName, "normal", opts, () => this.inner.refresh(stackName, opts));
  }

  preview(stackName: string, program: StackProgram, opts: OperationOptions = {}): Promise<ResourceChange[]> {
    const inner = this.inner;
    if (!inner.preview) return Promise.reject(new Error("this engine cannot preview"));
    return this.bounded(stackName, "normal", opts, () => inner.preview!(stackName, program, opts));
  }

  resources(stackName: string, opts?: { refresh?: boolean }): Promise<ResourceState[]> {
    if (!opts?.refresh) return this.inner.resources(stackName, opts);
    return this.bounded(stackName, "urgent", {}, () => this.inner.resources(stackName, opts));
  }

  outputs(stackName: string): Promise<StackOutputs> {
    return this.inner.outputs(stackName);
  }

  exists(stackName: string): Promise<boolean> {
    return this.inner.exists(stackName);
  }

  isLocked(stackName: string): Promise<boolean | undefined> {
    return this.inner.isLocked ? this.inner.isLocked(stackName) : Promise.resolve(undefined);
  }

  repair(stackName: string): Promise<StackRepair> {
    return this.inner.repair(stackName);
  }

  busy(): boolean {
    const { running, waiting, limit } = this.slots.load;
    return waiting > 0 || running >= limit;
  }

  killOrphanedProcesses(): number[] {
    return this.inner.killOrphanedProcesses();
  }

  mendInterruptedWrites(): string[] {
    return this.inner.mendInterruptedWrites?.() ?? [];
  }

  private async bounded<T>(stackName: string, priority: SlotPriority, opts: OperationOptions, run: () => Promise<T>): Promise<T> {
    const waitedFrom = Date.now();
    let waited = false;
    const release = await this.slots.acquire(stackParts(stackName).environment, priority, {
      signal: opts.signal,
      onWait: (w) => {
        waited = true;
        opts.onEvent?.({ type: "engine:waiting", data: { stack: stackName, priority, position: w.position, running: w.running, limit: w.limit } });
      },
    });
    try {
      if (waited) opts.onEvent?.({ type: "engine:slot_granted", data: { stack: stackName, waitedMs: Date.now() - waitedFrom } });
      return await run();
    } finally {
      release();
    }
  }
}

// What the orchestrator needs from a Pulumi engine. PulumiEngine is the
// real one; tests of cloud targets run programs under Pulumi's mocks
// through another implementation.
import type { EngineEvent, PulumiFn } from "@pulumi/pulumi/automation";

export interface OperationOptions {
  onEvent?: (event: EngineEvent) => void;
  signal?: AbortSignal;
}

export type StackOutputs = Record<string, unknown>;

export interface StackEngine {
  up(stackName: string, program: PulumiFn, opts?: OperationOptions): Promise<StackOutputs>;
  /** Destroys every resource of the stack, then removes the stack. A missing stack is fine. */
  destroy(stackName: string, program: PulumiFn, opts?: OperationOptions): Promise<void>;
  outputs(stackName: string, program: PulumiFn): Promise<StackOutputs>;
  exists(stackName: string): Promise<boolean>;
  /** Clears a stack's stale lock and pending operations after a crash. */
  repair(stackName: string): Promise<{ cancelled: boolean; pendingCleared: number }>;
  /** Stops engine processes a previous server left; returns their pids. */
  killOrphanedProcesses(): number[];
}

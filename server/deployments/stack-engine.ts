// What the orchestrator needs from a Pulumi engine. Programs are given as
// data (which program, its inputs), so the engine may run them in another
// process: WorkerEngine runs them in engine workers, PulumiEngine in its
// own process; tests of cloud targets run them under Pulumi's mocks.
import type { StackProgram } from "../../infra/programs";
import { crashPoint } from "../fault-injection";
import type { ResourceChange } from "./model";

export type { ResourceChange } from "./model";

/** What a deployment's journal keeps of an engine's progress: resource steps and error diagnostics. */
export interface EngineProgress {
  type: "engine:step_started" | "engine:step_done" | "engine:step_failed" | "engine:diagnostic" | "engine:waiting" | "engine:slot_granted";
  data: Record<string, unknown>;
}

export interface OperationOptions {
  /** Called as the engine works on resources (unchanged resources and the stack itself are left out). */
  onEvent?: (event: EngineProgress) => void;
  signal?: AbortSignal;
  /** Read every resource back from reality before computing the change (`up --refresh`). */
  refresh?: boolean;
  /** A fault-injection point the engine worker running the operation dies at, once at work on its first resource. */
  faultPoint?: string;
}

/** One custom resource as a stack's state records it. */
export interface ResourceState {
  urn: string;
  type: string;
  outputs: Record<string, unknown>;
}

export type StackOutputs = Record<string, unknown>;

/** Resources a refresh found changed outside the stack, counted by change ("update", "delete"); unchanged ones are left out. */
export type RefreshChanges = Record<string, number>;

/** What a repair did: a stale lock removed, pending operations resolved, the IDs of objects a pending create had made, now the stack's. */
export interface StackRepair {
  cancelled: boolean;
  pendingCleared: number;
  imported?: string[];
}

export interface StackEngine {
  up(stackName: string, program: StackProgram, opts?: OperationOptions): Promise<StackOutputs>;
  /** Destroys every resource of the stack, then removes the stack. A missing stack is fine. */
  destroy(stackName: string, program: StackProgram, opts?: OperationOptions): Promise<void>;
  outputs(stackName: string): Promise<StackOutputs>;
  /** The stack's custom resources as its state records them; with `refresh`, read back from the target first. */
  resources(stackName: string, opts?: { refresh?: boolean }): Promise<ResourceState[]>;
  /** Reads every resource back from the target into the stack's state; returns what that changed. A missing stack changes nothing. */
  refresh(stackName: string, opts?: OperationOptions): Promise<RefreshChanges>;
  exists(stackName: string): Promise<boolean>;
  /**
   * `pulumi preview` of the program against the stack: the resources it
   * would create, change or delete, unchanged ones left out. A stack that
   * does not exist yet is previewed as new, and left as it was (absent).
   */
  preview?(stackName: string, program: StackProgram, opts?: OperationOptions): Promise<ResourceChange[]>;
  /** Whether the stack holds an update lock; undefined where the backend cannot tell cheaply. */
  isLocked?(stackName: string): Promise<boolean | undefined>;
  /** Clears a stack's stale lock and pending operations after a crash (a create whose object may exist is imported). */
  repair(stackName: string): Promise<StackRepair>;
  /** Stops engine processes a previous server left; returns their pids. */
  killOrphanedProcesses(): number[];
  /**
   * Mends state files that a killed engine process left half-written (an
   * empty sidecar, a truncated checkpoint, a temporary file), where the
   * backend keeps them on this machine; returns what it mended.
   */
  mendInterruptedWrites?(): string[];
  /**
   * Whether engine work waits for room now (every slot taken, or operations
   * queued): bookkeeping that can wait, such as recording direct traffic
   * changes in the traffic stack, is left for a quieter moment.
   */
  busy?(): boolean;
}

/** The operation's options with `point` fired once the engine is at work on its first resource. */
export function crashPointAtFirstStep(ops: OperationOptions, point: string): OperationOptions {
  let fired = false;
  return {
    ...ops,
    faultPoint: point,
    onEvent: (e) => {
      ops.onEvent?.(e);
      if (!fired && e.type === "engine:step_started") {
        fired = true;
        crashPoint(point, { withEngine: true });
      }
    },
  };
}

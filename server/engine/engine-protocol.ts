// The narrow, typed interface between the API process and its engine
// workers: the API asks for one stack operation at a time, the worker
// streams the operation's progress and ends it with its result or error.
// Messages travel over the worker's IPC channel (never argv, environment
// or logs: the settings carry the state passphrase).
import type { StackProgram } from "../../infra/programs";
import type { EngineSettings } from "./pulumi-engine";
import type { EngineProgress } from "../deployments/stack-engine";

export type EngineOperation =
  | { op: "up"; stack: string; program: StackProgram; refresh?: boolean }
  | { op: "destroy"; stack: string; program: StackProgram }
  | { op: "refresh"; stack: string }
  | { op: "preview"; stack: string; program: StackProgram }
  | { op: "resources"; stack: string; refresh?: boolean }
  | { op: "outputs"; stack: string }
  | { op: "exists"; stack: string }
  | { op: "repair"; stack: string };

export type ToWorker =
  /** The first message: how the worker's engine runs (the state passphrase among it). */
  | { type: "init"; settings: EngineSettings; niceness: number; groupNiceness: number; watchdogMs: number }
  /** The API process is alive and answering (sent every third of the watchdog). */
  | { type: "ping" }
  | { type: "run"; id: number; operation: EngineOperation }
  | { type: "cancel"; id: number };

export interface WorkerError {
  message: string;
  name?: string;
}

export type FromWorker =
  | { type: "ready"; pid: number }
  | { type: "event"; id: number; event: EngineProgress }
  | { type: "done"; id: number; value: unknown }
  | { type: "failed"; id: number; error: WorkerError };

// One engine worker as the API process holds it: the child process, its
// typed messages, and the stop that takes every process of its group with
// it (the Pulumi CLI and the plugins it started).
import { WORKER_SCRIPT_NAME } from "./autogroup";
import { killSession } from "./file-backend";
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { EngineOperation, ToWorker, WorkerError } from "./engine-protocol";
import type { EngineSettings } from "./pulumi-engine";
import { projectRoot } from "./toolchain";
import type { EngineProgress } from "../deployments/stack-engine";
import { engineGroups } from "../fault-injection";
import { pollUntilGone } from "../../infra/poll";

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

export class WorkerFailure extends Error {
  constructor(error: WorkerError) {
    super(error.message);
    if (error.name) this.name = error.name;
  }
}

export interface Pending {
  operation: EngineOperation;
  resolve(value: unknown): void;
  reject(err: Error): void;
  onEvent?(event: EngineProgress): void;
}

/** The entry point of a worker, compiled; under ts-jest this file is a .ts and the worker is taken from the build. */
const WORKER_SCRIPT = path.join(__filename.endsWith(".ts") ? path.join(projectRoot, "dist", "server", "engine") : __dirname, `${WORKER_SCRIPT_NAME}js`);

/** Cutover's own settings a worker needs (the rest of the API's CUTOVER_* settings, its secrets among them, stay out). */
const PASSED_SETTINGS = ["CUTOVER_LOCAL_RUN_AS", "CUTOVER_PROXY_BIN", "CUTOVER_PULUMI_BIN"];

export class EngineWorker {
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

  constructor(settings: EngineSettings, niceness: { own: number; group: number }, pulumiHome: string, watchdogMs: number) {
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
    this.send({ type: "init", settings, niceness: niceness.own, groupNiceness: niceness.group, watchdogMs });
  }

  send(message: ToWorker): void {
    // A message to a worker dying at that moment is lost with it: its exit ends what was asked of it.
    if (this.child.connected) this.child.send(message, (err) => err && this.child.kill("SIGKILL"));
  }

  /** Stops the worker and every process of its session (the CLI and the plugins it started); resolves once the worker is gone. */
  async stop(): Promise<void> {
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
    // The plugins lead process groups of their own, in the worker's session.
    killSession(this.pid);
    await this.gone;
    await groupGone(this.pid, 2000);
    engineGroups.delete(this.pid);
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

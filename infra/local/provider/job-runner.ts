// A one-off job (a deployment's pre-deploy step) as a local process: its
// own process group, output kept in a log file under the runtime directory,
// killed (group and all) when its timeout passes or the caller aborts. The
// job is named by pid and start time, so a restarted Cutover can stop a
// job whose deployment a crash interrupted.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { cleanEnv } from "./clean-env";
import { identify, isAlive, signal, waitForExit, type ProcessIdentity } from "./process-identity";

export interface LocalJob {
  command: string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs: number;
  /** The job's output goes here. */
  logFile: string;
}

export interface LocalJobResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The end of the job's output. */
  output: string;
}

const KILL_GRACE_MS = 5_000;

export async function runLocalJob(job: LocalJob, opts: { signal?: AbortSignal; onStart?: (id: ProcessIdentity) => Promise<void> }): Promise<LocalJobResult> {
  mkdirSync(path.dirname(job.logFile), { recursive: true });
  const log = openSync(job.logFile, "a");
  const [cmd, ...args] = job.command;
  const child = spawn(cmd, args, { cwd: job.cwd, env: { ...cleanEnv(), ...job.env }, stdio: ["ignore", log, log], detached: true });
  closeSync(log);
  const exited = new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
    child.once("exit", (code, sig) => resolve({ code, signal: sig }));
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
  });
  const id = child.pid ? identify(child.pid) : undefined;
  let timedOut = false;
  const stop = () => {
    if (!id) return;
    signal(id, "SIGTERM");
    void waitForExit([id], KILL_GRACE_MS).then((gone) => gone || signal(id, "SIGKILL"));
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, job.timeoutMs);
  opts.signal?.addEventListener("abort", stop, { once: true });
  try {
    if (id) await opts.onStart?.(id);
    const end = await exited;
    if (end.error) return { exitCode: null, signal: null, timedOut: false, output: `the job could not start: ${end.error.message}` };
    return { exitCode: end.code, signal: end.signal, timedOut, output: tail(job.logFile) };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", stop);
  }
}

/** Stops a job left running by a process that is gone (its group and all). */
export async function stopLocalJob(id: ProcessIdentity): Promise<void> {
  if (!isAlive(id)) return;
  signal(id, "SIGTERM");
  if (!(await waitForExit([id], KILL_GRACE_MS))) signal(id, "SIGKILL");
}

function tail(file: string, bytes = 2048): string {
  try {
    const text = readFileSync(file, "utf8");
    return text.slice(-bytes);
  } catch {
    return "";
  }
}

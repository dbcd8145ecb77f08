// A one-off job (a deployment's pre-deploy step) as a local process: its
// own process group, output kept in a log file under the runtime directory,
// killed (group and all) when its timeout passes or the caller aborts. The
// job is named by pid and start time, so a restarted Cutover can stop a
// job whose deployment a crash interrupted. With `runAs` the job runs as
// that user (root signals it all the same); its log file is opened here and
// handed over, so the user needs no access to the runtime directory.
import { spawn } from "node:child_process";
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { cleanEnv } from "./clean-env";
import { identify, isAlive, signal, waitForExit, type ProcessIdentity } from "./process-identity";
import { guardLoopback } from "./loopback-guard";
import { spawnIdentity, type RunAs } from "./run-as";
import { unreachableFor } from "./run-as-access";

export interface LocalJob {
  command: string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs: number;
  /** The job's output goes here. */
  logFile: string;
  /** The user the job runs as; absent, Cutover's own. */
  runAs?: RunAs;
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
  const env = { ...cleanEnv(job.runAs), ...job.env };
  const cwd = job.cwd ?? job.runAs?.home;
  const unreachable = job.runAs && (unreachableFor(job.runAs, { command: job.command, cwd: cwd!, searchPath: env.PATH }) ?? (await guardLoopback(job.runAs)));
  if (unreachable) {
    const output = `the job could not start: ${unreachable}`;
    appendFileSync(job.logFile, `${output}\n`);
    return { exitCode: null, signal: null, timedOut: false, output };
  }
  const log = openSync(job.logFile, "a");
  const [cmd, ...args] = job.command;
  const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", log, log], detached: true, ...spawnIdentity(job.runAs) });
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

/** The end of the output from a line's start, so no secret the caller scrubs is cut in two. */
function tail(file: string, bytes = 2048): string {
  try {
    const text = readFileSync(file, "utf8");
    if (text.length <= bytes) return text;
    const end = text.slice(-bytes);
    return end.slice(end.indexOf("\n") + 1);
  } catch {
    return "";
  }
}

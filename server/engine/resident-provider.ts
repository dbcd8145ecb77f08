// The local target's `cutover` provider, kept running by an engine worker
// for all of its operations instead of started by the Pulumi CLI for each
// one: the CLI attaches to it (PULUMI_DEBUG_PROVIDERS), so an operation
// spends no Node start-up on it.
//
// It is a child of the worker, in the worker's process group, so it dies
// with the worker exactly as a plugin did. An operation that did not end
// cleanly (failed, cancelled) may have left the provider at work on a
// resource nobody waits for any more: the provider is stopped then, as the
// CLI stops its plugins when it ends, and the next operation starts a new one.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { projectRoot } from "./toolchain";

/** The provider's name as Pulumi packages know it. */
export const RESIDENT_PROVIDER = "cutover";

/** The provider's entry point, compiled (where the plugin's own script finds it too). */
export const PROVIDER_MAIN = path.join(projectRoot, "dist", "infra", "local", "provider", "provider-main.js");

/** How long a provider has to say its port. */
const START_TIMEOUT_MS = 30_000;

export class ResidentProvider {
  private running?: Promise<{ child: ChildProcess; port: number }>;

  constructor(private readonly environment: () => NodeJS.ProcessEnv) {}

  /** The port of the running provider, started first if need be. */
  async port(): Promise<number> {
    this.running ??= this.start();
    try {
      return (await this.running).port;
    } catch (err) {
      this.running = undefined;
      throw err;
    }
  }

  /** Stops the provider and all it was doing; the next `port()` starts another. */
  stop(): void {
    const running = this.running;
    this.running = undefined;
    void running?.then(({ child }) => child.kill("SIGKILL"), () => undefined);
  }

  private start(): Promise<{ child: ChildProcess; port: number }> {
    const child = spawn(process.execPath, [PROVIDER_MAIN], { env: this.environment(), stdio: ["ignore", "pipe", "inherit"] });
    const started = new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error("the cutover provider did not start"));
      }, START_TIMEOUT_MS);
      const lines = createInterface({ input: child.stdout! });
      lines.once("line", (line) => {
        clearTimeout(timer);
        const port = Number(line.trim());
        if (Number.isInteger(port) && port > 0) resolve({ child, port });
        else {
          child.kill("SIGKILL");
          reject(new Error(`the cutover provider said ${JSON.stringify(line.slice(0, 80))} instead of its port`));
        }
      });
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the cutover provider exited (${signal ?? code})`));
      });
    });
    // One that dies between operations is started again by the next.
    child.once("exit", () => {
      if (this.running === current) this.running = undefined;
    });
    const current = started;
    return started;
  }
}

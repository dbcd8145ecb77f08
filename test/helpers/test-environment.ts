// Jest's Node environment, and after each test file (its own clean-up, the
// afterAll hooks, included) a look for orphans: a process the file started
// (a server, a balancer, a fleet's supervisor or instance, an engine
// process), known by one of the file's temporary directories in its command
// line or environment, must be gone. One still there a while later is
// killed, so it cannot weigh on the files after, and the file fails with it.
import { readFileSync } from "node:fs";
import { TestEnvironment } from "jest-environment-node";
import { childrenOf, processesWith } from "./processes";

const GRACE_MS = 15_000;

interface Leftover {
  pid: number;
  command: string;
}

function leftovers(dirs: string[]): Leftover[] {
  return dirs
    .flatMap((d) => processesWith(d))
    .filter((pid, i, all) => pid !== process.pid && all.indexOf(pid) === i)
    .map((pid) => ({ pid, command: commandOf(pid) }));
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim().slice(0, 240);
  } catch {
    return "(gone)";
  }
}

/** Every process below these, children first found, then theirs. */
function descendants(pids: number[]): number[] {
  const found: number[] = [];
  for (let i = 0, queue = [...pids]; i < queue.length; i++) {
    for (const child of childrenOf(queue[i])) {
      if (!queue.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Waits for the file's processes to end; kills and names those that outlive the grace. */
async function orphans(dirs: string[]): Promise<Error | undefined> {
  const deadline = Date.now() + GRACE_MS;
  let left = leftovers(dirs);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = leftovers(dirs);
  }
  if (left.length === 0) return undefined;
  // A fleet's instances carry none of the directories: they go as the descendants of what does.
  for (const pid of [...left.map((l) => l.pid), ...descendants(left.map((l) => l.pid))]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return new Error(`processes left running ${GRACE_MS / 1000} s after the test file ended (killed now):\n${left.map((l) => `  ${l.pid} ${l.command}`).join("\n")}`);
}

interface RootFinished {
  name: string;
  describeBlock?: { parent?: unknown };
}

export default class CutoverTestEnvironment extends TestEnvironment {
  async handleTestEvent(event: RootFinished, state: { unhandledErrors: unknown[] }): Promise<void> {
    if (event.name !== "run_describe_finish" || event.describeBlock?.parent !== undefined) return;
    const dirs = (this.global as { __cutoverTempDirs?: string[] }).__cutoverTempDirs ?? [];
    if (dirs.length === 0) return;
    const error = await orphans(dirs);
    if (error) state.unhandledErrors.push(error);
  }
}

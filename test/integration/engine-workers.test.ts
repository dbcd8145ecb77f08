// Engine work runs in engine workers, not in the process that asks for it:
// real workers, the real Pulumi engine, real fleets of processes. A worker
// runs at a lower CPU priority and so does the CLI it starts, while the
// fleets it starts run at the caller's. A worker killed while at work on a
// resource costs the operation nothing: its processes go with it, the stack
// is repaired, what it half-made is removed, and the operation runs again.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { FleetArgs } from "../../infra/local/resources";
import { reapUnowned } from "../../infra/local/runtime";
import type { StackProgram } from "../../infra/programs";
import { autogroupNiceness, engineWorkersOnHost } from "../../server/engine/autogroup";
import { resolveToolchain } from "../../server/engine/toolchain";
import { WorkerEngine } from "../../server/engine/worker-engine";
import type { EngineProgress } from "../../server/deployments/stack-engine";
import { grpcCall, type GrpcAnswer } from "../helpers/grpc-call";
import { request } from "../helpers/http";
import { listeningPorts, processesWith } from "../helpers/processes";
import { fixtureApp, tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

const dataDir = tempDir("engine-workers");
const runtimeDir = path.join(dataDir, "runtime");
const interrupted: string[] = [];
const engine = new WorkerEngine({
  settings: { dataDir, passphrase: "test-passphrase", toolchain: resolveToolchain(), dataPlaneNiceness: niceness(process.pid), residentProvider: true },
  maxWorkers: 3,
  niceness: 10,
  idleMs: 1000,
  // What the server does: remove the environment's fleets no stack owns once the stack is repaired.
  interrupted: async (stack) => {
    interrupted.push(stack);
    const owned = await engine.outputs(stack).catch(() => ({}) as Record<string, unknown>);
    const environment = stack.slice(0, stack.lastIndexOf("."));
    await reapUnowned(runtimeDir, { fleetIds: new Set(typeof owned.fleetId === "string" ? [owned.fleetId] : []), balancers: new Set() }, new Date(), environment);
  },
});

const made: [string, StackProgram][] = [];
afterAll(async () => {
  for (const [stack, program] of made) await engine.destroy(stack, program).catch(() => undefined);
  await engine.close();
});

function niceness(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** Pids of pulumi processes (the CLI, its plugins) running under this data directory's PULUMI_HOME. */
function engineProcesses(): number[] {
  const marker = `PULUMI_HOME=${path.join(dataDir, "pulumi-home")}\0`;
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, "latin1").includes(marker) && /\(pulumi/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    });
}

/** Engine processes of this data directory (the CLI, provider plugins) whose parent is gone: nothing would ever stop them. */
function orphanedEngineProcesses(): number[] {
  const marker = `PULUMI_HOME=${path.join(dataDir, "pulumi-home")}\0`;
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, "latin1").includes(marker) && parentOf(pid) === 1;
      } catch {
        return false;
      }
    });
}

/** A method of each gRPC server an engine worker has: an inline program's, the engine events' stream, its callbacks', a provider's. */
const ENGINE_METHODS = ["/pulumirpc.LanguageRuntime/Run", "/pulumirpc.Events/StreamEvents", "/pulumirpc.Callbacks/Invoke", "/pulumirpc.ResourceProvider/GetPluginInfo"];

/** The `cutover` provider processes of this data directory, with their parents. */
function providers(): { pid: number; parent: number }[] {
  return processesWith(`PULUMI_HOME=${path.join(dataDir, "pulumi-home")}\0`, "provider-main").map((pid) => ({ pid, parent: parentOf(pid) }));
}

function fleet(environment: string, mark: string): StackProgram {
  const args: FleetArgs = {
    name: `${environment}-green`,
    version: "v1",
    replicas: 2,
    artifact: { command: ["node", fixtureApp], env: { CUTOVER_TEST_MARK: mark } },
    healthCheck: { path: "/healthz", intervalMs: 100, timeoutMs: 1000, healthyThreshold: 2, startTimeoutMs: 10_000 },
    drainTimeoutMs: 1000,
    runtimeDir,
  };
  const program: StackProgram = { kind: "local/fleet", args };
  made.push([`${environment}.green`, program]);
  return program;
}

const unique = () => randomBytes(4).toString("hex");

describe("engine workers", () => {
  it("run the program and the CLI in a lowered worker, and start the fleet at the caller's priority", async () => {
    const env = `w${unique()}`;
    const mark = `m${unique()}`;
    const seen: { cli: number[]; parents: number[] } = { cli: [], parents: [] };
    const outputs = await engine.up(`${env}.green`, fleet(env, mark), {
      onEvent: (e) => {
        if (e.type !== "engine:step_started" || seen.cli.length) return;
        for (const pid of engineProcesses()) {
          seen.cli.push(niceness(pid));
          seen.parents.push(parentOf(pid));
        }
      },
    });
    expect(outputs.endpoints).toHaveLength(2);
    expect(JSON.parse((await request(`http://${(outputs.endpoints as string[])[0]}/`)).body).version).toBe("v1");
    // The CLI ran lowered, as a child of a worker, never of this process.
    expect(seen.cli.length).toBeGreaterThan(0);
    expect(new Set(seen.cli)).toEqual(new Set([10]));
    expect(seen.parents).not.toContain(process.pid);
    expect(engine.workerPids.length).toBeGreaterThan(0);
    for (const pid of engine.workerPids) expect(niceness(pid)).toBe(10);
    // A worker leads a session, so where the kernel groups sessions for CPU time its whole autogroup is lowered too.
    if (existsSync("/proc/self/autogroup")) {
      const own = readFileSync("/proc/self/autogroup", "utf8");
      for (const pid of engine.workerPids) {
        const group = readFileSync(`/proc/${pid}/autogroup`, "utf8");
        expect(group).not.toBe(own);
        expect(group).toMatch(/ nice 10\n?$/);
      }
    }
    // The fleet's instances are the data plane: as root they run at this process's priority, not the engine's.
    const instances = processesWith(mark);
    expect(instances.length).toBeGreaterThanOrEqual(2);
    const expected = process.getuid?.() === 0 ? niceness(process.pid) : 10;
    for (const pid of instances) expect(niceness(pid)).toBe(expected);
  });

  it("attaches the CLI to its worker's own provider, kept for the next operation and replaced after one that failed", async () => {
    const seen: { pid: number; parent: number }[][] = [];
    const strangers: GrpcAnswer[][] = [];
    const watch = (e: EngineProgress) => {
      if (e.type !== "engine:step_started") return;
      seen.push(providers());
      // What a fleet's process (another user) finds listening in the engine: the inline program's server, the provider. Each refuses it.
      if (process.getuid?.() === 0) for (const pid of [...engine.workerPids, ...providers().map((p) => p.pid)]) for (const port of listeningPorts(pid)) strangers.push(ENGINE_METHODS.map((method) => grpcCall(port, method, 65534)));
    };
    for (let i = 0; i < 2; i++) {
      const env = `w${unique()}`;
      await engine.up(`${env}.green`, fleet(env, `m${unique()}`), { onEvent: watch });
    }
    // Each operation's provider was a worker's child (no plugin of the CLI's), and the second operation found it running.
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const found of seen) {
      expect(found.length).toBeGreaterThan(0);
      for (const p of found) expect(engine.workerPids).toContain(p.parent);
    }
    if (process.getuid?.() === 0) {
      // A server may close between two calls (an operation's event stream ends with it): only one that answered all
      // four is held to serving one of them; none ever lets the stranger in.
      const whole = strangers.filter((answers) => answers.every((a) => a.status !== "unreachable"));
      expect(whole.length).toBeGreaterThanOrEqual(2);
      // Each server refuses the stranger at the method it serves (a method it lacks is unimplemented whoever asks).
      for (const answers of whole) expect(answers.map((a) => a.status)).toContain("7");
      for (const answer of strangers.flat()) expect(["7", "12", "unreachable"]).toContain(answer.status);
    }
    const first = seen[0].map((p) => p.pid);
    expect(seen[seen.length - 1].some((p) => first.includes(p.pid))).toBe(true);

    // An operation that fails takes its provider with it (it may still be at work for nobody).
    const env = `w${unique()}`;
    const broken = fleet(env, `m${unique()}`) as { kind: "local/fleet"; args: FleetArgs };
    const before = providers().map((p) => p.pid);
    await expect(engine.up(`${env}.green`, { ...broken, args: { ...broken.args, artifact: { command: ["/nonexistent/app"] }, healthCheck: { ...(broken.args.healthCheck as object), startTimeoutMs: 1000 } as FleetArgs["healthCheck"] } })).rejects.toThrow();
    await waitFor("the failed operation's provider to be gone", () => before.some((pid) => !providers().some((p) => p.pid === pid)), 10_000);
  });

  it("runs an operation again in a new worker when its worker dies at work on a resource, and leaves nothing half-made", async () => {
    const env = `w${unique()}`;
    const mark = `m${unique()}`;
    const events: EngineProgress[] = [];
    let killed: number[] = [];
    const outputs = await engine.up(`${env}.green`, fleet(env, mark), {
      onEvent: (e) => {
        events.push(e);
        // The fleet's create is under way (its supervisor starting): the worker and its group die now.
        if (e.type === "engine:step_started" && killed.length === 0) {
          killed = engine.workerPids;
          for (const pid of killed) process.kill(-pid, "SIGKILL");
        }
      },
    });
    expect(killed.length).toBeGreaterThan(0);
    expect(events.some((e) => e.type === "engine:diagnostic" && /engine worker running up of .* died \(SIGKILL\)/.test(String(e.data.message)))).toBe(true);
    expect(interrupted).toContain(`${env}.green`);
    // The operation converged: a healthy fleet, the stack unlocked, and only the recorded fleet's files and processes left.
    expect(outputs.endpoints).toHaveLength(2);
    expect(await engine.isLocked(`${env}.green`)).toBe(false);
    const fleets = readdirSync(path.join(runtimeDir, "fleets")).filter((id) => id.startsWith(`${env}-green-`));
    expect(fleets).toEqual([outputs.fleetId]);
    await waitFor("the half-made fleet's instances to be gone", () => processesWith(mark).length === 2, 20_000);
    // No process of the dead worker's group is left, nor a provider plugin it started (each leads a group of its own).
    for (const pid of killed) expect(() => process.kill(-pid, 0)).toThrow();
    await waitFor("no orphaned engine process", () => orphanedEngineProcesses().length === 0, 10_000);
  });

  it("previews a stack that does not exist without making it, even when the worker dies mid-preview", async () => {
    const env = `w${unique()}`;
    const mark = `m${unique()}`;
    const stacksDir = path.join(dataDir, "state", ".pulumi", "stacks", "cutover");
    const scratch = () => [...new Set(readdirSync(stacksDir).filter((f) => f.includes(".preview-")).map((f) => f.slice(0, f.indexOf(".json"))))];
    let killed: number[] = [];
    const events: EngineProgress[] = [];
    const changes = await engine.preview(`${env}.green`, fleet(env, mark), {
      onEvent: (e) => {
        events.push(e);
        // The preview's stack exists while it runs; the worker and its group die now.
        if (e.type === "engine:step_started" && killed.length === 0) {
          expect(scratch().length).toBe(1);
          killed = engine.workerPids;
          for (const pid of killed) process.kill(-pid, "SIGKILL");
        }
      },
    });
    expect(killed.length).toBeGreaterThan(0);
    expect(events.some((e) => e.type === "engine:diagnostic" && /running preview of .* died \(SIGKILL\)/.test(String(e.data.message)))).toBe(true);
    expect(changes).toEqual([{ op: "create", type: "cutover:local:Fleet", name: "fleet" }]);
    // Nothing was made: no stack (the preview's own, or the dead worker's), no fleet, no process.
    expect(await engine.exists(`${env}.green`)).toBe(false);
    expect(scratch()).toEqual([]);
    expect(readdirSync(path.join(dataDir, "workspaces")).filter((d) => d.includes(".preview-"))).toEqual([]);
    expect(processesWith(mark)).toEqual([]);
    await waitFor("no orphaned engine process", () => orphanedEngineProcesses().length === 0, 10_000);

    // A stack that exists is previewed as itself: the change the program makes to what it holds.
    await engine.up(`${env}.green`, fleet(env, mark));
    const next = fleet(env, mark) as { kind: "local/fleet"; args: FleetArgs };
    const changed = await engine.preview(`${env}.green`, { ...next, args: { ...next.args, version: "v2" } });
    // A fleet is immutable: a new version replaces it, read as one step (not Pulumi's three).
    expect(changed).toEqual([{ op: "replace", type: "cutover:local:Fleet", name: "fleet", changed: ["version"], replaces: ["version"] }]);
    // Nothing changed by it: the fleet still runs v1.
    expect(processesWith(mark, "APP_VERSION=v1").length).toBe(2);
  });

  it("cancels an operation in its worker when the caller aborts", async () => {
    const env = `w${unique()}`;
    const abort = new AbortController();
    const up = engine.up(`${env}.green`, fleet(env, `m${unique()}`), {
      signal: abort.signal,
      onEvent: (e) => {
        if (e.type === "engine:step_started") abort.abort(new Error("stop"));
      },
    });
    await expect(up).rejects.toThrow();
    await waitFor("the stack's lock to be released", async () => (await engine.isLocked(`${env}.green`)) === false, 30_000);
  });
});

describe("engine workers of several replicas on one host", () => {
  it("weigh together about one session: each lowers its autogroup against every engine worker the host runs", async () => {
    if (!existsSync("/proc/self/autogroup")) return;
    const dir = tempDir("engine-host");
    // The other suite's engine keeps one worker warm.
    await waitFor("the other suite's idle workers to retire", () => engine.workerPids.length <= 1, 30_000);
    const before = engineWorkersOnHost();
    // Alone, a worker of a pool of one keeps its autogroup at the API's weight.
    const replica = new WorkerEngine({ settings: { dataDir: dir, passphrase: "test-passphrase", toolchain: resolveToolchain() }, maxWorkers: 1, niceness: 10, groupNiceness: 0, idleMs: 60_000 });
    const others: ReturnType<typeof spawn>[] = [];
    try {
      await replica.repair("alone.green");
      const [worker] = replica.workerPids;
      const groupNice = () => Number(/ nice (-?\d+)/.exec(readFileSync(`/proc/${worker}/autogroup`, "utf8"))![1]);
      const alone = groupNice();
      expect(engineWorkersOnHost()).toBe(before + 1);
      expect(alone).toBe(autogroupNiceness(10, before + 1));
      // Other replicas' workers start on the host (processes running a worker's script): at its next operation the
      // worker weighs itself as one of them all.
      for (let i = 0; i < 8; i++) others.push(spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", path.join(dir, `replica-${i}`, "engine-worker-main.js")], { stdio: "ignore" }));
      await waitFor("the other workers to run", () => engineWorkersOnHost() === before + 9);
      await replica.repair("crowded.green");
      expect(groupNice()).toBe(autogroupNiceness(10, before + 9));
      expect(groupNice()).toBeGreaterThan(alone);
      // They go: it takes its weight back.
      for (const other of others) other.kill("SIGKILL");
      await waitFor("the other workers to be gone", () => engineWorkersOnHost() === before + 1);
      await replica.repair("alone-again.green");
      expect(groupNice()).toBe(alone);
    } finally {
      for (const other of others) other.kill("SIGKILL");
      await replica.close();
    }
  });
});

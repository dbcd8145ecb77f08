// The Automation API wrapper: every stack operation Cutover performs goes
// through here, offline, against a file backend in the data directory.
// Each stack gets its own workspace directory under the data directory, so
// no stack settings are ever written into the process's working directory
// and no temporary directory is left behind per operation.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { PulumiCommand, PulumiFn, Stack } from "@pulumi/pulumi/automation";
import { pulumiProgram, type StackProgram } from "../../infra/programs";
import type { OperationOptions, RefreshChanges, ResourceChange, ResourceState, StackEngine, StackOutputs, StackRepair } from "../deployments/stack-engine";
import { capturingOutputs, isLostEngineConnection, listedDespiteRemovals, previewed, progress, refreshed, resolvePending, unwrap, withoutReadBack } from "./stack-operations";

export { isLostEngineConnection };
import { clearLocks, createStackFiles, holdsLock, killProcessesWith, mendCheckpoints, passphraseSalt, removeScratchStacks, removeStackFiles } from "./file-backend";
import { cliEnvironment } from "./cli-environment";
import { niceCliRoot, type Toolchain } from "./toolchain";

// The Automation API is a large module: it is loaded on first use, so a restarted server begins recovering sooner.
const automation = (): typeof import("@pulumi/pulumi/automation") => require("@pulumi/pulumi/automation");

export const PROJECT_NAME = "cutover";

/** What names a stack made for one preview (see `preview`). */
export const PREVIEW_STACK_MARK = ".preview-";

const UP_ATTEMPTS = 3;
/** How much lower than the API the CLI and its providers run (nice), so a busy engine leaves the API the CPU. */
const ENGINE_NICENESS = 10;

export interface EngineSettings {
  dataDir: string;
  passphrase: string;
  toolchain: Toolchain;
  /** Any Pulumi backend URL; a file backend under the data dir when absent. */
  backendUrl?: string;
  /**
   * How much lower than the API the CLI and its providers run (nice); 10
   * by default, 0 where the process running the engine is itself lowered
   * (an engine worker).
   */
  cliNiceness?: number;
  /**
   * The CPU priority (nice) the local target's fleets and balancers are
   * given back once started, so the data plane never runs at the engine's
   * lowered priority; the API's own by default.
   */
  dataPlaneNiceness?: number;
  /** Engine workers keep the local provider running and the CLI attaches to it (off: the CLI starts it per operation). */
  residentProvider?: boolean;
}

/** A program as data, or an inline one where it runs in this process. */
export type ProgramLike = StackProgram | PulumiFn;
const inline = (program: ProgramLike): PulumiFn => (typeof program === "function" ? program : pulumiProgram(program));

export class PulumiEngine implements StackEngine {
  private command?: Promise<PulumiCommand>;
  private listing?: Promise<import("@pulumi/pulumi/automation").LocalWorkspace>;
  /** The passphrase salt of the own file backend's stacks, once one is known. */
  private salt?: string;
  /** Providers already running that the CLI attaches to instead of starting their plugins, by name. */
  private attached: Record<string, number> = {};
  readonly backendUrl: string;
  private readonly stateDir: string;

  constructor(private readonly settings: EngineSettings) {
    this.stateDir = path.join(settings.dataDir, "state");
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.pulumiHome, { recursive: true, mode: 0o700 });
    this.backendUrl = settings.backendUrl ?? `file://${this.stateDir}`;
  }

  get pulumiHome(): string {
    return path.join(this.settings.dataDir, "pulumi-home");
  }

  /** The environment every pulumi process (and so every plugin) runs with. */
  environment(): Record<string, string> {
    return cliEnvironment(this.settings, { backendUrl: this.backendUrl, pulumiHome: this.pulumiHome, attached: this.attached });
  }

  /** The operations from now on attach to these running providers (name to port on 127.0.0.1) instead of starting their plugins. */
  attachProviders(ports: Record<string, number>): void {
    this.attached = { ...ports };
  }

  private pulumi(): Promise<PulumiCommand> {
    this.command ??= automation().PulumiCommand.get({ root: niceCliRoot(this.settings.toolchain.pulumiBin, this.settings.dataDir, this.settings.cliNiceness ?? ENGINE_NICENESS) });
    return this.command;
  }

  /** The directory the engine runs a stack's operations in. */
  workDir(stackName: string): string {
    const dir = path.join(this.settings.dataDir, "workspaces", stackName);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /**
   * The stack, selected or created. Every command Cutover runs names its
   * stack (`--stack`), so on the own file backend, where a lookup is a file
   * check, an existing stack is not selected first (a CLI run that changes
   * nothing), and a new one is written as `stack init` would write it, with
   * the salt of the stacks before it (see `createStackFiles`); only a
   * stack with none before it (none in the backend, none made by this
   * process) is made by the CLI, which makes the salt.
   */
  async stack(stackName: string, program: ProgramLike = async () => undefined): Promise<Stack> {
    const { LocalWorkspace, Stack } = automation();
    const workspace = await LocalWorkspace.create({
      workDir: this.workDir(stackName),
      pulumiCommand: await this.pulumi(),
      pulumiHome: this.pulumiHome,
      envVars: this.environment(),
      program: inline(program),
      projectSettings: { name: PROJECT_NAME, runtime: "nodejs", backend: { url: this.backendUrl } },
    });
    if (!this.ownFileBackend) return Stack.createOrSelect(stackName, workspace);
    if (!(await this.exists(stackName))) {
      const salt = (this.salt ??= passphraseSalt(this.stateDir, PROJECT_NAME));
      if (!salt) {
        const created = await Stack.create(stackName, workspace);
        this.salt = passphraseSalt(this.stateDir, PROJECT_NAME);
        return created;
      }
      createStackFiles(this.stateDir, PROJECT_NAME, this.workDir(stackName), stackName, salt, this.settings.toolchain.pulumiVersion);
    }
    workspace.selectStack = async () => undefined;
    return Stack.select(stackName, workspace);
  }

  private get ownFileBackend(): boolean {
    return this.backendUrl === `file://${this.stateDir}`;
  }

  /**
   * `pulumi up`. An update whose program lost its gRPC connection to the
   * engine is run again: the SDK routes every unhandled rejection in the
   * process to each inline program running at that moment, so one stack's
   * late RPC failure can fail another's update. An update is declarative,
   * so running it again converges on the same state.
   */
  async up(stackName: string, program: ProgramLike, opts: OperationOptions = {}): Promise<StackOutputs> {
    for (let attempt = 1; ; attempt++) {
      try {
        const captured = capturingOutputs(inline(program));
        const stack = await this.stack(stackName, captured.program);
        withoutReadBack(stack, captured.outputs);
        const result = await stack.up({ onEvent: progress(opts), signal: opts.signal, refresh: opts.refresh, onOutput: () => undefined });
        return unwrap(result.outputs);
      } catch (err) {
        if (attempt >= UP_ATTEMPTS || opts.signal?.aborted || !isLostEngineConnection(err)) throw err;
        opts.onEvent?.({
          type: "engine:diagnostic",
          data: { severity: "warning", message: `the program lost its connection to the engine (attempt ${attempt} of ${UP_ATTEMPTS}); running the update again` },
        });
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
  }

  /**
   * `pulumi preview`. A stack that does not exist yet is previewed in a
   * stack of its own, made for the preview and removed after it (named
   * `<stack>.preview-<pid>-<random>`; one a crash left is removed by
   * `mendInterruptedWrites`), so the real stack stays absent.
   */
  async preview(stackName: string, program: ProgramLike, opts: OperationOptions = {}): Promise<ResourceChange[]> {
    if (await this.exists(stackName)) return previewed(withoutReadBack(await this.stack(stackName, program)), opts);
    const scratch = `${stackName}${PREVIEW_STACK_MARK}${process.pid}-${randomBytes(4).toString("hex")}`;
    const stack = withoutReadBack(await this.stack(scratch, program));
    try {
      return await previewed(stack, opts);
    } finally {
      await stack.workspace.removeStack(scratch, { force: true }).catch(() => undefined);
      // `stack rm` leaves the checkpoint's backups and the lock directory behind on a file backend.
      if (this.ownFileBackend) removeStackFiles(this.stateDir, PROJECT_NAME, path.join(this.settings.dataDir, "workspaces"), scratch);
      else rmSync(this.workDir(scratch), { recursive: true, force: true });
    }
  }

  /** The custom resources recorded in a stack's state, refreshed from reality first when asked. */
  async resources(stackName: string, opts: { refresh?: boolean } = {}): Promise<ResourceState[]> {
    if (!(await this.exists(stackName))) return [];
    const stack = await this.stack(stackName);
    if (opts.refresh) await refreshed(stack);
    const state = await stack.exportStack();
    const resources = (state.deployment?.resources ?? []) as { urn: string; type: string; custom?: boolean; outputs?: Record<string, unknown> }[];
    return resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:")).map((r) => ({ urn: r.urn, type: r.type, outputs: r.outputs ?? {} }));
  }

  /** `pulumi refresh`: the target's reality written into the stack's state, and what that changed. */
  async refresh(stackName: string, opts: OperationOptions = {}): Promise<RefreshChanges> {
    if (!(await this.exists(stackName))) return {};
    return refreshed(await this.stack(stackName), opts);
  }

  /** Destroys every resource of the stack, then removes the stack itself. */
  async destroy(stackName: string, program: ProgramLike, opts: OperationOptions = {}): Promise<void> {
    if (!(await this.exists(stackName))) return;
    const stack = withoutReadBack(await this.stack(stackName, program));
    await stack.destroy({ onEvent: progress(opts), signal: opts.signal, onOutput: () => undefined });
    if (this.ownFileBackend) {
      // The stack is empty now: on the own file backend, removing it is removing its files (what `stack rm` would do, without a CLI run).
      removeStackFiles(this.stateDir, PROJECT_NAME, path.join(this.settings.dataDir, "workspaces"), stackName);
      return;
    }
    await stack.workspace.removeStack(stackName);
    rmSync(this.workDir(stackName), { recursive: true, force: true });
  }

  async outputs(stackName: string): Promise<StackOutputs> {
    const stack = await this.stack(stackName);
    return unwrap(await stack.outputs());
  }

  /**
   * Clears what an interrupted operation left on a stack: its lock and any
   * pending operations. Used only when no operation can be running.
   */
  async repair(stackName: string): Promise<StackRepair> {
    if (!(await this.exists(stackName))) {
      // `stack init` and `stack rm` lock too: one cut off leaves a lock `pulumi cancel` cannot reach, failing the next `stack init`.
      return { cancelled: this.ownFileBackend && clearLocks(this.lockDir(stackName)), pendingCleared: 0 };
    }
    const stack = await this.stack(stackName);
    const locked = await this.isLocked(stackName);
    let cancelled = false;
    try {
      await stack.cancel();
      cancelled = locked ?? true;
    } catch {
      // no update was in progress
    }
    const { pendingCleared, imported } = await resolvePending(stack);
    return { cancelled, pendingCleared, ...(imported.length ? { imported } : {}) };
  }

  /**
   * Kills pulumi CLI and plugin processes a previous server on this data
   * directory left behind: they carry its PULUMI_HOME in their environment.
   */
  killOrphanedProcesses(): number[] {
    return killProcessesWith(`PULUMI_HOME=${this.pulumiHome}\0`);
  }

  /** Mends what a pulumi process killed while it saved a checkpoint left in the own file backend. */
  mendInterruptedWrites(): string[] {
    if (!this.ownFileBackend) return [];
    return [...mendCheckpoints(path.join(this.stateDir, ".pulumi", "stacks", PROJECT_NAME)), ...removeScratchStacks(this.stateDir, PROJECT_NAME, path.join(this.settings.dataDir, "workspaces"))];
  }

  /** Whether a stack holds an update lock (a running operation, or one a crash left). */
  async isLocked(stackName: string): Promise<boolean | undefined> {
    // Only a file backend can be looked at cheaply; other backends keep their locks elsewhere.
    if (!this.ownFileBackend) return undefined;
    return holdsLock(this.lockDir(stackName));
  }

  /** Where the own file backend keeps a stack's locks. */
  private lockDir(stackName: string): string {
    return path.join(this.stateDir, ".pulumi", "locks", "organization", PROJECT_NAME, stackName);
  }

  async exists(stackName: string): Promise<boolean> {
    // The own file backend is looked at directly: `stack ls` spawns the CLI and reads
    // every stack's checkpoint, and one being written at that moment fails the listing.
    if (this.ownFileBackend) {
      const dir = path.join(this.stateDir, ".pulumi", "stacks", PROJECT_NAME);
      return [".json", ".json.gz"].some((ext) => existsSync(path.join(dir, `${stackName}${ext}`)));
    }
    // One workspace for every listing: creating it writes its Pulumi.yaml, and a
    // listing running meanwhile would read the file half-written.
    if (!this.listing) {
      this.listing = this.pulumi().then((pulumiCommand) =>
        automation().LocalWorkspace.create({
          workDir: this.workDir("_"),
          pulumiCommand,
          pulumiHome: this.pulumiHome,
          envVars: this.environment(),
          projectSettings: { name: PROJECT_NAME, runtime: "nodejs", backend: { url: this.backendUrl } },
        }),
      );
      // A workspace that could not be made is made again by the next call.
      this.listing.catch(() => (this.listing = undefined));
    }
    const listing = this.listing;
    const stacks = await listedDespiteRemovals(async () => (await listing).listStacks());
    return stacks.some((s) => s.name === stackName || s.name.endsWith(`/${stackName}`));
  }
}

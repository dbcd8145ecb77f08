// The same fleet stack brought up and destroyed by the stock Pulumi CLI
// (`pulumi up --yes --skip-preview`, a YAML program declaring the same
// `cutover:local:Fleet`, the provider started as a plugin) and by Cutover's
// engine (an engine worker, as a deployment runs it), in alternating rounds.
// The Node.js language host the CLI would need for a TypeScript program is
// not served by the Go module proxy here; the YAML one is, and is built
// once into the toolchain cache.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FleetArgs } from "../../infra/local/resources";
import type { StackProgram } from "../../infra/programs";
import { resolveToolchain } from "../../server/engine/toolchain";
import { WorkerEngine } from "../../server/engine/worker-engine";
import { fixtureApp, tempDir } from "../helpers/temp-dir";

const YAML_VERSION = "v1.25.0";

/** pulumi-language-yaml, built from its Go module once. */
function yamlLanguageHost(): string {
  const cache = process.env.CUTOVER_TOOLCHAIN_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "cutover", "toolchain");
  const dir = path.join(cache, `pulumi-yaml-${YAML_VERSION}`);
  const bin = path.join(dir, "pulumi-language-yaml");
  if (existsSync(bin)) return dir;
  console.log(`building pulumi-language-yaml ${YAML_VERSION} from Go modules (once)`);
  const work = tempDir("yaml-build");
  const go = (...args: string[]) => execFileSync("go", args, { cwd: work, stdio: "inherit", env: { ...process.env, GOFLAGS: "-mod=mod", CGO_ENABLED: "0" } });
  go("mod", "init", "cutover.local/yaml-build");
  go("get", `github.com/pulumi/pulumi-yaml@${YAML_VERSION}`);
  mkdirSync(dir, { recursive: true });
  go("build", "-trimpath", "-ldflags", "-s -w", "-o", `${bin}.partial.${process.pid}`, "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml");
  execFileSync("mv", [`${bin}.partial.${process.pid}`, bin]);
  return dir;
}

/** The one-fleet stack every fleet bench brings up: 2 instances of the fixture app. */
export function benchFleetArgs(name: string, runtimeDir: string): FleetArgs {
  return {
    name,
    version: "v1",
    replicas: 2,
    artifact: { command: ["node", fixtureApp] },
    healthCheck: { path: "/healthz", intervalMs: 100, timeoutMs: 1000, healthyThreshold: 2, startTimeoutMs: 10_000 },
    drainTimeoutMs: 2000,
    runtimeDir,
  };
}

export interface RawVsEngine {
  raw: { up: number[]; destroy: number[] };
  engine: { up: number[]; destroy: number[] };
}

export async function rawVsEngine(rounds: number): Promise<RawVsEngine> {
  const toolchain = resolveToolchain();
  const hostDir = yamlLanguageHost();
  const dir = tempDir("bench-raw");
  const runtimeDir = path.join(dir, "runtime");
  const fleet = (name: string) => benchFleetArgs(name, runtimeDir);

  // The stock CLI: a project of its own, its own backend and home.
  const project = path.join(dir, "raw-project");
  mkdirSync(project, { recursive: true });
  writeFileSync(
    path.join(project, "Pulumi.yaml"),
    // The artifact kept secret in state, as Cutover's program keeps it.
    `${JSON.stringify({ name: "rawbench", runtime: "yaml", resources: { fleet: { type: "cutover:local:Fleet", properties: { ...fleet("raw-bench"), artifact: { "fn::secret": fleet("raw-bench").artifact } } } } }, null, 2)}\n`,
  );
  mkdirSync(path.join(dir, "raw-state"), { recursive: true });
  const env = {
    ...process.env,
    PULUMI_CONFIG_PASSPHRASE: "bench",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_BACKEND_URL: `file://${path.join(dir, "raw-state")}`,
    PULUMI_HOME: path.join(dir, "raw-home"),
    CUTOVER_PROXY_BIN: toolchain.proxyBin,
    PATH: `${hostDir}:${toolchain.pluginDir}:${path.dirname(toolchain.pulumiBin)}:${process.env.PATH ?? ""}`,
  };
  // Its diagnostics (a plugin found on PATH) are kept for a failure, not printed.
  const pulumi = (...args: string[]) => execFileSync(toolchain.pulumiBin, [...args, "--non-interactive"], { cwd: project, env, stdio: ["ignore", "ignore", "pipe"] });
  pulumi("stack", "init", "raw");

  const engine = new WorkerEngine({ settings: { dataDir: path.join(dir, "engine"), passphrase: "bench", toolchain }, maxWorkers: 1, niceness: 0 });
  const program: StackProgram = { kind: "local/fleet", args: fleet("engine-bench") };
  const result: RawVsEngine = { raw: { up: [], destroy: [] }, engine: { up: [], destroy: [] } };
  const timed = async (into: number[], act: () => unknown) => {
    const t = process.hrtime.bigint();
    await act();
    into.push(Number(process.hrtime.bigint() - t) / 1e9);
  };
  try {
    // A warm-up of each, not counted.
    pulumi("up", "--yes", "--skip-preview", "--stack", "raw");
    pulumi("destroy", "--yes", "--skip-preview", "--stack", "raw");
    await engine.up("engine-bench", program);
    await engine.destroy("engine-bench", program);
    for (let i = 0; i < rounds; i++) {
      await timed(result.raw.up, () => pulumi("up", "--yes", "--skip-preview", "--stack", "raw"));
      await timed(result.raw.destroy, () => pulumi("destroy", "--yes", "--skip-preview", "--stack", "raw"));
      await timed(result.engine.up, () => engine.up("engine-bench", program));
      await timed(result.engine.destroy, () => engine.destroy("engine-bench", program));
    }
  } finally {
    await engine.destroy("engine-bench", program).catch(() => undefined);
    try {
      pulumi("destroy", "--yes", "--skip-preview", "--stack", "raw");
    } catch {
      // left for the temp dir's removal
    }
    await engine.close();
  }
  return result;
}

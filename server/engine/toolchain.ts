// Where the pulumi CLI, the cutover-proxy binary and the provider plugin
// live. scripts/setup.sh records the built paths in dist/toolchain.json;
// environment variables override them.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface Toolchain {
  pulumiBin: string;
  pulumiVersion: string;
  proxyBin: string;
  pluginDir: string;
}

/** The directory holding Cutover's package.json, from source or from dist. */
function findProjectRoot(start: string): string {
  let dir = start;
  while (!existsSync(path.join(dir, "Pulumi.yaml"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no Cutover project above ${start}`);
    dir = parent;
  }
  return dir;
}

export const projectRoot = findProjectRoot(__dirname);

export function resolveToolchain(env: NodeJS.ProcessEnv = process.env): Toolchain {
  const recordFile = path.join(projectRoot, "dist", "toolchain.json");
  const record = existsSync(recordFile)
    ? (JSON.parse(readFileSync(recordFile, "utf8")) as { pulumi: string; pulumiVersion: string; proxy: string })
    : undefined;
  const pinned = (JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  }).dependencies["@pulumi/pulumi"];
  const pulumiBin = env.CUTOVER_PULUMI_BIN ?? record?.pulumi;
  const proxyBin = env.CUTOVER_PROXY_BIN ?? record?.proxy;
  if (!pulumiBin || !proxyBin) {
    throw new Error("the Pulumi toolchain is not set up: run `bash scripts/setup.sh` (npm start and npm test do)");
  }
  return { pulumiBin, pulumiVersion: pinned, proxyBin, pluginDir: path.join(projectRoot, "infra", "local", "plugin") };
}

/**
 * Where the CLI the Automation API runs lives: a wrapper that starts the
 * pinned CLI `real` at a lower CPU priority (nice), so the CLI and the
 * providers it starts yield the CPU to the API on a busy machine; the
 * pinned CLI itself where `nice` is missing or `niceness` is 0.
 */
export function niceCliRoot(real: string, dataDir: string, niceness: number): string {
  const nice = ["/usr/bin/nice", "/bin/nice"].find((p) => existsSync(p));
  if (!nice || niceness <= 0) return path.dirname(path.dirname(real));
  const root = path.join(dataDir, "engine-cli");
  mkdirSync(path.join(root, "bin"), { recursive: true, mode: 0o700 });
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = `#!/bin/sh\n# The pinned Pulumi CLI at a lower CPU priority than the API.\nexec ${nice} -n ${niceness} ${quote(real)} "$@"\n`;
  const wrapper = path.join(root, "bin", "pulumi");
  if (!existsSync(wrapper) || readFileSync(wrapper, "utf8") !== script) {
    writeFileSync(`${wrapper}.partial`, script, { mode: 0o700 });
    renameSync(`${wrapper}.partial`, wrapper);
  }
  return root;
}

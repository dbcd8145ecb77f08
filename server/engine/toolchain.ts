// Where the pulumi CLI, the cutover-proxy binary and the provider plugin
// live. scripts/setup.sh records the built paths in dist/toolchain.json;
// environment variables override them.
import { existsSync, readFileSync } from "node:fs";
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

// Whether a resource provider plugin is installed where the engine looks:
// on PATH, or in PULUMI_HOME/plugins as `pulumi plugin install` puts it.
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";

export function pluginInstalled(pulumiHome: string, name: string, version: string): boolean {
  const binary = `pulumi-resource-${name}`;
  const onPath = (process.env.PATH ?? "").split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, binary)));
  if (onPath) return true;
  try {
    return readdirSync(path.join(pulumiHome, "plugins")).some((d) => d === `resource-${name}-v${version}`);
  } catch {
    return false;
  }
}

/** The versions of the cloud provider plugins that match the pinned SDK packages. */
export function pinnedPluginVersion(pkg: "aws" | "kubernetes"): string {
  return (require(`@pulumi/${pkg}/package.json`) as { version: string }).version;
}

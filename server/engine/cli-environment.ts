// The environment every pulumi process Cutover starts runs with, and so
// every plugin it starts: offline, with the state's passphrase, the local
// target's binaries and priority, and the CLI's own files kept in bounds.
import { getPriority } from "node:os";
import path from "node:path";
import { POSTGRES_BACKEND_ENV } from "./stack-operations";
import type { Toolchain } from "./toolchain";

export function cliEnvironment(
  settings: { passphrase: string; toolchain: Toolchain; dataPlaneNiceness?: number },
  where: { backendUrl: string; pulumiHome: string; attached: Record<string, number> },
): Record<string, string> {
  const { toolchain, passphrase } = settings;
  return {
    PULUMI_CONFIG_PASSPHRASE: passphrase,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // Every CLI run writes a log file into PULUMI_HOME and, before it starts, reads the whole
    // directory to trim it; at Pulumi's bounds (7 days, 500 MB: ~70,000 files) that read costs
    // each run more CPU than its own work. Kept to a day and 32 MB.
    PULUMI_LOG_ROTATION_MAX_AGE_DAYS: "1",
    PULUMI_LOG_ROTATION_MAX_TOTAL_MB: "32",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_BACKEND_URL: where.backendUrl,
    PULUMI_HOME: where.pulumiHome,
    CUTOVER_PROXY_BIN: toolchain.proxyBin,
    CUTOVER_DATA_PLANE_NICENESS: String(settings.dataPlaneNiceness ?? osPriority()),
    ...(/^postgres(ql)?:/.test(where.backendUrl) ? POSTGRES_BACKEND_ENV : {}),
    ...(Object.keys(where.attached).length ? { PULUMI_DEBUG_PROVIDERS: Object.entries(where.attached).map(([name, port]) => `${name}:${port}`).join(",") } : {}),
    PATH: `${toolchain.pluginDir}:${path.dirname(toolchain.pulumiBin)}:${process.env.PATH ?? ""}`,
  };
}

/** This process's CPU priority (nice), 0 where it cannot be read. */
function osPriority(): number {
  try {
    return getPriority();
  } catch {
    return 0;
  }
}

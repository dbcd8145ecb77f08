// The instance boot script: installs the artifact as a systemd service with
// PORT and APP_VERSION, so an instance serves its version from first boot.
import type { Artifact } from "../../server/deployments/model";

const systemdQuote = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%")}"`;

export function userData(artifact: Artifact, version: string, port: number, preamble = ""): string {
  const env = { ...artifact.env, PORT: String(port), APP_VERSION: version };
  return [
    "#!/bin/bash",
    "set -euo pipefail",
    preamble,
    "cat > /etc/systemd/system/cutover-app.service <<'UNIT'",
    "[Unit]",
    "Description=Application deployed by Cutover",
    "After=network-online.target",
    "[Service]",
    ...Object.entries(env).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`),
    ...(artifact.cwd ? [`WorkingDirectory=${artifact.cwd}`] : []),
    `ExecStart=${artifact.command.map(systemdQuote).join(" ")}`,
    "Restart=always",
    "KillSignal=SIGTERM",
    "[Install]",
    "WantedBy=multi-user.target",
    "UNIT",
    "systemctl daemon-reload",
    "systemctl enable --now cutover-app.service",
    "",
  ]
    .filter((l) => l !== "")
    .join("\n");
}

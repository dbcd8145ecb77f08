// The instance boot script: installs the artifact as a systemd service with
// PORT and APP_VERSION, so an instance serves its version from first boot.
// The unit file travels base64-encoded, so no value can end a here-document
// or reach the shell, and every value is quoted as systemd.syntax(7) reads
// double-quoted strings (C escapes, `%%` for a literal `%`).
import type { Artifact } from "../vocabulary";

const ESCAPES: Record<string, string> = { "\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t" };

export function systemdQuote(s: string): string {
  const escaped = [...s]
    .map((ch) => {
      if (ESCAPES[ch]) return ESCAPES[ch];
      if (ch === "%") return "%%";
      const code = ch.codePointAt(0)!;
      return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : ch;
    })
    .join("");
  return `"${escaped}"`;
}

export function systemdUnit(artifact: Artifact, version: string, port: number): string {
  const env = { ...artifact.env, PORT: String(port), APP_VERSION: version };
  return [
    "[Unit]",
    "Description=Application deployed by Cutover",
    "After=network-online.target",
    "[Service]",
    ...Object.entries(env).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`),
    // WorkingDirectory= takes a bare path (no quote parsing); the API refuses control characters in it.
    ...(artifact.cwd ? [`WorkingDirectory=${artifact.cwd.replace(/%/g, "%%")}`] : []),
    `ExecStart=${artifact.command.map(systemdQuote).join(" ")}`,
    "Restart=always",
    "KillSignal=SIGTERM",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export function userData(artifact: Artifact, version: string, port: number, preamble = ""): string {
  const unit = Buffer.from(systemdUnit(artifact, version, port)).toString("base64");
  return [
    "#!/bin/bash",
    "set -euo pipefail",
    preamble,
    `echo '${unit}' | base64 -d > /etc/systemd/system/cutover-app.service`,
    "systemctl daemon-reload",
    "systemctl enable --now cutover-app.service",
    "",
  ]
    .filter((l) => l !== "")
    .join("\n");
}

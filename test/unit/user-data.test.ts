// Hostile artifact values must neither break the systemd unit nor reach
// the shell that writes it.
import { systemdUnit, userData } from "../../infra/aws/user-data";

/** Reads a double-quoted systemd string back (systemd.syntax(7)), to check values survive intact. */
function unquote(text: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    words.push(
      m[1]
        .replace(/\\x([0-9a-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))
        .replace(/\\(.)/g, (_, c) => ({ n: "\n", r: "\r", t: "\t" })[c as "n"] ?? c)
        .replace(/%%/g, "%"),
    );
  }
  return words;
}

const hostile = {
  NEWLINE: "first\nExecStartPre=/bin/rm -rf /",
  HEREDOC: "x\nUNIT\nrm -rf /\n",
  QUOTES: `say "hi" 'there' \\ back`,
  SPECIFIER: "100% %n %i",
  SHELL: "$(reboot) `id` ${HOME}",
  CONTROL: "bell\x07 escape\x1b",
};

describe("AWS user data", () => {
  const unit = systemdUnit({ command: ["/opt/app/bin/server", "--greet=a\nb"], cwd: "/opt/app 100%", env: hostile }, "v1", 8080);

  it("keeps every directive on its own line, whatever the values hold", () => {
    const lines = unit.trimEnd().split("\n");
    for (const line of lines) expect(line).toMatch(/^(\[\w+\]|[A-Za-z]+=.*)$/);
    expect(lines.filter((l) => l.startsWith("ExecStart"))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith("Environment="))).toHaveLength(Object.keys(hostile).length + 2);
  });

  it("carries each value through systemd's quoting unchanged", () => {
    const env = unit
      .split("\n")
      .filter((l) => l.startsWith("Environment="))
      .map((l) => unquote(l.slice("Environment=".length))[0]);
    for (const [k, v] of Object.entries(hostile)) expect(env).toContain(`${k}=${v}`);
    expect(unquote(unit.split("\n").find((l) => l.startsWith("ExecStart="))!)).toEqual(["/opt/app/bin/server", "--greet=a\nb"]);
    expect(unit).toContain("WorkingDirectory=/opt/app 100%%");
  });

  it("writes the unit without a here-document or any value in the shell script", () => {
    const script = userData({ command: ["/bin/app"], env: hostile }, "v1", 8080);
    expect(script).not.toContain("UNIT");
    expect(script).not.toContain("reboot");
    expect(script.split("\n")).toHaveLength(5);
  });
});

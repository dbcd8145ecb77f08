import { parseDuration } from "../../infra/duration";
import { artifactFor, stepsOf } from "../../server/deployments/model";
import { cleanEngineMessage, describeError, ConflictError } from "../../server/errors";

describe("durations", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
  ])("parses %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "5", "1.5s", "-1s", "1d", "s"])("rejects %p", (text) => expect(() => parseDuration(text)).toThrow(/not a duration/));
});

describe("strategies", () => {
  it("shifts blue-green in one step", () => expect(stepsOf({ type: "blue-green" })).toEqual([{ weight: 100 }]));

  it("ends every canary at 100", () => {
    expect(stepsOf({ type: "canary", steps: [{ weight: 10, pause: "30s" }, { weight: 50, pause: "manual" }] })).toEqual([
      { weight: 10, pause: "30s" },
      { weight: 50, pause: "manual" },
      { weight: 100 },
    ]);
    expect(stepsOf({ type: "canary", steps: [{ weight: 25 }, { weight: 100, pause: "1m" }] })).toHaveLength(2);
  });
});

describe("artifacts", () => {
  it("substitutes {version} in command, cwd and env", () => {
    const a = artifactFor({ command: ["./bin/{version}/app", "--v={version}"], cwd: "/srv/{version}", env: { TAG: "app:{version}" } }, "1.2.3");
    expect(a).toEqual({ command: ["./bin/1.2.3/app", "--v=1.2.3"], cwd: "/srv/1.2.3", env: { TAG: "app:1.2.3" } });
  });

  it("leaves an artifact without placeholders alone", () => {
    expect(artifactFor({ command: ["node", "app.js"] }, "v1")).toEqual({ command: ["node", "app.js"], cwd: undefined, env: undefined });
  });
});

describe("errors", () => {
  it("keeps a domain error's code", () => {
    expect(describeError(new ConflictError("invalid_state", "nope"))).toEqual({ code: "invalid_state", message: "nope" });
  });

  it("reduces an Automation API failure to its diagnostics, without the command line or secrets", () => {
    const raw = [
      "code: 255",
      " stdout: Updating (demo.blue):",
      " stderr: error: fleet did not become healthy: health check /healthz did not pass within 5000ms; instance 0 (port 4000) output:",
      "    version bad listening on 4000",
      "cmd: pulumi up --yes --stack demo.blue PULUMI_CONFIG_PASSPHRASE=hunter2",
    ].join("\n");
    const clean = cleanEngineMessage(raw);
    expect(clean).toContain("did not become healthy");
    expect(clean).toContain("version bad listening on 4000");
    expect(clean).not.toContain("hunter2");
    expect(clean).not.toMatch(/^cmd:/m);
  });
});

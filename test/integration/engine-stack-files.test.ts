// What the engine writes into the own file backend and Pulumi's home
// besides the CLI's own work: new stacks (written as `stack init` writes
// them, with the salt of the stacks before them, instead of a CLI run that
// derives the passphrase's key to make a new one), and the CLI's own log
// files, kept within bounds. The real engine, the real CLI, a real backend.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { resolveToolchain } from "../../server/engine/toolchain";
import { testEngine } from "../helpers/engine";
import { tempDir } from "../helpers/temp-dir";

const logsOf = (dataDir: string) => readdirSync(path.join(dataDir, "pulumi-home", "logs"));

describe("new stacks on the own file backend", () => {
  it("are written with the first stack's salt: one stack init in all, every stack's secrets readable, by the engine and the stock CLI", async () => {
    const { engine, dataDir } = testEngine("stack-files");
    await engine.up("files.a", async () => ({ n: 1 }));
    await engine.up("files.b", async () => ({ secret: pulumi.secret("sealed-b"), n: 2 }));
    await engine.up("files.c", async () => ({ secret: pulumi.secret("sealed-c") }));
    // The CLI made only the first stack; the others were written.
    expect(logsOf(dataDir).filter((f) => f.endsWith("-stack_new.log"))).toHaveLength(1);

    const stacks = path.join(dataDir, "state", ".pulumi", "stacks", "cutover");
    const salt = (stack: string) => JSON.parse(readFileSync(path.join(stacks, `${stack}.json`), "utf8")).checkpoint.latest.secrets_providers.state.salt as string;
    expect(salt("files.b")).toBe(salt("files.a"));
    expect(salt("files.c")).toBe(salt("files.a"));
    const settings = readFileSync(path.join(dataDir, "workspaces", "files.c", "Pulumi.files.c.yaml"), "utf8");
    expect(settings).toBe(`encryptionsalt: ${salt("files.a")}\n`);
    // The secret is sealed in the state, and opened again with the passphrase.
    expect(readFileSync(path.join(stacks, "files.b.json"), "utf8")).not.toContain("sealed-b");
    expect(await engine.outputs("files.b")).toEqual({ secret: "sealed-b", n: 2 });
    await engine.up("files.c", async () => ({ secret: pulumi.secret("sealed-c2") }));
    expect(await engine.outputs("files.c")).toEqual({ secret: "sealed-c2" });

    // The stock CLI, as the README's break glass runs it, reads a written stack and its secret.
    const scratch = tempDir("stack-files-cli");
    const exported = execFileSync(resolveToolchain().pulumiBin, ["stack", "export", "--show-secrets", "--stack", "organization/cutover/files.c", "--non-interactive"], {
      cwd: scratch,
      env: {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${path.join(dataDir, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: "test-passphrase",
        PULUMI_HOME: path.join(dataDir, "pulumi-home"),
        PULUMI_SKIP_UPDATE_CHECK: "true",
      },
      encoding: "utf8",
    });
    expect(exported).toContain("sealed-c2");

    // A stack written and then destroyed leaves nothing; the next of that name is written again.
    await engine.destroy("files.b", async () => undefined);
    expect(await engine.exists("files.b")).toBe(false);
    expect(readdirSync(stacks).filter((f) => f.startsWith("files.b."))).toEqual([]);
    await engine.up("files.b", async () => ({ n: 3 }));
    expect(await engine.outputs("files.b")).toEqual({ n: 3 });
    expect(logsOf(dataDir).filter((f) => f.endsWith("-stack_new.log"))).toHaveLength(1);

    // With every stack gone, the salt the engine has made or read serves the next one.
    for (const stack of ["files.a", "files.b", "files.c"]) await engine.destroy(stack, async () => undefined);
    expect(readdirSync(stacks).filter((f) => f.endsWith(".json"))).toEqual([]);
    await engine.up("files.d", async () => ({ secret: pulumi.secret("sealed-d") }));
    expect(await engine.outputs("files.d")).toEqual({ secret: "sealed-d" });
    expect(logsOf(dataDir).filter((f) => f.endsWith("-stack_new.log"))).toHaveLength(1);
  });
});

describe("a new stack's files when the process dies while writing them", () => {
  it("leave no stack behind: what was half-written is mended, and the next operation writes the stack again", async () => {
    const { engine, dataDir } = testEngine("stack-files-killed");
    await engine.up("cut.a", async () => ({ n: 1 }));
    const stacks = path.join(dataDir, "state", ".pulumi", "stacks", "cutover");
    const salt = JSON.parse(readFileSync(path.join(stacks, "cut.a.json"), "utf8")).checkpoint.latest.secrets_providers.state.salt as string;
    // As a kill between the settings file and the checkpoint's rename leaves them.
    mkdirSync(path.join(dataDir, "workspaces", "cut.b"), { recursive: true });
    writeFileSync(path.join(dataDir, "workspaces", "cut.b", "Pulumi.cut.b.yaml"), `encryptionsalt: ${salt}\n`);
    writeFileSync(path.join(stacks, "cut.b.json.0123456789abcdef.tmp"), '{"version":3,"checkpoint":{"stack":"organization/cutover/cut.b"');
    expect(await engine.exists("cut.b")).toBe(false);
    expect(engine.mendInterruptedWrites()).toEqual(["cut.b.json.0123456789abcdef.tmp: removed"]);
    await engine.up("cut.b", async () => ({ secret: pulumi.secret("after-a-kill") }));
    expect(await engine.outputs("cut.b")).toEqual({ secret: "after-a-kill" });
  });
});

describe("the CLI's own log files", () => {
  it("are kept to a day and 32 MB: a full log directory is trimmed by the next operation", async () => {
    const { engine, dataDir } = testEngine("cli-logs");
    const logs = path.join(dataDir, "pulumi-home", "logs");
    mkdirSync(logs, { recursive: true });
    // As a busy week leaves them under Pulumi's own bounds (7 days, 500 MB): 48 of 1 MiB from the last hour, one from three days ago.
    const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, "").slice(0, 15);
    const recent = stamp(new Date(Date.now() - 3_600_000));
    for (let i = 0; i < 48; i++) writeFileSync(path.join(logs, `pulumi-${recent}-${1000 + i}-up.log`), Buffer.alloc(1024 * 1024));
    writeFileSync(path.join(logs, `pulumi-${stamp(new Date(Date.now() - 3 * 86_400_000))}-999-up.log`), "old");

    await engine.up("logs.a", async () => ({ n: 1 }));
    const left = readdirSync(logs);
    expect(left.some((f) => f.includes("-999-up.log"))).toBe(false);
    const total = left.reduce((sum, f) => sum + statSync(path.join(logs, f)).size, 0);
    expect(total).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(left.filter((f) => /-10\d\d-up\.log$/.test(f)).length).toBeGreaterThan(0);
  });
});

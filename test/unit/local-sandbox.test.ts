// Who local fleets and jobs run as, decided at start; who may choose what
// they run when they cannot be sandboxed; and the access check that names
// the path a run-as user cannot reach.
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ENVIRONMENT_ID_BASE, environmentRunAs, resolveRunAs, type PasswdEntry, type RunAs } from "../../infra/local/provider/run-as";
import { guardedUids, guardLoopback, guardRules } from "../../infra/local/provider/loopback-guard";
import { unreachableFor } from "../../infra/local/provider/run-as-access";
import type { Principal } from "../../server/auth/token-service";
import { ForbiddenError } from "../../server/errors";
import { decideLocalSandbox, guardLocalSandbox, type SandboxFacts } from "../../server/targets/local-sandbox";
import { Authorization } from "../../server/auth/authorization";
import { TokenService } from "../../server/auth/token-service";

const PASSWD: PasswdEntry[] = [
  { user: "root", uid: 0, gid: 0, home: "/root" },
  { user: "cutover-run", uid: 999, gid: 995, home: "/nonexistent" },
  { user: "nobody", uid: 65534, gid: 65534, home: "/nonexistent" },
  { user: "svc", uid: 1000, gid: 1000, home: "/" },
];
const lookupIn =
  (entries: PasswdEntry[]) =>
  (key: string): PasswdEntry | undefined =>
    entries.find((e) => e.user === key || String(e.uid) === key);

const facts = (euid: number, entries = PASSWD, switchError: SandboxFacts["switchError"] = () => undefined): SandboxFacts => ({
  euid,
  resolve: (setting, id) => resolveRunAs(setting, id, lookupIn(entries)),
  switchError,
});

describe("the local sandbox, decided at start", () => {
  const cases: { what: string; setting?: string; facts: SandboxFacts; runAs?: Partial<RunAs>; fails?: RegExp }[] = [
    { what: "root, unset: the user set-up makes", facts: facts(0), runAs: { user: "cutover-run", uid: 999, gid: 995, home: "/tmp" } },
    { what: "root, unset, no cutover-run: nobody", facts: facts(0, PASSWD.filter((e) => e.user !== "cutover-run")), runAs: { user: "nobody", uid: 65534 } },
    { what: "root, unset, neither user", facts: facts(0, PASSWD.slice(0, 1)), fails: /none of the users .*cutover-run, nobody/ },
    { what: "root, a user by name", setting: "svc", facts: facts(0), runAs: { user: "svc", uid: 1000, gid: 1000, home: "/" } },
    { what: "root, uid:gid", setting: "4242:4343", facts: facts(0), runAs: { user: "4242", uid: 4242, gid: 4343, home: "/tmp" } },
    { what: "root, a uid of a known user", setting: "65534", facts: facts(0), runAs: { user: "nobody", gid: 65534 } },
    { what: "root, a user that does not exist", setting: "ghost", facts: facts(0), fails: /CUTOVER_LOCAL_RUN_AS=ghost: there is no such user/ },
    { what: "root, root itself", setting: "root", facts: facts(0), fails: /root's uid or gid/ },
    { what: "root, gid 0", setting: "4242:0", facts: facts(0), fails: /root's uid or gid/ },
    { what: "not root, unset: no sandbox", facts: facts(1000) },
    { what: "not root, its own user", setting: "svc", facts: facts(1000), fails: /Cutover's own user/ },
    { what: "not root, another user it cannot switch to", setting: "nobody", facts: facts(1000, PASSWD, () => "EPERM"), fails: /cannot start processes as nobody .*EPERM.*needs root/ },
    { what: "root without CAP_SETUID", facts: facts(0, PASSWD, () => "EPERM"), fails: /EPERM.*or set CUTOVER_LOCAL_RUN_AS/ },
  ];
  it.each(cases)("$what", (c) => {
    if (c.fails) {
      expect(() => decideLocalSandbox(c.setting, c.facts)).toThrow(c.fails);
      expect(() => decideLocalSandbox(c.setting, c.facts)).toThrow(/^invalid configuration: /);
      return;
    }
    const sandbox = decideLocalSandbox(c.setting, c.facts);
    if (c.runAs) expect(sandbox.runAs).toMatchObject(c.runAs);
    else expect(sandbox.runAs).toBeUndefined();
    expect(sandbox.summary).toMatch(c.runAs ? /run as / : /only an unscoped admin/);
  });
});

describe("who may choose what a local environment runs (the action policy)", () => {
  const tokens = new TokenService({ insert: async () => undefined, byHash: async () => undefined, list: async () => [], revoke: async () => false }, undefined);
  const unscopedAdmin: Principal = { id: "admin", name: "admin", role: "admin" };
  const scopedAdmin: Principal = { id: "t1", name: "shop-admin", role: "admin", environments: ["shop-*"] };
  const emptyScope: Principal = { id: "t2", name: "odd", role: "admin", environments: [] };
  const cases = [
    { sandboxed: true, who: scopedAdmin, target: "local", chooses: true, refused: undefined },
    { sandboxed: true, who: unscopedAdmin, target: "local", chooses: true, refused: undefined },
    { sandboxed: false, who: unscopedAdmin, target: "local", chooses: true, refused: undefined },
    { sandboxed: false, who: scopedAdmin, target: "local", chooses: true, refused: "local_sandbox_unavailable" },
    { sandboxed: false, who: emptyScope, target: "local", chooses: true, refused: "environment_out_of_scope" },
    { sandboxed: false, who: scopedAdmin, target: "local", chooses: false, refused: undefined },
    { sandboxed: false, who: scopedAdmin, target: "kubernetes", chooses: true, refused: undefined },
  ];
  it.each(cases)("sandboxed: $sandboxed, $who.name on $target, choosing what runs: $chooses → refused: $refused", (c) => {
    const authorization = new Authorization(tokens, c.sandboxed);
    const request = c.chooses ? { version: "v1", artifact: { command: ["./app"] } } : { version: "v1" };
    const act = () => authorization.authorizeAll(c.who, authorization.deploymentActions(request, c.target), "shop-a");
    if (!c.refused) return expect(act).not.toThrow();
    expect(act).toThrow(ForbiddenError);
    try {
      act();
    } catch (err) {
      expect((err as ForbiddenError).code).toBe(c.refused);
    }
  });

  it("applies to creating a local environment, which always chooses what runs", () => {
    const act = (sandboxed: boolean, who: Principal) => () => {
      const authorization = new Authorization(tokens, sandboxed);
      authorization.authorizeAll(who, authorization.environmentActions({ target: "local" }), "shop-b");
    };
    expect(act(false, scopedAdmin)).toThrow(/only an unscoped admin/);
    expect(act(false, unscopedAdmin)).not.toThrow();
    expect(act(true, scopedAdmin)).not.toThrow();
  });
});

describe("what a run-as user can reach", () => {
  const runAs: RunAs = { user: "cutover-run", uid: 999, gid: 995, home: "/tmp" };
  const root = mkdtempSync(path.join(os.tmpdir(), "cutover-reach-"));
  chmodSync(root, 0o755);
  const open = path.join(root, "open");
  const closed = path.join(root, "closed");
  for (const d of [open, closed, path.join(open, "bin"), path.join(closed, "bin")]) mkdirSync(d, { recursive: true });
  chmodSync(open, 0o755);
  chmodSync(path.join(open, "bin"), 0o755);
  chmodSync(closed, 0o700);
  writeFileSync(path.join(open, "bin", "tool"), "\x7fELF", { mode: 0o755 });
  writeFileSync(path.join(closed, "bin", "tool"), "\x7fELF", { mode: 0o755 });
  writeFileSync(path.join(open, "app.js"), "", { mode: 0o644 });
  writeFileSync(path.join(open, "private.js"), "", { mode: 0o600 });
  writeFileSync(path.join(open, "script"), "#!/bin/sh\n", { mode: 0o711 });
  symlinkSync(path.join(closed, "bin", "tool"), path.join(open, "bin", "linked"));
  const bins = `${path.join(closed, "bin")}:${path.join(open, "bin")}`;

  it("passes what it can reach", () => {
    expect(unreachableFor(runAs, { command: ["tool", "app.js"], cwd: open, searchPath: path.join(open, "bin") })).toBeUndefined();
    expect(unreachableFor(runAs, { command: ["node", "-e", "x"], cwd: open, searchPath: "/usr/bin:/bin" })).toBeUndefined();
  });

  it("names the directory that stops the working directory", () => {
    expect(unreachableFor(runAs, { command: ["/bin/true"], cwd: closed })).toBe(
      `the user cutover-run (uid 999, gid 995) cannot reach the working directory ${closed}: ${closed} is mode 0700, owner uid ${process.geteuid!()}, group gid ${process.getegid!()}; make it reachable by that user, or choose another with CUTOVER_LOCAL_RUN_AS`,
    );
  });

  it("finds the command on PATH as Cutover would and refuses one the user cannot reach, never one further down", () => {
    expect(unreachableFor(runAs, { command: ["tool"], cwd: open, searchPath: bins })).toMatch(
      new RegExp(`cannot reach the command ${path.join(closed, "bin", "tool")}: ${closed} is mode 0700`),
    );
  });

  it("follows symbolic links to where they lead", () => {
    expect(unreachableFor(runAs, { command: [path.join(open, "bin", "linked")], cwd: open })).toMatch(new RegExp(`${closed} is mode 0700`));
  });

  it("needs read as well as execute for a script, and read for files the arguments name", () => {
    expect(unreachableFor(runAs, { command: ["./script"], cwd: open })).toMatch(/script: .*script is mode 0711/);
    expect(unreachableFor(runAs, { command: ["/bin/cat", "private.js"], cwd: open })).toMatch(/the file .*private\.js named by an argument: .*mode 0600/);
  });

  it("leaves a command that does not exist to the start, which fails as it would for anyone", () => {
    expect(unreachableFor(runAs, { command: ["no-such-command"], cwd: open, searchPath: path.join(open, "bin") })).toBeUndefined();
  });
});

describe("each environment's own uid", () => {
  const chosen = resolveRunAs(undefined, 0, lookupIn(PASSWD))!;
  const configured = resolveRunAs("svc", 0, lookupIn(PASSWD))!;

  it("is derived from the environment's name: stable, distinct, above every account, never root's", () => {
    const a = environmentRunAs(chosen, "shop")!;
    expect(environmentRunAs(chosen, "shop")).toEqual(a);
    const ids = new Set(["shop", "shop-b", "billing", "search", "a", "b"].map((e) => environmentRunAs(chosen, e)!.uid));
    expect(ids.size).toBe(6);
    for (const id of ids) expect(id >= ENVIRONMENT_ID_BASE && id < 2 ** 31 - 1).toBe(true);
    expect(a).toMatchObject({ gid: a.uid, home: chosen.home, user: "cutover-run-shop" });
  });

  it("is the configured user, for every environment, when the operator names one", () => {
    expect(environmentRunAs(configured, "shop")).toEqual(configured);
    expect(environmentRunAs(undefined, "shop")).toBeUndefined();
  });
});

describe("the loopback guard a sandbox needs", () => {
  const chosen = resolveRunAs(undefined, 0, lookupIn(PASSWD))!;
  const configured = resolveRunAs("svc", 0, lookupIn(PASSWD))!;
  const ephemeral = { low: 32768, high: 60999 };

  it("refuses connections the guarded users open to ephemeral loopback ports, and nothing else", () => {
    const everyEnvironment = guardedUids(environmentRunAs(chosen, "shop")!);
    expect(guardedUids(chosen)).toEqual(everyEnvironment);
    expect(everyEnvironment).toEqual({ low: ENVIRONMENT_ID_BASE, high: 2 ** 31 - 2 ** 16 - 1 });
    expect(guardedUids(configured)).toEqual({ low: 1000, high: 1000 });
    const rules = guardRules(everyEnvironment, ephemeral).split("\n").filter(Boolean);
    const chain = `inet cutover sandbox_${ENVIRONMENT_ID_BASE}_${2 ** 31 - 2 ** 16 - 1}`;
    expect(rules).toEqual([
      "add table inet cutover",
      `add chain ${chain} { type filter hook output priority 0; policy accept; }`,
      `flush chain ${chain}`,
      `add rule ${chain} meta skuid ${ENVIRONMENT_ID_BASE}-${2 ** 31 - 2 ** 16 - 1} ip daddr 127.0.0.0/8 tcp dport 32768-60999 tcp flags & (syn | ack) == syn reject with tcp reset`,
      `add rule ${chain} meta skuid ${ENVIRONMENT_ID_BASE}-${2 ** 31 - 2 ** 16 - 1} ip6 daddr ::1 tcp dport 32768-60999 tcp flags & (syn | ack) == syn reject with tcp reset`,
    ]);
    expect(guardRules({ low: 1000, high: 1000 }, ephemeral)).toContain("meta skuid 1000 ip daddr");
  });

  it("stops the start when it cannot be put in place, naming what is missing", async () => {
    await expect(guardLoopback(chosen, "/nonexistent/nft")).resolves.toMatch(/^nftables is not installed \(\/nonexistent\/nft\): install Debian's nftables/);
    const failing = async () => "nft could not keep sandboxed processes off the engine's loopback ports: Operation not permitted";
    await expect(guardLocalSandbox({ runAs: chosen, summary: "" }, failing)).rejects.toThrow(/^invalid configuration: local fleets and pre-deploy jobs would run as cutover-run .*Operation not permitted/);
    await expect(guardLocalSandbox({ summary: "no sandbox" }, failing)).resolves.toBeUndefined();
  });
});

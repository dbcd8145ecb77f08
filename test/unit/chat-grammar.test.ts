import { parseChatCommand } from "../../server/chatops/chat-grammar";

describe("the chat command grammar", () => {
  it("parses deploy with its options", () => {
    expect(parseChatCommand("deploy staging v1.2.3 --canary 10,50,100 --bake 5m")).toEqual({
      ok: true,
      command: { verb: "deploy", environment: "staging", version: "v1.2.3", canary: [10, 50, 100], bake: "5m" },
    });
    expect(parseChatCommand("  DEPLOY   staging  v2 ")).toEqual({ ok: true, command: { verb: "deploy", environment: "staging", version: "v2" } });
    expect(parseChatCommand("deploy staging v2 --canary 20,100 --step-pause 30s")).toMatchObject({ ok: true, command: { canary: [20, 100], stepPause: "30s" } });
  });

  it("parses the environment verbs and help", () => {
    for (const verb of ["status", "history", "promote", "pause", "resume", "abort", "rollback"]) {
      expect(parseChatCommand(`${verb} prod`)).toEqual({ ok: true, command: { verb, environment: "prod" } });
    }
    expect(parseChatCommand("")).toEqual({ ok: true, command: { verb: "help" } });
    expect(parseChatCommand("help")).toEqual({ ok: true, command: { verb: "help" } });
  });

  it("parses a promotion through a pipeline: the pipeline, then the stage", () => {
    expect(parseChatCommand("promote shop prod")).toEqual({ ok: true, command: { verb: "promote", pipeline: "shop", environment: "prod" } });
    expect(parseChatCommand("promote shop prod extra")).toEqual({ ok: false, problem: "`promote` takes an environment, or a pipeline and one of its stages" });
  });

  it("parses approve and reject, with or without a gate", () => {
    expect(parseChatCommand("approve prod")).toEqual({ ok: true, command: { verb: "approve", environment: "prod" } });
    expect(parseChatCommand("reject prod db-check")).toEqual({ ok: true, command: { verb: "reject", environment: "prod", gate: "db-check" } });
    expect(parseChatCommand("approve prod a b")).toEqual({ ok: false, problem: "`approve` takes an environment name and, optionally, a gate" });
  });

  it("parses maintenance on, with a hold or a Retry-After, and off", () => {
    expect(parseChatCommand("maintenance on shop")).toEqual({ ok: true, command: { verb: "maintenance", on: true, environment: "shop" } });
    expect(parseChatCommand("maintenance on shop --hold 30s --retry-after 5m")).toEqual({ ok: true, command: { verb: "maintenance", on: true, environment: "shop", hold: "30s", retryAfter: "5m" } });
    expect(parseChatCommand("maintenance off shop")).toEqual({ ok: true, command: { verb: "maintenance", on: false, environment: "shop" } });
    expect(parseChatCommand("maintenance off shop --hold 30s")).toEqual({ ok: false, problem: "unknown option `--hold`" });
    expect(parseChatCommand("maintenance on shop --hold soon")).toEqual({ ok: false, problem: "`--hold` takes a duration such as 30s or 5m" });
    expect(parseChatCommand("maintenance on")).toEqual({ ok: false, problem: "`maintenance` takes on or off and an environment" });
  });

  it("explains what is wrong", () => {
    expect(parseChatCommand("launch prod")).toEqual({ ok: false, problem: "unknown command `launch`" });
    expect(parseChatCommand("deploy prod")).toEqual({ ok: false, problem: "`deploy` needs an environment and a version" });
    expect(parseChatCommand("status")).toEqual({ ok: false, problem: "`status` takes one environment name" });
    expect(parseChatCommand("deploy prod v1 --canary 10,abc")).toMatchObject({ ok: false });
    expect(parseChatCommand("deploy prod v1 --bake forever")).toMatchObject({ ok: false });
    expect(parseChatCommand("deploy prod v1 --canary")).toEqual({ ok: false, problem: "`--canary` needs a value" });
    expect(parseChatCommand("deploy prod v1 --force yes")).toEqual({ ok: false, problem: "unknown option `--force`" });
    expect(parseChatCommand("deploy prod v1 --step-pause 5m")).toEqual({ ok: false, problem: "`--step-pause` goes with `--canary`" });
  });
});

// Pulumi's Node SDK routes every unhandled rejection in the process to each
// inline program running at that moment. A late RPC failure of one stack
// (gRPC's "14 UNAVAILABLE" once its engine has gone) then fails another
// stack's update that had nothing to do with it. The engine runs such an
// update again. Real engine, real file backend, two updates at once, in a
// plain Node process (the compiled fixture) where rejections reach the SDK.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { isLostEngineConnection } from "../../server/engine/pulumi-engine";
import { tempDir } from "../helpers/temp-dir";

const fixture = path.join(__dirname, "..", "..", "dist", "test", "fixtures", "engine-crosstalk.js");

describe("an update failed by another program's lost engine connection", () => {
  it("is run again and converges, while a real program error is not retried", () => {
    const out = execFileSync(process.execPath, [fixture, tempDir("engine-crosstalk")], { encoding: "utf8", timeout: 120_000 });
    const result = JSON.parse(out.trim().split("\n").pop()!);
    // Both updates failed once on A's stray rejection, and both converged on their second run.
    expect(result.a).toEqual({ a: 2 });
    expect(result.b).toEqual({ b: 2 });
    expect(result.diagnostics.filter((m: string) => /lost its connection to the engine/.test(m))).toHaveLength(2);
    expect(result.failure).toMatch(/the program is wrong/);
    expect(result.runsC).toBe(1);
  });

  it("recognises the engine's connection errors and nothing else", () => {
    expect(isLostEngineConnection(new Error("One or more errors occurred: 14 UNAVAILABLE: No connection established"))).toBe(true);
    expect(isLostEngineConnection(new Error("Resource monitor is terminating"))).toBe(true);
    expect(isLostEngineConnection(new Error("failed to load checkpoint: EOF"))).toBe(false);
    expect(isLostEngineConnection(new Error("code 140 UNAVAILABLE"))).toBe(false);
  });
});

// The engine's processes run at a lower CPU priority than the API: the
// Pulumi CLI of a running update, looked up in /proc while it works, has
// niceness 10, and the server's own process keeps its own.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import path from "node:path";
import { testEngine } from "../helpers/engine";
import { waitFor } from "../helpers/wait-for";

/**
 * Niceness of the pulumi processes whose environment carries this
 * PULUMI_HOME: those whose program is a pulumi binary (the CLI, its
 * plugins), not the wrapper script named pulumi, which runs at the
 * caller's niceness for the moment before it execs nice.
 */
function engineNiceness(pulumiHome: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/environ`, "latin1").includes(`PULUMI_HOME=${pulumiHome}\0`)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (!/\((pulumi[^)]*)\)/.test(stat) || !path.basename(readlinkSync(`/proc/${pid}/exe`)).startsWith("pulumi")) continue;
      out.push(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe("engine priority", () => {
  it("runs the Pulumi CLI at niceness 10 while the server keeps its own", async () => {
    const { engine } = testEngine("priority");
    let finish!: () => void;
    const held = new Promise<void>((r) => (finish = r));
    // An inline program that holds the update open until the test has looked.
    const up = engine.up("priority.probe", async () => {
      await held;
      return { done: true };
    });
    try {
      const seen = await waitFor("the pulumi CLI to run", () => {
        const n = engineNiceness(engine.pulumiHome);
        return n.length ? n : undefined;
      }, 60_000, 50);
      expect(new Set(seen)).toEqual(new Set([10]));
      const own = Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[16]);
      expect(own).toBeLessThan(10);
    } finally {
      finish();
    }
    expect(await up).toMatchObject({ done: true });
  });
});

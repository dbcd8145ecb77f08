// A pulumi process killed while it saves a checkpoint in the file backend
// leaves an empty `.attrs` sidecar or a truncated checkpoint, and every
// later operation on the stack fails ("failed to load checkpoint: EOF").
// The engine mends both before recovery reads any stack: the real engine,
// a real file backend, the damage made by hand as a kill leaves it.
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { testEngine } from "../helpers/engine";
import { waitFor } from "../helpers/wait-for";

const program = (n: number) => async () => ({ n });

describe("mending what an interrupted engine left half-written", () => {
  it("removes an empty sidecar and restores a truncated checkpoint from its backup", async () => {
    const { engine, dataDir } = testEngine("mending");
    await engine.up("mend.a", program(1));
    await engine.up("mend.a", program(2));
    await engine.up("mend.b", program(3));
    const dir = path.join(dataDir, "state", ".pulumi", "stacks", "cutover");
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(["mend.a.json", "mend.a.json.bak", "mend.a.json.attrs", "mend.b.json.attrs"]));

    // As a kill leaves them: an empty sidecar, a checkpoint cut short, a temporary file.
    writeFileSync(path.join(dir, "mend.b.json.attrs"), "");
    writeFileSync(path.join(dir, "mend.a.json"), '{"version": 3, "checkpoint": {');
    writeFileSync(path.join(dir, "mend.a.json.0123456789abcdef.tmp"), "{");
    await expect(engine.outputs("mend.b")).rejects.toThrow(/EOF|checkpoint/);

    const mended = engine.mendInterruptedWrites();
    expect(mended).toEqual(
      expect.arrayContaining(["mend.b.json.attrs: removed (half-written)", "mend.a.json: restored from its backup", "mend.a.json.0123456789abcdef.tmp: removed"]),
    );
    expect(await engine.outputs("mend.b")).toEqual({ n: 3 });
    // The backup is the checkpoint before the last one: the stack works again, one save behind.
    expect(await engine.outputs("mend.a")).toEqual({ n: 1 });
    await engine.up("mend.a", program(4));
    expect(await engine.outputs("mend.a")).toEqual({ n: 4 });
    // Nothing left to mend.
    expect(engine.mendInterruptedWrites()).toEqual([]);
    expect(statSync(path.join(dir, "mend.a.json")).size).toBeGreaterThan(0);
  });

  // `pulumi stack init` and `pulumi stack rm` hold the stack's lock while they write or remove its checkpoint:
  // one killed there leaves a lock on a stack that does not exist, and the next `stack init` of that name fails.
  it("clears a lock that a cut-off stack removal left on a stack that is gone", async () => {
    const { engine, dataDir } = testEngine("lock-without-stack");
    // A real lock, as a killed CLI leaves it: an update that never ends, its CLI killed while it holds the lock.
    // Killed only once the program is under way: the SDK's own calls to the engine are done by then, none is cut off.
    let entered = false;
    const hanging = engine
      .up("gone.a", async () => {
        entered = true;
        return new Promise(() => undefined);
      })
      .catch((err: Error) => err);
    await waitFor("the update to hold the stack's lock, its program under way", async () => entered && (await engine.isLocked("gone.a")) === true, 60_000);
    expect(engine.killOrphanedProcesses().length).toBeGreaterThan(0);
    expect(await hanging).toBeInstanceOf(Error);
    // What `stack rm` had removed before it was cut off: the checkpoint and its companions; the lock stays.
    const dir = path.join(dataDir, "state", ".pulumi", "stacks", "cutover");
    for (const f of readdirSync(dir).filter((f) => f.startsWith("gone.a."))) rmSync(path.join(dir, f));
    expect(await engine.exists("gone.a")).toBe(false);
    expect(await engine.isLocked("gone.a")).toBe(true);
    await expect(engine.up("gone.a", program(1))).rejects.toThrow(/locked/);

    expect(await engine.repair("gone.a")).toEqual({ cancelled: true, pendingCleared: 0 });
    expect(await engine.isLocked("gone.a")).toBe(false);
    expect(await engine.up("gone.a", program(5))).toEqual({ n: 5 });
    expect(await engine.repair("gone.a")).toEqual({ cancelled: false, pendingCleared: 0 });
  });
});

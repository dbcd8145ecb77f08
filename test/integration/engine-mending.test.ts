// A pulumi process killed while it saves a checkpoint in the file backend
// leaves an empty `.attrs` sidecar or a truncated checkpoint, and every
// later operation on the stack fails ("failed to load checkpoint: EOF").
// The engine mends both before recovery reads any stack: the real engine,
// a real file backend, the damage made by hand as a kill leaves it.
import { readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { testEngine } from "../helpers/engine";

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
});

// A stack listing that raced a stack's removal on Pulumi's Postgres backend
// is run again; any other failure is the caller's at once.
import { listedDespiteRemovals } from "../../server/engine/stack-operations";

const RACE = new Error(
  "Command failed with exit code 1: pulumi stack ls --json --non-interactive\nerror: list bucket: blob (code=NotFound): sql: no rows in result set",
);

describe("a stack listing", () => {
  it("is run again when a stack was removed while it listed", async () => {
    let calls = 0;
    const listed = await listedDespiteRemovals(async () => {
      calls++;
      if (calls < 3) throw RACE;
      return ["shop.blue"];
    });
    expect(listed).toEqual(["shop.blue"]);
    expect(calls).toBe(3);
  });

  it("gives up after its attempts, and fails at once for anything else", async () => {
    let calls = 0;
    const racing = async () => {
      calls++;
      throw RACE;
    };
    await expect(listedDespiteRemovals(racing, 2)).rejects.toThrow(/code=NotFound/);
    expect(calls).toBe(2);
    calls = 0;
    const locked = async () => {
      calls++;
      throw new Error("the stack is currently locked");
    };
    await expect(listedDespiteRemovals(locked, 4)).rejects.toThrow(/locked/);
    expect(calls).toBe(1);
  });
});

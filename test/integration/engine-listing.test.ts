// Many stack lookups at once, as environments deploying in parallel make
// them: each one answers, and none reads a workspace file another is writing.
import { PulumiEngine } from "../../server/engine/pulumi-engine";
import { resolveToolchain } from "../../server/engine/toolchain";
import { testEngine } from "../helpers/engine";

describe("stack lookups at once", () => {
  it("answer every one of 16 concurrent calls, on the file backend and through the CLI", async () => {
    const { engine, dataDir } = testEngine("listing");
    // The same backend named differently goes through `pulumi stack ls`.
    const listing = new PulumiEngine({ dataDir, passphrase: "test-passphrase", toolchain: resolveToolchain(), backendUrl: `file://${dataDir}/state/` });
    const listed = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => listing.exists(`absent-${i}`)));
    expect(listed.filter((a) => a.status === "rejected")).toEqual([]);
    const answers = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => engine.exists(`absent-${i}`)));
    expect(answers.filter((a) => a.status === "rejected")).toEqual([]);
    expect(answers.map((a) => (a as PromiseFulfilledResult<boolean>).value)).toEqual(Array(16).fill(false));
  });
});

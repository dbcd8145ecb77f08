// A release's digest and who may see it: pure rules.
import { releaseDigest } from "../../server/releases/release";
import { scopesOverlap } from "../../server/auth/scopes";

describe("a release's digest", () => {
  it("names its content: the same content in any key order gives the same digest, any change another", () => {
    const a = releaseDigest({ version: "v1", artifact: { command: ["app"], env: { A: "1", B: { sealed: "x" } } } });
    const b = releaseDigest({ version: "v1", artifact: { env: { B: { sealed: "x" }, A: "1" }, command: ["app"] } });
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b).toBe(a);
    expect(releaseDigest({ version: "v2", artifact: { command: ["app"], env: { A: "1", B: { sealed: "x" } } } })).not.toBe(a);
    expect(releaseDigest({ version: "v1", artifact: { command: ["app"], env: { A: "2", B: { sealed: "x" } } } })).not.toBe(a);
    expect(releaseDigest({ version: "v1", artifact: { command: ["app"], env: { A: "1", B: { sealed: "x" } } }, preDeploy: { command: ["m"], timeout: "1m" } })).not.toBe(a);
  });
});

describe("scopes that share an environment", () => {
  it.each([
    [undefined, ["dev"], true],
    [["dev"], undefined, true],
    [["dev"], ["dev"], true],
    [["dev"], ["prod"], false],
    [["team-*"], ["team-a"], true],
    [["team-a"], ["team-*"], true],
    [["team-*"], ["other-a"], false],
    [["team-*"], ["team-a-*"], true],
    [["team-a-*"], ["team-b*"], false],
    [["dev", "team-*"], ["prod", "team-x"], true],
  ])("%j and %j: %s", (a, b, expected) => {
    expect(scopesOverlap(a as string[] | undefined, b as string[] | undefined)).toBe(expected);
  });
});

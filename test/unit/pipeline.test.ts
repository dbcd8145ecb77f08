// What may come into a pipeline's stage next, decided from what is live where.
import { eligibility, type LiveRelease, type Pipeline } from "../../server/releases/pipeline";
import type { Release } from "../../server/releases/release";

const release = (id: string, version: string): Release => ({
  id,
  version,
  artifact: { command: ["app"] },
  provenance: {},
  digest: `sha256:${id}`,
  createdBy: { kind: "token", id: "t", name: "ci" },
  createdAt: "2026-01-01T00:00:00.000Z",
});
const pipeline: Pipeline = {
  name: "shop",
  createdBy: { kind: "token", id: "t", name: "admin" },
  updatedAt: "2026-01-01T00:00:00.000Z",
  stages: [
    { environment: "dev", promotion: "manual", soak: "0s" },
    { environment: "staging", promotion: "manual", soak: "10m" },
  ],
};
const now = new Date("2026-01-01T12:00:00.000Z");
const live = (r: Release, minutesAgo: number): LiveRelease => ({ release: r, since: new Date(now.getTime() - minutesAgo * 60_000).toISOString() });
const r1 = release("rel_1", "v1");
const r2 = release("rel_2", "v2");

describe("eligibility of a stage", () => {
  it("takes nothing by itself into the first stage", () => {
    expect(eligibility(pipeline, 0, [live(r1, 60), undefined], now)).toMatchObject({ eligible: false, code: "first_stage" });
  });

  it("needs a release live in the stage before", () => {
    expect(eligibility(pipeline, 1, [undefined, undefined], now)).toMatchObject({ eligible: false, code: "nothing_upstream", reason: "no release is live in dev" });
  });

  it("waits out the stage's soak, counted from when the release went live upstream", () => {
    expect(eligibility(pipeline, 1, [live(r2, 4), live(r1, 60)], now)).toMatchObject({ eligible: false, code: "soaking", release: r2, soakRemainingMs: 6 * 60_000 });
    expect(eligibility(pipeline, 1, [live(r2, 10), live(r1, 60)], now)).toMatchObject({ eligible: true, release: r2 });
  });

  it("has nothing new to bring when the release upstream is live here already", () => {
    expect(eligibility(pipeline, 1, [live(r1, 60), live(r1, 30)], now)).toMatchObject({ eligible: false, code: "already_live", release: r1 });
  });
});

// The waves of a rolling deployment: capacity stays within the surge and
// unavailability bounds at every point of every wave, and each wave moves on.
import { planWaves, resolveCount, waveWeight } from "../../server/deployments/rolling-waves";
import { stepsOf } from "../../server/deployments/model";

describe("rolling waves", () => {
  it("reads counts and percentages as Kubernetes does (surge rounds up, unavailability down)", () => {
    expect(resolveCount("25%", 10, "up")).toBe(3);
    expect(resolveCount("25%", 10, "down")).toBe(2);
    expect(resolveCount(2, 10, "up")).toBe(2);
    expect(() => resolveCount("a lot", 10, "up")).toThrow(/neither a count nor a percentage/);
  });

  it("grows one and shrinks one per wave with maxSurge 1, maxUnavailable 0", () => {
    expect(planWaves(3, 1, 0)).toEqual([
      { shrinkTo: 3, grow: 1, old: 2 },
      { shrinkTo: 2, grow: 2, old: 1 },
      { shrinkTo: 1, grow: 3, old: 0 },
    ]);
  });

  it("makes way first when there is no room to surge", () => {
    expect(planWaves(2, 0, 1)).toEqual([
      { shrinkTo: 1, grow: 1, old: 1 },
      { shrinkTo: 0, grow: 2, old: 0 },
    ]);
  });

  it("lets one instance go at a time when both percentages round to nothing", () => {
    expect(planWaves(2, "0%", "10%")).toEqual(planWaves(2, 0, 1));
  });

  it.each([
    [1, 1, 0],
    [4, "25%", 0],
    [4, "25%", "25%"],
    [5, 0, "40%"],
    [7, 2, 1],
    [10, "50%", "50%"],
    [3, 0, "100%"],
    [6, 10, 0],
  ] as const)("keeps %s instances within bounds with maxSurge %s, maxUnavailable %s", (size, surge, unavailable) => {
    const s = resolveCount(surge, size, "up");
    const u = Math.max(resolveCount(unavailable, size, "down"), s === 0 ? 1 : 0);
    const waves = planWaves(size, surge, unavailable);
    let grown = 0;
    let old: number = size;
    for (const w of waves) {
      // shrink, then grow, then shrink again
      expect(w.shrinkTo).toBeLessThanOrEqual(old);
      expect(grown + w.shrinkTo).toBeGreaterThanOrEqual(size - u);
      expect(w.grow + w.shrinkTo).toBeLessThanOrEqual(size + s);
      expect(w.grow).toBeGreaterThanOrEqual(grown);
      expect(w.old).toBeLessThanOrEqual(w.shrinkTo);
      expect(w.grow + w.old).toBeGreaterThanOrEqual(size - u);
      expect(w.grow > grown || w.old < old).toBe(true);
      grown = w.grow;
      old = w.old;
    }
    expect(grown).toBe(size);
    expect(old).toBe(0);
  });

  it("weights follow capacity, and the steps of a rolling strategy are its waves", () => {
    expect(waveWeight({ grow: 1, old: 2 })).toBe(33);
    expect(waveWeight({ grow: 3, old: 0 })).toBe(100);
    expect(stepsOf({ type: "rolling", maxSurge: 1, maxUnavailable: 0, pause: "5s" }, 3)).toEqual([
      { weight: 33, pause: "5s" },
      { weight: 67, pause: "5s" },
      { weight: 100 },
    ]);
  });
});

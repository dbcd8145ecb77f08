import { ConditionError, parseCondition } from "../../server/analysis/condition";

const holds = (source: string, result: number | number[]) => parseCondition(source).evaluate(result);

describe("analysis conditions", () => {
  it("compares a scalar result", () => {
    expect(holds("result < 0.01", 0.005)).toBe(true);
    expect(holds("result < 0.01", 0.02)).toBe(false);
    expect(holds("result >= 0.95", 0.95)).toBe(true);
    expect(holds("result == 3", 3)).toBe(true);
    expect(holds("result != 3", 3)).toBe(false);
  });

  it("combines with and/or/not, parentheses and arithmetic", () => {
    expect(holds("result > 0 && result < 1", 0.5)).toBe(true);
    expect(holds("result > 0 and result < 1", 1.5)).toBe(false);
    expect(holds("result < 0 || result * 100 > 50", 0.6)).toBe(true);
    expect(holds("not (result > 1)", 0.5)).toBe(true);
    expect(holds("!(result > 1)", 2)).toBe(false);
    expect(holds("-result < -1", 2)).toBe(true);
    expect(holds("(result + 1) / 2 == 1", 1)).toBe(true);
  });

  it("indexes and judges lists (several series) element by element", () => {
    expect(holds("result[0] < 0.01", [0.001, 0.5])).toBe(true);
    expect(holds("result < 0.01", [0.001, 0.5])).toBe(false);
    expect(holds("result < 0.01", [0.001, 0.002])).toBe(true);
    expect(holds("len(result) == 2", [1, 2])).toBe(true);
    expect(holds("max(result) < 3 && min(result) > 0", [1, 2])).toBe(true);
    expect(holds("result[5] < 1", [0.1])).toBe(false);
  });

  it("treats NaN and empty results as failing comparisons", () => {
    expect(holds("result < 0.01", NaN)).toBe(false);
    expect(holds("result >= 0.01", NaN)).toBe(false);
    expect(holds("isNaN(result)", NaN)).toBe(true);
    expect(holds("isNaN(result) || result < 1", NaN)).toBe(true);
    expect(holds("result < 1", [])).toBe(false);
  });

  it("rejects anything that is not the language, with a reason", () => {
    for (const bad of ["", "result <", "process.exit(1)", "result < 0.01; 1", "constructor", "result[x]", "(result < 1", "result < 1)", "len result", "`x`", "result.length"]) {
      expect(() => parseCondition(bad)).toThrow(ConditionError);
    }
    expect(() => parseCondition("x".repeat(300))).toThrow(/at most 256/);
    expect(() => parseCondition("foo > 1")).toThrow(/unknown name "foo"/);
  });
});

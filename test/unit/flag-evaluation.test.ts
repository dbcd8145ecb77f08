// Flag evaluation: the hash, the rollout's stickiness and monotony, the
// rules' operators, and the order kill switch → rules → rollout → default.
import { bucketOf, evaluateFlag, type EvaluationSuccess } from "../../server/flags/flag-evaluation";
import type { Flag } from "../../server/flags/flag-model";
import { murmur3 } from "../../server/flags/murmur3";

const flag = (over: Partial<Flag> = {}): Flag => ({
  environment: "shop",
  key: "new-checkout",
  salt: "0123456789abcdef",
  version: 1,
  enabled: true,
  variants: { on: true, off: false },
  defaultVariant: "off",
  rules: [],
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  updatedBy: { kind: "token", id: "admin", name: "admin" },
  ...over,
});
const users = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const value = (f: Flag, ctx: Record<string, unknown>) => (evaluateFlag(f, ctx) as EvaluationSuccess).value;

describe("murmur3", () => {
  it("matches the reference x86 32-bit vectors", () => {
    expect(murmur3("", 0)).toBe(0);
    expect(murmur3("", 1)).toBe(0x514e28b7);
    expect(murmur3("", 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3("test", 0)).toBe(0xba6bd213);
    expect(murmur3("Hello, world!", 1234)).toBe(0xfaf6cdb3);
    expect(murmur3("The quick brown fox jumps over the lazy dog", 0)).toBe(0x2e4ff723);
    expect(murmur3("abc", 0x9747b28c)).toBe(0xc84a62dd);
    expect(murmur3("aaaa", 0x9747b28c)).toBe(0x5a97808a);
  });
});

describe("percentage rollout", () => {
  const at = (percentage: number) => flag({ rollout: { variant: "on", percentage, stickiness: "targetingKey" } });

  it("gives the variant to the configured share of 10,000 users, within 2 points", () => {
    for (const percentage of [1, 10, 25, 50, 75, 99]) {
      const share = users.filter((u) => value(at(percentage), { targetingKey: u }) === true).length / users.length;
      expect(Math.abs(share * 100 - percentage)).toBeLessThanOrEqual(2);
    }
  });

  it("is sticky and monotone: raising never takes the feature away, lowering takes it only from users above the line", () => {
    const had = (p: number) => new Set(users.filter((u) => value(at(p), { targetingKey: u }) === true));
    const [ten, twentyFive, fifty] = [had(10), had(25), had(50)];
    for (const u of ten) expect(twentyFive.has(u)).toBe(true);
    for (const u of twentyFive) expect(fifty.has(u)).toBe(true);
    // Back down to 10%: exactly the users who had it at 10% keep it.
    expect(had(10)).toEqual(ten);
    // The same user lands in the same bucket every time, and the bucket decides.
    for (const u of users.slice(0, 100)) expect(value(at(25), { targetingKey: u })).toBe(bucketOf(at(25), u) < 2500);
  });

  it("buckets each flag independently, by key and salt", () => {
    const a = users.filter((u) => bucketOf({ key: "a", salt: "s" }, u) < 5000);
    const b = new Set(users.filter((u) => bucketOf({ key: "b", salt: "s" }, u) < 5000));
    const overlap = a.filter((u) => b.has(u)).length / a.length;
    expect(overlap).toBeGreaterThan(0.4);
    expect(overlap).toBeLessThan(0.6);
  });

  it("0% and 100% are exact; a missing targetingKey is TARGETING_KEY_MISSING; another stickiness falls back to the default", () => {
    expect(users.some((u) => value(at(0), { targetingKey: u }))).toBe(false);
    expect(users.every((u) => value(at(100), { targetingKey: u }))).toBe(true);
    expect(evaluateFlag(at(50), {})).toMatchObject({ errorCode: "TARGETING_KEY_MISSING" });
    const byOrg = flag({ rollout: { variant: "on", percentage: 100, stickiness: "org" } });
    expect(evaluateFlag(byOrg, { targetingKey: "u" })).toMatchObject({ value: false, reason: "DEFAULT" });
    expect(evaluateFlag(byOrg, { org: 42 })).toMatchObject({ value: true, reason: "SPLIT" });
    expect(evaluateFlag(byOrg, { org: { nested: 1 } })).toMatchObject({ errorCode: "INVALID_CONTEXT" });
  });
});

describe("rules and reasons", () => {
  const ruled = (conditions: Flag["rules"][number]["conditions"]) => flag({ rules: [{ conditions, variant: "on" }] });
  const hit = (conditions: Flag["rules"][number]["conditions"], ctx: Record<string, unknown>) => value(ruled(conditions), ctx) === true;

  it("matches every operator as documented", () => {
    expect(hit([{ attribute: "email", operator: "ends_with", values: ["@example.com"] }], { email: "a@example.com" })).toBe(true);
    expect(hit([{ attribute: "email", operator: "ends_with", values: ["@example.com"] }], { email: "a@other.org" })).toBe(false);
    expect(hit([{ attribute: "email", operator: "starts_with", values: ["qa-", "test-"] }], { email: "test-1@x" })).toBe(true);
    expect(hit([{ attribute: "plan", operator: "in", values: ["pro", "team"] }], { plan: "team" })).toBe(true);
    expect(hit([{ attribute: "plan", operator: "not_in", values: ["free"] }], { plan: "free" })).toBe(false);
    expect(hit([{ attribute: "plan", operator: "not_in", values: ["free"] }], {})).toBe(true);
    expect(hit([{ attribute: "plan", operator: "in", values: ["pro"] }], {})).toBe(false);
    expect(hit([{ attribute: "age", operator: "gte", values: [18] }], { age: 18 })).toBe(true);
    expect(hit([{ attribute: "age", operator: "lt", values: [18] }], { age: "17" })).toBe(true);
    expect(hit([{ attribute: "age", operator: "gt", values: [18] }], { age: "old" })).toBe(false);
    expect(hit([{ attribute: "id", operator: "in", values: [7] }], { id: 7 })).toBe(true);
    expect(hit([{ attribute: "appVersion", operator: "semver_gte", values: ["2.10.0"] }], { appVersion: "2.9.1" })).toBe(false);
    expect(hit([{ attribute: "appVersion", operator: "semver_gte", values: ["2.10.0"] }], { appVersion: "v2.10.0" })).toBe(true);
    expect(hit([{ attribute: "appVersion", operator: "semver_lt", values: ["2.0.0"] }], { appVersion: "2.0.0-rc.1" })).toBe(true);
    expect(hit([{ attribute: "appVersion", operator: "semver_eq", values: ["1.2.3"] }], { appVersion: "not-a-version" })).toBe(false);
    // All conditions of a rule must match.
    const both = [
      { attribute: "plan", operator: "in" as const, values: ["pro"] },
      { attribute: "country", operator: "in" as const, values: ["CA"] },
    ];
    expect(hit(both, { plan: "pro", country: "CA" })).toBe(true);
    expect(hit(both, { plan: "pro", country: "US" })).toBe(false);
  });

  it("disabled beats rules beats rollout beats default, each with its reason", () => {
    const f = flag({
      variants: { red: "#f00", blue: "#00f", green: "#0f0" },
      defaultVariant: "red",
      rules: [
        { conditions: [{ attribute: "email", operator: "ends_with", values: ["@qa.example"] }], variant: "green" },
        { conditions: [{ attribute: "email", operator: "ends_with", values: ["@example.com"] }], variant: "blue" },
      ],
      rollout: { variant: "blue", percentage: 0, stickiness: "targetingKey" },
    });
    expect(evaluateFlag(f, { targetingKey: "u", email: "x@qa.example" })).toMatchObject({ value: "#0f0", variant: "green", reason: "TARGETING_MATCH" });
    expect(evaluateFlag(f, { targetingKey: "u", email: "x@example.com" })).toMatchObject({ value: "#00f", reason: "TARGETING_MATCH" });
    expect(evaluateFlag(f, { targetingKey: "u" })).toMatchObject({ value: "#f00", reason: "SPLIT" });
    expect(evaluateFlag({ ...f, enabled: false }, { targetingKey: "u", email: "x@qa.example" })).toMatchObject({ value: "#f00", reason: "DISABLED" });
    expect(evaluateFlag(flag(), {})).toMatchObject({ value: false, reason: "STATIC", metadata: { environment: "shop", flagVersion: 1 } });
    expect(evaluateFlag(ruled([{ attribute: "plan", operator: "in", values: ["pro"] }]), {})).toMatchObject({ reason: "DEFAULT" });
  });
});

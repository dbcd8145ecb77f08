import { autogroupNiceness } from "../../server/engine/autogroup";

describe("the engine workers' autogroup", () => {
  it("weighs the busy workers together about as much as one session at the API's priority, never below their own nice", () => {
    expect(autogroupNiceness(10, 1)).toBe(0);
    expect(autogroupNiceness(10, 2)).toBe(3);
    expect(autogroupNiceness(10, 4)).toBe(6);
    expect(autogroupNiceness(10, 8)).toBe(9);
    expect(autogroupNiceness(10, 64)).toBe(10);
    expect(autogroupNiceness(0, 4)).toBe(0);
  });
});

import { judgeCanary } from "../../server/deployments/canary-analysis";

const stats = (blueReq: number, blueErr: number, greenReq: number, greenErr: number) => ({
  blue: { requests: blueReq, errors: blueErr },
  green: { requests: greenReq, errors: greenErr },
});

describe("canary analysis", () => {
  const analysis = { maxErrorRate: 0.05, minRequests: 20 };

  it("judges only the canary's requests since the pause began", () => {
    // Green had failed a lot before the pause, and blue fails now: neither counts.
    expect(judgeCanary(analysis, "green", stats(100, 0, 500, 400), stats(900, 800, 600, 402))).toEqual({ requests: 100, errors: 2 });
  });

  it("waits for enough requests before judging", () => {
    expect(() => judgeCanary(analysis, "green", stats(0, 0, 0, 0), stats(0, 0, 19, 19))).not.toThrow();
  });

  it("fails the canary past the limit, with a stable code", () => {
    expect(() => judgeCanary(analysis, "blue", stats(0, 0, 0, 0), stats(40, 3, 0, 0))).toThrow(
      expect.objectContaining({ code: "canary_analysis_failed", message: "the canary answered 3 of 40 requests with 5xx (limit 5%)" }),
    );
  });
});

// Slack's request signing, checked against Slack's documented example, and
// Mattermost's command token.
import { slackSignature, verifyCommandToken, verifySlackRequest } from "../../server/chatops/slack-signature";

// From Slack's "Verifying requests from Slack" guide.
const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const TIMESTAMP = "1531420618";
const BODY =
  "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const AT = Number(TIMESTAMP) + 10;

describe("Slack request signatures", () => {
  it("computes Slack's documented example", () => {
    expect(slackSignature(SECRET, TIMESTAMP, BODY)).toBe(SIGNATURE);
  });

  it("accepts the documented request", () => {
    expect(verifySlackRequest(SECRET, { timestamp: TIMESTAMP, signature: SIGNATURE }, Buffer.from(BODY), AT)).toEqual({ ok: true });
  });

  it("refuses a wrong secret", () => {
    expect(verifySlackRequest("another-secret", { timestamp: TIMESTAMP, signature: SIGNATURE }, Buffer.from(BODY), AT)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("refuses an altered body", () => {
    const altered = Buffer.from(BODY.replace("text=", "text=deploy+prod+v9"));
    expect(verifySlackRequest(SECRET, { timestamp: TIMESTAMP, signature: SIGNATURE }, altered, AT)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("refuses a timestamp more than five minutes away, either side", () => {
    const headers = { timestamp: TIMESTAMP, signature: SIGNATURE };
    expect(verifySlackRequest(SECRET, headers, Buffer.from(BODY), Number(TIMESTAMP) + 301)).toEqual({ ok: false, reason: "stale_timestamp" });
    expect(verifySlackRequest(SECRET, headers, Buffer.from(BODY), Number(TIMESTAMP) - 301)).toEqual({ ok: false, reason: "stale_timestamp" });
    expect(verifySlackRequest(SECRET, headers, Buffer.from(BODY), Number(TIMESTAMP) + 300)).toEqual({ ok: true });
  });

  it("refuses a re-signed body under a changed timestamp", () => {
    expect(verifySlackRequest(SECRET, { timestamp: String(Number(TIMESTAMP) + 1), signature: SIGNATURE }, Buffer.from(BODY), AT)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("refuses missing headers and malformed values", () => {
    expect(verifySlackRequest(SECRET, { timestamp: TIMESTAMP }, Buffer.from(BODY), AT)).toEqual({ ok: false, reason: "missing_signature" });
    expect(verifySlackRequest(SECRET, { signature: SIGNATURE }, Buffer.from(BODY), AT)).toEqual({ ok: false, reason: "missing_signature" });
    expect(verifySlackRequest(SECRET, { timestamp: "soon", signature: SIGNATURE }, Buffer.from(BODY), AT)).toEqual({ ok: false, reason: "stale_timestamp" });
    expect(verifySlackRequest(SECRET, { timestamp: TIMESTAMP, signature: "v0=abc" }, Buffer.from(BODY), AT)).toEqual({ ok: false, reason: "bad_signature" });
  });
});

describe("Mattermost command tokens", () => {
  it("accepts only the exact token", () => {
    expect(verifyCommandToken("mm-token-123456", "mm-token-123456")).toBe(true);
    expect(verifyCommandToken("mm-token-123456", "mm-token-12345")).toBe(false);
    expect(verifyCommandToken("mm-token-123456", "")).toBe(false);
    expect(verifyCommandToken("mm-token-123456", undefined)).toBe(false);
  });
});

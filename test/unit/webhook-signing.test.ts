// Deliveries are signed per Standard Webhooks: checked with the standard's own library.
import { Webhook } from "standardwebhooks";
import { newWebhookSecret, webhookHeaders } from "../../server/webhooks/standard-webhooks";
import { OutboundGuard } from "../../server/outbound/outbound-guard";

describe("Standard Webhooks signatures", () => {
  const secret = newWebhookSecret();
  const body = JSON.stringify({ type: "deployment.succeeded", timestamp: new Date().toISOString(), data: { environment: "shop" } });

  it("verify with the standardwebhooks library", () => {
    const headers = webhookHeaders(secret, "msg_0123456789abcdef01234567", body);
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it("fail for an altered body, another id or timestamp, or another secret", () => {
    const headers = webhookHeaders(secret, "msg_a", body);
    expect(() => new Webhook(secret).verify(body.replace("shop", "bank"), headers)).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...headers, "webhook-id": "msg_b" })).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...headers, "webhook-timestamp": String(Number(headers["webhook-timestamp"]) - 1) })).toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
  });

  it("are refused by receivers when older than five minutes", () => {
    const headers = webhookHeaders(secret, "msg_a", body, new Date(Date.now() - 10 * 60_000));
    expect(() => new Webhook(secret).verify(body, headers)).toThrow(/timestamp/i);
  });
});

describe("the webhook target guard", () => {
  const guard = new OutboundGuard();

  it("refuses loopback, private, link-local, unique-local and mapped addresses", () => {
    for (const a of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "::", "fd00::1", "fe80::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "224.0.0.1"]) {
      expect([a, guard.addressAllowed(a)]).toEqual([a, false]);
    }
    for (const a of ["93.184.216.34", "2606:4700::6810:85e5", "8.8.8.8"]) expect([a, guard.addressAllowed(a)]).toEqual([a, true]);
  });

  it("explains refused URLs and allows public ones", () => {
    expect(guard.urlProblem("http://127.0.0.1:8080/hook")).toMatch(/private, loopback or link-local/);
    expect(guard.urlProblem("http://[::1]/hook")).toMatch(/private/);
    expect(guard.urlProblem("http://localhost/hook")).toMatch(/localhost/);
    expect(guard.urlProblem("ftp://example.com/")).toMatch(/only http and https/);
    expect(guard.urlProblem("https://user:pw@example.com/")).toMatch(/credentials/);
    expect(guard.urlProblem("https://hooks.example.com/x")).toBeUndefined();
  });

  it("lets an operator allow addresses, networks and hosts", () => {
    const allowing = new OutboundGuard(["127.0.0.1", "10.20.0.0/16", "hooks.internal"]);
    expect(allowing.addressAllowed("127.0.0.1")).toBe(true);
    expect(allowing.addressAllowed("127.0.0.2")).toBe(false);
    expect(allowing.addressAllowed("10.20.3.4")).toBe(true);
    expect(allowing.addressAllowed("10.21.3.4")).toBe(false);
    expect(allowing.urlProblem("http://hooks.internal/x")).toBeUndefined();
    expect(allowing.hostAllowlisted("hooks.internal")).toBe(true);
  });
});

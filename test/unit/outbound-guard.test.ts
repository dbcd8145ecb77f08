// The outbound guard: every address form that reaches the inside of the
// network is refused unless allowlisted, and requests through it connect
// only where it allows, follow no redirect and read bounded answers.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { OutboundGuard } from "../../server/outbound/outbound-guard";
import { guardedRequest, OutboundError } from "../../server/outbound/guarded-request";
import { INSIDE } from "../helpers/inside-addresses";


describe("the outbound guard", () => {
  const guard = new OutboundGuard();

  it.each(INSIDE)("refuses %s", (url) => {
    expect(guard.urlProblem(url)).toBeDefined();
  });

  it.each(["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "http://user:pw@example.com/", "not a url"])("refuses %s", (url) => {
    expect(guard.urlProblem(url)).toBeDefined();
  });

  it("lets public addresses and names through (names are checked again once resolved)", () => {
    expect(guard.urlProblem("https://hooks.slack.com/services/T/B/X")).toBeUndefined();
    expect(guard.urlProblem("http://93.184.215.14/")).toBeUndefined();
    expect(guard.urlProblem("http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/")).toBeUndefined();
  });

  it("allows what the operator lists: addresses, CIDRs and host names", () => {
    const allowing = new OutboundGuard(["127.0.0.1", "10.20.0.0/16", "prometheus.internal"]);
    expect(allowing.urlProblem("http://127.0.0.1:9090/")).toBeUndefined();
    expect(allowing.urlProblem("http://10.20.3.4/")).toBeUndefined();
    expect(allowing.urlProblem("http://prometheus.internal/")).toBeUndefined();
    expect(allowing.urlProblem("http://10.21.0.1/")).toBeDefined();
    expect(allowing.urlProblem("http://[::1]/")).toBeDefined();
  });
});

describe("a guarded request", () => {
  let server: http.Server;
  let base: string;
  let hits = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits++;
      if (req.url === "/redirect") return void res.writeHead(302, { location: "http://169.254.169.254/" }).end();
      if (req.url === "/big") return void res.end(Buffer.alloc(200_000, 97));
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ value: 1, auth: req.headers.authorization ?? null }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("never connects to a loopback address that is not allowlisted", async () => {
    const before = hits;
    await expect(guardedRequest({ method: "GET", url: `${base}/`, timeoutMs: 2000 }, new OutboundGuard())).rejects.toThrow(OutboundError);
    expect(hits).toBe(before);
  });

  it("connects where allowed, follows no redirect and bounds the answer", async () => {
    const allowing = new OutboundGuard(["127.0.0.1"]);
    const ok = await guardedRequest({ method: "GET", url: `${base}/`, timeoutMs: 2000 }, allowing);
    expect(JSON.parse(ok.body.toString())).toMatchObject({ value: 1 });
    const redirected = await guardedRequest({ method: "GET", url: `${base}/redirect`, timeoutMs: 2000 }, allowing);
    expect(redirected.status).toBe(302);
    await expect(guardedRequest({ method: "GET", url: `${base}/big`, timeoutMs: 2000, maxBytes: 1000 }, allowing)).rejects.toThrow(/more than 1000 bytes/);
  });

  it("reports a header value it cannot send without quoting it", async () => {
    const allowing = new OutboundGuard(["127.0.0.1"]);
    const err = await guardedRequest({ method: "GET", url: `${base}/`, headers: { authorization: "Bearer cut_secret\nX-Evil: 1" }, timeoutMs: 2000 }, allowing).catch((e) => e);
    expect(err).toBeInstanceOf(OutboundError);
    expect(String(err.message)).not.toContain("cut_secret");
  });
});

// The local target's settings for an environment: its balancer's address,
// routing options, TLS, and what carries the requests.
import { z } from "zod";
import { duration, durationWithin } from "./duration-schema";

const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "an HTTP header name");
// Opt-in forcing: the key is generated at creation and shown once, in the creation response.
// The balancer removes the header before proxying, so it may not be one that requests rely on.
const RESERVED_HEADERS = ["host", "connection", "upgrade", "cookie", "authorization", "content-length", "content-type", "transfer-encoding", "te", "trailer", "keep-alive", "proxy-connection", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"];
export const forceHeader = headerName
  .refine((h) => !RESERVED_HEADERS.includes(h.toLowerCase()), "a header of its own, not one requests rely on")
  .describe("opt-in: a request carrying `<forceHeader>: <color>:<forceKey>` goes to that color; the key is generated at creation and shown only in its response");
export const port = z.number().int().min(1).max(65535);

// A name in the operator's TLS directory, never a path: a caller cannot make the balancer read another file.
const tlsFileName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, "a file name in the TLS directory, without a path");

export const localSchema = z.strictObject({
  listenHost: z.string().min(1).max(255).default("127.0.0.1"),
  listenPort: port.or(z.literal(0)).describe("0: the balancer binds a free port and reports it in the traffic URL"),
  adminPort: port.or(z.literal(0)).optional().describe("0 or absent: the balancer binds a free port"),
  stickyHeader: headerName.optional(),
  stickyCookie: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  forceHeader: forceHeader.optional(),
  tls: z
    .strictObject({
      cert: tlsFileName.describe("a file in Cutover's TLS directory (CUTOVER_TLS_DIR): the certificate chain, PEM"),
      key: tlsFileName.describe("a file in Cutover's TLS directory: the private key, PEM"),
      hsts: duration.optional().describe("Strict-Transport-Security max-age; absent: none"),
      redirectPort: port.or(z.literal(0)).optional().describe("a plain HTTP port that redirects every request to HTTPS (0: a free port, reported as `traffic.redirectUrl`)"),
    })
    .optional()
    .describe("TLS on the listen port; the files are read again when they change"),
  holdWhenUnavailable: durationWithin(1, 60_000, "at most 1m")
    .optional()
    .describe("a request every instance refused waits up to this long for one to come back (restarting, starting), then is tried again, instead of failing"),
  upstreamTimeout: durationWithin(1000, 3_600_000, "from 1s to 1h")
    .optional()
    .describe("how long an instance may stay silent: before its answer starts (then the request gets a 504 and is never sent again), or between two pieces of a request or an answer on their way (then the connection is cut); a stream that keeps coming lives on. Default 60s"),
  accessLog: z
    .boolean()
    .optional()
    .describe("a JSON line per request in access.log, in the balancer's directory (<runtime dir>/balancers/<environment>/): time, client, method, path without its query string, status, duration, pool, version, instance"),
  dataPlane: z
    .enum(["cutover-proxy", "haproxy"])
    .optional()
    .describe("what carries the requests: cutover-proxy (the default), or HAProxy driven by it through its runtime API"),
});

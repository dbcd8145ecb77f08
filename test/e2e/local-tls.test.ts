// TLS on a local environment's balancer, through the public API against a
// real server, balancer and fleets: certificates named in the operator's
// TLS directory (and nothing else), and on both data planes (cutover-proxy,
// HAProxy) HTTPS with HSTS, the plain HTTP redirect, a renewed certificate
// served without a restart, a deployment under HTTPS load that fails no
// request, and the balancer's process killed under HTTPS load, back within
// a second with its TLS.
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync } from "node:fs";
import https from "node:https";
import http from "node:http";
import type { TLSSocket } from "node:tls";
import { readFileSync } from "node:fs";
import path from "node:path";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { killAndAwaitGone } from "../helpers/processes";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

/** A self-signed certificate for 127.0.0.1 and its key, made by openssl and moved into place as certificate tools do. */
function makeCert(dir: string, name: string, serial: number) {
  const tmp = path.join(dir, `.${name}.new`);
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-set_serial", String(serial),
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", `${tmp}.key`, "-out", `${tmp}.crt`,
  ], { stdio: "ignore" });
  renameSync(`${tmp}.key`, path.join(dir, `${name}.key`));
  renameSync(`${tmp}.crt`, path.join(dir, `${name}.crt`));
}

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  serial?: string;
}

function fetchOnce(url: string, ca?: Buffer, agent?: https.Agent): Promise<Answer> {
  const client = url.startsWith("https:") ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { ...(ca ? { ca } : {}), ...(agent ? { agent } : { agent: false }), timeout: 10_000 }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate?.()?.serialNumber;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, ...(serial ? { serial } : {}) }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Four clients on kept-alive HTTPS connections until stopped, counting answers and failures (a load that only fails stops early). */
function httpsLoad(url: string, ca: Buffer) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca });
  const load = { ok: 0, failed: [] as string[] };
  let stopped = false;
  const worker = async () => {
    while (!stopped && load.failed.length < 100) {
      await fetchOnce(`${url}/`, undefined, agent).then(
        (a) => (a.status === 200 ? load.ok++ : load.failed.push(`status ${a.status}`)),
        (e: Error) => load.failed.push(e.message),
      );
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  return {
    load,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
    },
  };
}

describe("TLS on a local balancer", () => {
  const tlsDir = tempDir("tls-dir");
  let server: RunningServer;

  beforeAll(async () => {
    mkdirSync(tlsDir, { recursive: true });
    makeCert(tlsDir, "shop", 1);
    makeCert(tlsDir, "other", 2);
    makeCert(tlsDir, "shop-hx", 1);
    server = await startServer({ env: { CUTOVER_TLS_DIR: tlsDir } });
  });

  afterAll(() => server?.stop());

  it("takes only files of the TLS directory that hold a certificate and its own key, and says which is wrong", async () => {
    const mark = uniqueMark();
    const tries: [Record<string, unknown>, RegExp][] = [
      [{ cert: "../../etc/passwd", key: "shop.key" }, /a file name in the TLS directory, without a path/],
      [{ cert: "/etc/shadow", key: "shop.key" }, /a file name in the TLS directory, without a path/],
      [{ cert: "missing.crt", key: "shop.key" }, /local.tls.cert missing.crt in the TLS directory is not a readable PEM certificate \(ENOENT\)/],
      [{ cert: "shop.key", key: "shop.key" }, /local.tls.cert shop.key in the TLS directory is not a readable PEM certificate/],
      [{ cert: "shop.crt", key: "other.key" }, /local.tls.key other.key is not the private key of shop.crt/],
      [{ cert: "shop.crt", key: "shop.key", redirectPort: 70000 }, /redirectPort/],
    ];
    for (const [tls, message] of tries) {
      const r = await server.api("POST", "/v1/environments", await environmentSpec(`tls-bad-${Math.random().toString(36).slice(2, 8)}`, mark, { local: { listenPort: 0, tls } }));
      expect({ tls, status: r.status, code: r.json.error?.code }).toEqual({ tls, status: 400, code: "validation_failed" });
      expect(r.json.error.message).toMatch(message);
      // A file's contents never come back.
      expect(r.body).not.toContain("PRIVATE KEY");
      expect(r.body).not.toContain("root:");
    }
  });

  it("lets only an unscoped admin serve a certificate of the directory", async () => {
    const token = (await server.api("POST", "/v1/tokens", { name: "tls-scoped-admin", role: "admin", environments: ["tls-*"] })).json.token;
    const spec = await environmentSpec("tls-scoped", uniqueMark(), { local: { listenPort: 0, tls: { cert: "shop.crt", key: "shop.key" } } });
    const r = await server.api("POST", "/v1/environments", spec, { authorization: `Bearer ${token}` });
    expect({ status: r.status, code: r.json.error?.code }).toEqual({ status: 403, code: "tls_forbidden" });
    expect((await server.api("GET", "/v1/environments/tls-scoped")).status).toBe(404);
  });

  // Both data planes terminate TLS alike: each its own environment and certificate.
  describe.each([
    { dataPlane: "cutover-proxy", env: "tls", cert: "shop" },
    { dataPlane: "haproxy", env: "tls-hx", cert: "shop-hx" },
  ])("on the $dataPlane data plane", ({ dataPlane, env: ENV, cert }) => {
    let url = "";
    let redirectUrl = "";
    const ca = () => readFileSync(path.join(tlsDir, `${cert}.crt`));

    it("serves HTTPS with HSTS and redirects plain HTTP there", async () => {
      const spec = await environmentSpec(ENV, uniqueMark(), { local: { listenPort: 0, dataPlane, tls: { cert: `${cert}.crt`, key: `${cert}.key`, hsts: "8760h", redirectPort: 0 } } });
      expect((await server.api("POST", "/v1/environments", spec)).status).toBe(201);
      const env = await waitForEnvironment(server, ENV, "ready");
      url = env.traffic.url;
      redirectUrl = env.traffic.redirectUrl;
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(redirectUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v1" })).json;
      expect((await waitForDeployment(server, d.id, "terminal")).state).toBe("succeeded");

      const a = await fetchOnce(`${url}/headers`, ca());
      expect(a.status).toBe(200);
      expect(a.headers["strict-transport-security"]).toBe("max-age=31536000");
      const seen = JSON.parse(a.body) as { version: string; headers: Record<string, string> };
      expect(seen.version).toBe("v1");
      expect(seen.headers["x-forwarded-proto"]).toBe("https");
      // Verified against the certificate in the directory: a client that trusts nothing else gets through.
      await expect(fetchOnce(`${url}/`)).rejects.toThrow(/self-signed|certificate/);

      const moved = await fetchOnce(`${redirectUrl}/a/b?c=1`);
      expect(moved.status).toBe(308);
      expect(moved.headers.location).toBe(`${url}/a/b?c=1`);
    });

    it("serves a renewed certificate on new connections, without a restart", async () => {
      expect((await fetchOnce(`${url}/`, ca())).serial).toBe("01");
      makeCert(tlsDir, cert, 3);
      await waitFor("the renewed certificate", async () => (await fetchOnce(`${url}/`, ca()).catch(() => ({ serial: "" }))).serial === "03", 10_000);
    });

    it("fails no request over HTTPS while a deployment cuts over", async () => {
      const { load, stop } = httpsLoad(url, ca());
      await waitFor("load to flow", () => load.ok > 20 || load.failed.length >= 100);
      expect(load.failed).toEqual([]);
      const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v2", strategy: { type: "canary", steps: [{ weight: 50 }] } })).json;
      expect((await waitForDeployment(server, d.id, "terminal")).state).toBe("succeeded");
      const before = load.ok;
      await waitFor("v2 to answer", async () => JSON.parse((await fetchOnce(`${url}/`, ca())).body).version === "v2");
      await stop();
      expect(load.failed).toEqual([]);
      expect(load.ok).toBeGreaterThan(before);
    });

    it("serves HTTPS again within a second when the balancer's process is killed, with its certificate, HSTS and redirect", async () => {
      const statusFile = path.join(server.dataDir, "runtime", "balancers", ENV, "status.json");
      const { workerPid } = JSON.parse(readFileSync(statusFile, "utf8")) as { workerPid: number };
      const { load, stop } = httpsLoad(url, ca());
      await waitFor("load to flow", () => load.ok > 20 || load.failed.length >= 100);
      expect(load.failed).toEqual([]);

      const killed = Date.now();
      await killAndAwaitGone(workerPid);
      let servedAfter = Infinity;
      let answer: Answer | undefined;
      while (Date.now() - killed < 5000) {
        answer = await fetchOnce(`${url}/`, ca()).catch(() => undefined);
        if (answer?.status === 200) {
          servedAfter = Date.now() - killed;
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(servedAfter).toBeLessThan(1000);
      // The same TLS as before the kill: the renewed certificate, HSTS, the redirect.
      expect(answer?.serial).toBe("03");
      expect(answer?.headers["strict-transport-security"]).toBe("max-age=31536000");
      expect((await fetchOnce(`${redirectUrl}/x`)).headers.location).toBe(`${url}/x`);
      // Only requests in flight on the dead process's connections can fail; new ones wait in the accept queue.
      const failedAtKill = load.failed.length;
      expect(failedAtKill).toBeLessThanOrEqual(4);
      const okAfter = load.ok;
      await waitFor("load to flow again", () => load.ok > okAfter + 200);
      await stop();
      expect(load.failed.length).toBe(failedAtKill);
      const now = JSON.parse(readFileSync(statusFile, "utf8")) as { workerPid: number; workerRestarts?: number };
      expect(now.workerPid).not.toBe(workerPid);
    });
  });
});

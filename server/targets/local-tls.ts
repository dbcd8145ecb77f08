// TLS on a local environment's balancer. The certificate and key are files
// the operator put in Cutover's TLS directory; an environment names them
// there and never gives a path, so no caller can make the balancer (which
// runs with Cutover's rights) read another file. They are checked when the
// environment is created: both load, and the key is the certificate's.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseDuration } from "../../infra/duration";
import type { LocalTls } from "../../infra/vocabulary";
import type { BalancerTls } from "../../infra/local/runtime";

const filesOf = (dir: string, tls: LocalTls) => ({ cert: path.join(dir, tls.cert), key: path.join(dir, tls.key) });

/** Why these files cannot serve TLS, or undefined. Says which file and how, never what it holds. */
export function checkTlsFiles(dir: string, tls: LocalTls): string | undefined {
  const files = filesOf(dir, tls);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(files.cert));
  } catch (err) {
    return `local.tls.cert ${tls.cert} in the TLS directory is not a readable PEM certificate (${(err as NodeJS.ErrnoException).code ?? "it does not parse"})`;
  }
  try {
    const key = createPrivateKey(readFileSync(files.key));
    if (!cert.checkPrivateKey(key)) return `local.tls.key ${tls.key} is not the private key of ${tls.cert}`;
  } catch (err) {
    return `local.tls.key ${tls.key} in the TLS directory is not a readable PEM private key (${(err as NodeJS.ErrnoException).code ?? "it does not parse"})`;
  }
  if (Date.parse(cert.validTo) < Date.now()) return `local.tls.cert ${tls.cert} expired on ${new Date(cert.validTo).toISOString()}`;
  return undefined;
}

export function balancerTls(dir: string, listenHost: string, tls: LocalTls): BalancerTls {
  const files = filesOf(dir, tls);
  return {
    certFile: files.cert,
    keyFile: files.key,
    ...(tls.hsts ? { hstsMaxAgeSeconds: Math.floor(parseDuration(tls.hsts) / 1000) } : {}),
    ...(tls.redirectPort !== undefined ? { redirectListen: `${listenHost}:${tls.redirectPort}` } : {}),
  };
}

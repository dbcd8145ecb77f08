// Seals secret values (artifact env values marked secret) with AES-256-GCM
// under a key derived from the Pulumi state passphrase, the one secret an
// operator already guards for Cutover. Sealed values are all the journal
// ever holds; they are opened only to hand them to Pulumi as secrets.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import type { SecretSealer } from "../deployments/ports";

const VERSION = "v1";

export class SecretBox implements SecretSealer {
  private readonly key: Buffer;

  constructor(passphrase: string) {
    this.key = scryptSync(passphrase, "cutover:artifact-secrets:v1", 32);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
  }

  open(sealed: string): string {
    const [version, data] = sealed.split(":");
    if (version !== VERSION || !data) throw new Error("not a sealed value");
    const raw = Buffer.from(data, "base64");
    const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
  }
}

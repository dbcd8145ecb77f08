// Asks a deployment's gates over HTTP: the deployment's context, POSTed
// with Standard Webhooks headers (signed with the gate's own secret, or
// Cutover's gate signing secret), through the same SSRF guard as webhooks.
import { scryptSync } from "node:crypto";
import type { GateAnswer, GateCaller, GatePayload } from "../deployments/gates";
import type { Gate } from "../deployments/model";
import type { SecretSealer } from "../deployments/ports";
import { guardedPost } from "../outbound/guarded-request";
import { webhookHeaders } from "./standard-webhooks";
import type { OutboundGuard } from "../outbound/outbound-guard";

/** The secret gates without their own are signed with, derived from the state passphrase (stable across restarts and replicas). */
export function gateSigningSecret(passphrase: string): string {
  return `whsec_${scryptSync(passphrase, "cutover:gate-signing:v1", 32).toString("base64")}`;
}

export class HttpGateCaller implements GateCaller {
  constructor(
    private readonly guard: OutboundGuard,
    private readonly secrets: SecretSealer,
    private readonly defaultSecret: string,
  ) {}

  async call(gate: Gate, messageId: string, payload: GatePayload, timeoutMs: number): Promise<GateAnswer> {
    const body = JSON.stringify(payload);
    const secret = gate.secret ? this.secrets.open(gate.secret.sealed) : this.defaultSecret;
    const headers = { "content-type": "application/json", "user-agent": "Cutover-Gates", ...webhookHeaders(secret, messageId, body) };
    return guardedPost(gate.url!, headers, body, timeoutMs, this.guard).then(
      (status) => ({ status }),
      (err: Error) => ({ error: err.message }),
    );
  }
}

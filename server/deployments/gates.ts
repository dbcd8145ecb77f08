// Gates: points where something outside Cutover decides whether a
// deployment goes on. A URL gate is asked over HTTP (signed like the
// outgoing webhooks); a manual gate waits for a person's approval. Every
// gate's outcome is kept in the deployment (`gateLog`), so a deployment
// resumed after a shutdown never asks a gate it already passed.
import { UnprocessableError } from "../errors";
import type { DeploymentControl } from "./deployment-control";
import type { DeploymentJournal } from "./deployment-journal";
import { parseDuration } from "../../infra/duration";
import type { GatePlace } from "./deployment-decision";
import { gateKey, isManual, isPassed } from "./gate-rules";
import type { Actor, Deployment, Gate, GateKind, GateRecord } from "./model";
import { previewChanges, type ChangePreview, type PreviewDeps } from "./change-preview";
import type { EnvironmentRepository } from "./ports";

/** The body Cutover POSTs to a gate's URL. */
export interface GatePayload {
  type: "deployment.gate";
  gate: { name: string; kind: GateKind };
  deployment: {
    id: string;
    environment: string;
    version: string;
    fromVersion: string | null;
    kind: Deployment["kind"];
    strategy: string;
    state: Deployment["state"];
    phase: Deployment["phase"];
    step: number | null;
    weight: number | null;
    requestedBy: Actor | null;
    error: Deployment["error"] | null;
  };
  attempt: number;
  /** For a gate that stops the deployment: the Pulumi preview of each stack it changes from here. */
  preview?: ChangePreview;
}

/** What the gate's URL answered, or why it could not be asked. */
export type GateAnswer = { status: number } | { error: string };

/** Calls a gate's URL (the port's adapter signs and guards the request). */
export interface GateCaller {
  call(gate: Gate, messageId: string, payload: GatePayload, timeoutMs: number): Promise<GateAnswer>;
}

export interface GateDeps extends Partial<PreviewDeps> {
  journal: DeploymentJournal;
  gates?: GateCaller;
  /** With the engine, targets and traffic: a gate that stops the deployment carries the preview of what comes next. */
  environments?: EnvironmentRepository;
}

/**
 * The Pulumi preview of what the deployment changes from here, for a gate
 * that asks someone whether it may: undefined where it cannot be made (a
 * preview never stops a gate).
 */
async function gatePreview(deps: GateDeps, d: Deployment): Promise<ChangePreview | undefined> {
  const { engine, targets, traffic, environments } = deps;
  if (!engine || !targets || !traffic || !environments || !d.toColor) return undefined;
  try {
    const env = await environments.get(d.environment);
    if (!env) return undefined;
    const plan = { to: { color: d.toColor }, ...(d.fromColor ? { from: { color: d.fromColor } } : {}) };
    // A busy engine delays the question by at most this long: a stack not previewed by then says so.
    return await previewChanges({ engine, targets, traffic }, env, d, plan, AbortSignal.timeout(PREVIEW_TIMEOUT_MS));
  } catch {
    return undefined;
  }
}

export class GateFailedError extends UnprocessableError {
  constructor(code: "gate_failed" | "gate_timed_out" | "gate_rejected", message: string, gate: string) {
    super(code, message, { gate });
  }
}

const DEFAULT_URL_TIMEOUT_MS = 60_000;
const PREVIEW_TIMEOUT_MS = 60_000;

/**
 * Asks one gate where the deployment is (`at`): returns when it lets the
 * deployment go on, throws GateFailedError when it stops it (which rolls
 * the deployment back). Abort and suspend end the wait as they end others.
 */
export async function passGate(deps: GateDeps, d: Deployment, control: DeploymentControl, gate: Gate, at: GatePlace): Promise<void> {
  const key = gateKey(gate, at.step);
  if (isPassed(d, key)) return;
  if (isManual(gate)) await holdForPerson(deps, d, control, gate, key, at);
  else await askUrl(deps, d, control, gate, key, at);
}

/** Tells the gates of a notifying kind (post-rollout, rollback); never stops or fails the deployment. */
export async function notifyGates(deps: GateDeps, d: Deployment, kind: "post-rollout" | "rollback"): Promise<void> {
  for (const gate of (d.gates ?? []).filter((g) => g.kind === kind && g.url)) {
    const timeoutMs = gate.timeout ? parseDuration(gate.timeout) : 10_000;
    const answer = deps.gates ? await deps.gates.call(gate, `${d.id}.${gate.name}`, payloadOf(d, gate, {}, 1), timeoutMs) : { error: "no gate caller" };
    await deps.journal.record(d, "gate:notified", { gate: gate.name, kind, ...answer }).catch(() => undefined);
  }
}

async function askUrl(deps: GateDeps, d: Deployment, control: DeploymentControl, gate: Gate, key: string, at: GatePlace): Promise<void> {
  if (!deps.gates) throw new GateFailedError("gate_failed", `gate ${gate.name} has a URL but this server cannot call gates`, gate.name);
  const timeoutMs = gate.timeout ? parseDuration(gate.timeout) : DEFAULT_URL_TIMEOUT_MS;
  // confirm-* gates ask again every tenth of their timeout (1-10 s) until a 2xx.
  const retryMs = Math.min(10_000, Math.max(1_000, Math.floor(timeoutMs / 10)));
  const deadline = Date.now() + timeoutMs;
  const where = { gate: gate.name, kind: gate.kind, ...(at.step !== undefined ? { step: at.step } : {}) };
  await deps.journal.record(d, "gate:started", { ...where, url: new URL(gate.url!).origin });
  const preview = await gatePreview(deps, d);
  let last = "";
  for (let attempt = 1; ; attempt++) {
    control.throwIfAborted();
    const left = deadline - Date.now();
    const answer = left > 0 ? await deps.gates.call(gate, `${d.id}.${key}.${attempt}`, { ...payloadOf(d, gate, at, attempt), ...(preview ? { preview } : {}) }, Math.min(left, 10_000)) : { error: "timed out" };
    if ("status" in answer && answer.status >= 200 && answer.status < 300) {
      await record(deps, d, key, { state: "passed", at: new Date().toISOString(), attempts: attempt });
      await deps.journal.record(d, "gate:passed", { ...where, attempts: attempt, status: answer.status });
      return;
    }
    last = "status" in answer ? `answered ${answer.status}` : answer.error;
    // pre-rollout takes the first answer; only a gate that could not be reached is asked again.
    const final = gate.kind === "pre-rollout" && "status" in answer;
    if (final || Date.now() + retryMs >= deadline) {
      const code = final ? "gate_failed" : "gate_timed_out";
      const message = final
        ? `gate ${gate.name} (${gate.kind}) ${last}`
        : `gate ${gate.name} (${gate.kind}) gave no 2xx within ${gate.timeout ?? "1m"} (last: ${last})`;
      await record(deps, d, key, { state: "failed", at: new Date().toISOString(), attempts: attempt, reason: last });
      await deps.journal.record(d, "gate:failed", { ...where, attempts: attempt, reason: last });
      throw new GateFailedError(code, message, gate.name);
    }
    await control.wait(Date.now() + retryMs);
  }
}

async function holdForPerson(
  deps: GateDeps,
  d: Deployment,
  control: DeploymentControl,
  gate: Gate,
  key: string,
  at: GatePlace,
): Promise<void> {
  const where = { gate: gate.name, kind: gate.kind, ...(at.step !== undefined ? { step: at.step } : {}) };
  const waiting = d.gateLog?.[key]?.state === "waiting" ? d.gateLog[key] : undefined;
  const since = waiting ? Date.parse(waiting.at) : Date.now();
  // What the approver approves: the preview made when the gate began waiting, kept with it (made again after a restart if missing).
  const preview = waiting?.preview ?? (await gatePreview(deps, d));
  (d.gateLog ??= {})[key] = { state: "waiting", at: new Date(since).toISOString(), ...(preview ? { preview } : {}) };
  await deps.journal.hold(d, "gate");
  await deps.journal.record(d, "gate:waiting", { ...where, requireDistinctApprover: gate.requireDistinctApprover === true, ...(preview ? { preview } : {}) });
  const deadline = gate.timeout ? since + parseDuration(gate.timeout) : undefined;
  for (;;) {
    const outcome = await control.wait(deadline, () => control.decisions.has(gate.name));
    if (outcome === "promoted") continue; // a promote never answers a gate
    const decision = control.decisions.get(gate.name);
    control.decisions.delete(gate.name);
    const now = new Date().toISOString();
    if (!decision) {
      await record(deps, d, key, { state: "failed", at: now, reason: "timed out" });
      await deps.journal.record(d, "gate:failed", { ...where, reason: `no decision within ${gate.timeout}` });
      throw new GateFailedError("gate_timed_out", `no one approved gate ${gate.name} within ${gate.timeout}`, gate.name);
    }
    const by = decision.by ? { by: decision.by } : {};
    const reason = decision.reason ? { reason: decision.reason } : {};
    if (!decision.approved) {
      await record(deps, d, key, { state: "rejected", at: now, ...by, ...reason });
      await deps.journal.record(d, "gate:rejected", { ...where, ...by, ...reason });
      const who = decision.by ? ` by ${decision.by.name}` : "";
      throw new GateFailedError("gate_rejected", `gate ${gate.name} was rejected${who}${decision.reason ? `: ${decision.reason}` : ""}`, gate.name);
    }
    d.gateLog![key] = { state: "approved", at: now, ...by, ...reason };
    await deps.journal.release(d);
    await deps.journal.record(d, "gate:approved", { ...where, ...by, ...reason });
    return;
  }
}

async function record(deps: GateDeps, d: Deployment, key: string, r: GateRecord): Promise<void> {
  (d.gateLog ??= {})[key] = r;
  await deps.journal.save(d);
}

function payloadOf(d: Deployment, gate: Gate, at: GatePlace, attempt: number): GatePayload {
  return {
    type: "deployment.gate",
    gate: { name: gate.name, kind: gate.kind },
    deployment: {
      id: d.id,
      environment: d.environment,
      version: d.version,
      fromVersion: d.fromVersion ?? null,
      kind: d.kind,
      strategy: d.strategy.type,
      state: d.state,
      phase: d.phase,
      step: at.step ?? null,
      weight: at.weight ?? null,
      requestedBy: d.requestedBy ?? null,
      error: d.error ?? null,
    },
    attempt,
  };
}

// Reduces Pulumi engine events to the few a deployment's journal keeps:
// resource steps starting, finishing and failing, and error diagnostics.
import type { EngineEvent } from "@pulumi/pulumi/automation";
import type { EngineProgress } from "../deployments/stack-engine";

const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

export function engineEventSummary(e: EngineEvent): EngineProgress | undefined {
  if (e.resourcePreEvent) {
    const m = e.resourcePreEvent.metadata;
    if (m.op === "same" || m.type === "pulumi:pulumi:Stack") return undefined;
    return { type: "engine:step_started", data: { op: m.op, type: m.type, name: nameOf(m.urn) } };
  }
  if (e.resOutputsEvent) {
    const m = e.resOutputsEvent.metadata;
    if (m.op === "same" || m.type === "pulumi:pulumi:Stack") return undefined;
    return { type: "engine:step_done", data: { op: m.op, type: m.type, name: nameOf(m.urn) } };
  }
  if (e.resOpFailedEvent) {
    const m = e.resOpFailedEvent.metadata;
    return { type: "engine:step_failed", data: { op: m.op, type: m.type, name: nameOf(m.urn) } };
  }
  if (e.diagnosticEvent && e.diagnosticEvent.severity === "error") {
    const message = e.diagnosticEvent.message.replace(/\u001b\[[0-9;]*m/g, "").trim();
    return { type: "engine:diagnostic", data: { severity: "error", message: message.slice(0, 4000) } };
  }
  return undefined;
}

// What the command line prints: a deployment in one line, its gates and
// measurements, and its events as they come.
import type { ApiClient } from "./api-client";
import { previewLines } from "../deployments/change-preview";
import type { ChangePreview } from "../deployments/model";

export interface Deployment {
  id: string;
  environment: string;
  version: string;
  state: string;
  phase: string;
  step?: number;
  error?: { code: string; message: string };
  queuePosition?: number;
  pausedBy?: string;
  gateLog?: Record<string, { state: string; at: string; by?: { name: string }; reason?: string; preview?: Preview }>;
}

/** The Pulumi preview of the stacks a deployment touches, as the API answers it. */
export interface Preview {
  stacks: { stack: string; purpose: string; counts: Record<string, number>; changes: { name: string; op: string; changed?: string[] }[]; note?: string }[];
}

/** A dry run's answer: the plan, and the preview when it was asked for. */
export interface Plan {
  environment: string;
  version: string;
  strategy: string;
  from?: { color: string; version?: string };
  to: { color: string };
  behind: number;
  steps: ({ phase: string } & Record<string, unknown>)[];
  gates: { name: string; kind: string; manual: boolean }[];
  preview?: Preview;
}

/** One line per stack: what its preview creates, changes or deletes (as chat says it). */
export const describePreview = (p: Preview, indent = "  "): string[] => previewLines(p as ChangePreview).map((l) => `${indent}${l}`);

/** What a dry run says a deployment would do, in order, then what it changes. */
export function describePlan(p: Plan): string {
  const lines = [`${p.environment}@${p.version}  ${p.strategy}  ${p.from ? `${p.from.color} (${p.from.version ?? "?"})` : "nothing live"} → ${p.to.color}${p.behind ? `  (behind ${p.behind})` : ""}`];
  for (const s of p.steps) {
    const { phase, ...rest } = s;
    const detail =
      phase === "shifting"
        ? `${JSON.stringify(rest.weights)}${rest.pause ? ` then pause ${String(rest.pause)}` : ""}${rest.analysed ? " (analysed)" : ""}`
        : phase === "provisioning"
          ? `${String(rest.color)} ${String(rest.version)} ×${String(rest.replicas)}`
          : phase === "retiring"
            ? `${String(rest.color)}${rest.version ? ` (${String(rest.version)})` : ""}`
            : phase === "baking"
              ? String(rest.duration)
              : phase === "pre-deploy"
                ? (rest.command as string[]).join(" ")
                : "";
    lines.push(`  ${phase.padEnd(13)} ${detail}`.trimEnd());
  }
  for (const g of p.gates) lines.push(`  gate ${g.name} (${g.kind}${g.manual ? ", a person approves" : ""})`);
  if (p.preview) lines.push("changes:", ...describePreview(p.preview));
  return lines.join("\n");
}

export interface JournalEvent {
  type: string;
  at: string;
  data: Record<string, unknown>;
}

export const print = (json: boolean, value: unknown, human: () => string) => console.log(json ? JSON.stringify(value, null, 2) : human());
export const describe = (d: Deployment) =>
  `${d.id}  ${d.environment}@${d.version}  ${d.state}/${d.phase}${d.queuePosition ? `  (queue position ${d.queuePosition})` : ""}${d.error ? `\n  error ${d.error.code}: ${d.error.message}` : ""}`;

/** The gates' standing and the latest measurement of each analysed metric, for `status`. */
export function describeProgress(d: Deployment, events: JournalEvent[]): string[] {
  const lines: string[] = [];
  for (const [gate, r] of Object.entries(d.gateLog ?? {})) {
    lines.push(`  gate ${gate}: ${r.state}${r.by ? ` by ${r.by.name}` : ""}${r.reason ? ` (${r.reason})` : ""} at ${r.at.slice(11, 19)}`);
    if (r.state === "waiting" && r.preview) lines.push("    approving changes:", ...describePreview(r.preview, "      "));
  }
  const measured = events.filter((e) => e.type === "deployment:measurement");
  const latest = new Map<string, JournalEvent>();
  const counts = new Map<string, Record<string, number>>();
  for (const e of measured) {
    const metric = String(e.data.metric);
    latest.set(metric, e);
    const c = counts.get(metric) ?? {};
    c[String(e.data.outcome)] = (c[String(e.data.outcome)] ?? 0) + 1;
    counts.set(metric, c);
  }
  for (const [metric, e] of latest) {
    const value = Array.isArray(e.data.value) ? (e.data.value as number[]).map((v) => Number(v.toPrecision(4))).join(",") : "no data";
    const tally = Object.entries(counts.get(metric)!).map(([k, v]) => `${v} ${k}`).join(", ");
    lines.push(`  analysis ${metric}: ${value} (${e.data.outcome}); ${tally}`);
  }
  return lines;
}

export async function follow(client: ApiClient, id: string, json: boolean): Promise<number> {
  for await (const e of client.events(id)) {
    if (json) {
      console.log(e.data);
      continue;
    }
    const event = JSON.parse(e.data) as { type: string; at: string; data: Record<string, unknown> };
    const d = event.data;
    const line =
      event.type === "deployment:measurement"
        ? `measured ${d.metric} = ${Array.isArray(d.value) ? (d.value as number[]).join(",") : "no data"} (${d.outcome})`
        : event.type.startsWith("gate:")
          ? `gate ${d.gate} ${event.type.slice(5)}${d.by ? ` by ${(d.by as { name: string }).name}` : ""}${d.reason ? `: ${d.reason}` : ""}`
          : event.type === "deployment:phase"
        ? `phase ${d.phase}${d.error ? ` (${(d.error as { message: string }).message})` : ""}`
        : event.type === "deployment:step"
          ? `traffic ${JSON.stringify(d.weights)}${d.replicas ? ` instances ${JSON.stringify(d.replicas)}` : ""}`
          : event.type.startsWith("engine:")
            ? `  ${event.type.slice(7)} ${d.op ?? ""} ${d.type ?? ""} ${d.name ?? d.message ?? ""}`
            : event.type.replace("deployment:", "");
    console.log(`${event.at.slice(11, 19)}  ${line}`);
  }
  const d = await client.request<Deployment>("GET", `/v1/deployments/${id}`);
  if (!json) console.log(describe(d));
  return d.state === "succeeded" ? 0 : 1;
}


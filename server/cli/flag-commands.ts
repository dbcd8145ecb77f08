// `cutover flags …`: list, read, set, switch and ramp an environment's
// feature flags from a terminal or a pipeline.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseRampSteps, type RampStep } from "../flags/flag-ramp";
import type { ApiClient } from "./api-client";

export const FLAGS_USAGE = `  flags list <env>                         the environment's flags
  flags get <env> <key> [--history]        one flag (and its changes)
  flags set <env> <key> --file <flag.json|->
                                           create or replace a flag
  flags set <env> <key> --percentage N     move the flag's rollout line (other fields kept)
  flags enable|disable <env> <key> [--reason TEXT]
                                           disable is the kill switch
  flags ramp <env> <key> STEPS [--wait]    STEPS like 10:30s,50:5m,100 (percentage:pause)`;

export class FlagUsageError extends Error {}

interface Flag {
  key: string;
  enabled: boolean;
  version: number;
  defaultVariant: string;
  variants: Record<string, unknown>;
  rules: unknown[];
  rollout?: { variant: string; percentage: number; stickiness: string };
  updatedAt: string;
  updatedBy: { name: string };
}
interface Ramp {
  id: string;
  state: string;
  step: number;
  steps: { percentage: number; pause?: string }[];
  reason?: string;
  events: { at: string; type: string; data: Record<string, unknown> }[];
}
const TERMINAL = new Set(["succeeded", "failed", "aborted"]);

export interface FlagOptions {
  json: boolean;
  file?: string;
  percentage?: string;
  reason?: string;
  history?: boolean;
  wait?: boolean;
}

const line = (f: Flag) =>
  `${f.key}  ${f.enabled ? "on " : "off"}  default ${f.defaultVariant}${f.rollout ? `  rollout ${f.rollout.percentage}% → ${f.rollout.variant}` : ""}${f.rules.length ? `  ${f.rules.length} rule(s)` : ""}  v${f.version}`;

function rampSteps(spec: string): RampStep[] {
  const steps = parseRampSteps(spec);
  if (!steps) throw new FlagUsageError(`bad ramp steps "${spec}": expected PERCENTAGE or PERCENTAGE:PAUSE, comma-separated, such as 10:30s,50:5m,100`);
  return steps;
}

export async function runFlags(client: ApiClient, args: string[], o: FlagOptions, print: (json: boolean, value: unknown, text: () => string) => void): Promise<number> {
  const [sub, env, key, extra] = args;
  if (!sub || !env) throw new FlagUsageError("flags needs a command and an environment");
  const base = `/v1/environments/${env}/flags`;
  if (sub === "list") {
    const r = await client.request<{ flags: Flag[] }>("GET", base);
    print(o.json, r, () => r.flags.map(line).join("\n") || "no flags");
    return 0;
  }
  if (!key) throw new FlagUsageError(`flags ${sub} needs a flag key`);
  const path = `${base}/${encodeURIComponent(key)}`;
  switch (sub) {
    case "get": {
      const f = await client.request<Flag>("GET", path);
      const changes = o.history ? (await client.request<{ changes: { version: number; action: string; at: string; actor: { name: string }; changed: string[]; reason?: string }[] }>("GET", `${path}/history`)).changes : [];
      print(o.json, o.history ? { ...f, changes } : f, () =>
        [line(f), `  updated ${f.updatedAt} by ${f.updatedBy.name}`, ...changes.map((c) => `  v${c.version} ${c.action} by ${c.actor.name} at ${c.at}${c.changed.length ? ` (${c.changed.join(", ")})` : ""}${c.reason ? `: ${c.reason}` : ""}`)].join("\n"),
      );
      return 0;
    }
    case "set": {
      let body: unknown;
      const headers: Record<string, string> = {};
      if (o.file) {
        body = JSON.parse(readFileSync(o.file === "-" ? 0 : o.file, "utf8"));
      } else if (o.percentage !== undefined) {
        const current = await client.request<Flag & Record<string, unknown>>("GET", path);
        if (!current.rollout) throw new FlagUsageError(`flag ${key} has no rollout; set one with --file`);
        const { enabled, description, variants, defaultVariant, rules } = current;
        body = { enabled, ...(description ? { description } : {}), variants, defaultVariant, rules, rollout: { ...current.rollout, percentage: Number(o.percentage) } };
        headers["if-match"] = `"${current.version}"`;
      } else {
        throw new FlagUsageError("flags set needs --file <flag.json> or --percentage N");
      }
      const f = await client.request<Flag>("PUT", path, body, randomUUID(), headers);
      print(o.json, f, () => line(f));
      return 0;
    }
    case "enable":
    case "disable": {
      const f = await client.request<Flag>("POST", `${path}/${sub}`, o.reason ? { reason: o.reason } : {});
      print(o.json, f, () => line(f));
      return 0;
    }
    case "ramp": {
      if (!extra) throw new FlagUsageError("flags ramp needs STEPS such as 10:30s,50:5m,100");
      let ramp = await client.request<Ramp>("POST", `${path}/ramps`, { steps: rampSteps(extra) });
      print(o.json, ramp, () => `${ramp.id}: ${ramp.state}`);
      if (!o.wait) return 0;
      let shown = 0;
      for (;;) {
        ramp = await client.request<Ramp>("GET", `/v1/flag-ramps/${ramp.id}`);
        for (const e of ramp.events.slice(shown)) if (!o.json) console.log(`${e.at.slice(11, 19)} ${e.type.replace("ramp:", "")} ${describeEvent(e.data)}`);
        shown = ramp.events.length;
        if (TERMINAL.has(ramp.state)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      print(o.json, ramp, () => `${ramp.id}: ${ramp.state}${ramp.reason ? ` (${ramp.reason})` : ""}`);
      return ramp.state === "succeeded" ? 0 : 1;
    }
    default:
      throw new FlagUsageError(`unknown flags command ${sub}`);
  }
}

function describeEvent(data: Record<string, unknown>): string {
  if (data.percentage !== undefined && data.step !== undefined) return `step ${data.step}/${data.of}: ${data.percentage}%`;
  if (data.metric) return `${data.metric}: ${data.outcome ?? ""}${data.value ? ` ${JSON.stringify(data.value)}` : ""}${data.reason ? ` ${data.reason}` : ""}`;
  return data.reason ? String(data.reason) : "";
}

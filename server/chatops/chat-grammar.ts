// The chat command language, the same on every chat provider:
//   deploy <env> <version> [--canary 10,50,100] [--step-pause 5m] [--bake 5m]
//   status|history|promote|pause|resume|abort|rollback <env>
//   promote <pipeline> <stage>
//   approve|reject <env> [gate]
//   flags <env>
//   flag status|enable|disable <env> <key>
//   flag ramp <env> <key> <10:5m,50:10m,100>
//   maintenance on <env> [--hold 30s] [--retry-after 5m]
//   maintenance off <env>
//   help
// Parsing only; what a command may do is decided by the command service.
import { parseRampSteps, type RampStep } from "../flags/flag-ramp";
import { DURATION_PATTERN } from "../../infra/duration";

export type ChatCommand =
  | { verb: "help" }
  | { verb: "deploy"; environment: string; version: string; canary?: number[]; stepPause?: string; bake?: string }
  | { verb: "status" | "history" | "promote" | "pause" | "resume" | "abort" | "rollback"; environment: string; pipeline?: undefined }
  /** Promote into a pipeline's stage what is eligible there. */
  | { verb: "promote"; environment: string; pipeline: string }
  | { verb: "approve" | "reject"; environment: string; gate?: string }
  | { verb: "flags"; environment: string }
  | { verb: "flag"; action: "status" | "enable" | "disable"; environment: string; key: string }
  | { verb: "flag"; action: "ramp"; environment: string; key: string; steps: RampStep[] }
  /** On: a 503 page, or requests held up to `hold`; off. */
  | { verb: "maintenance"; on: boolean; environment: string; hold?: string; retryAfter?: string };

export type ParsedCommand = { ok: true; command: ChatCommand } | { ok: false; problem: string };

const ENV_VERBS = ["status", "history", "promote", "pause", "resume", "abort", "rollback"] as const;

export const CHAT_HELP = [
  "deploy <env> <version> [--canary 10,50,100] [--step-pause 5m] [--bake 5m]",
  "status <env>",
  "history <env>",
  "promote <env>",
  "promote <pipeline> <stage>",
  "pause <env>",
  "resume <env>",
  "abort <env>",
  "rollback <env>",
  "approve <env> [gate]",
  "reject <env> [gate]",
  "flags <env>",
  "flag status|enable|disable <env> <key>",
  "flag ramp <env> <key> 10:5m,50:10m,100",
  "maintenance on <env> [--hold 30s] [--retry-after 5m]",
  "maintenance off <env>",
  "help",
];

export function parseChatCommand(text: string): ParsedCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const verb = (words.shift() ?? "help").toLowerCase();
  if (verb === "help") return { ok: true, command: { verb: "help" } };
  if (verb === "promote" && words.length === 2) return { ok: true, command: { verb, pipeline: words[0], environment: words[1] } };
  if ((ENV_VERBS as readonly string[]).includes(verb)) {
    if (words.length !== 1) return { ok: false, problem: verb === "promote" ? "`promote` takes an environment, or a pipeline and one of its stages" : `\`${verb}\` takes one environment name` };
    return { ok: true, command: { verb: verb as (typeof ENV_VERBS)[number], environment: words[0] } };
  }
  if (verb === "approve" || verb === "reject") {
    if (words.length < 1 || words.length > 2) return { ok: false, problem: `\`${verb}\` takes an environment name and, optionally, a gate` };
    return { ok: true, command: { verb, environment: words[0], ...(words[1] ? { gate: words[1] } : {}) } };
  }
  if (verb === "flags") {
    if (words.length !== 1) return { ok: false, problem: "`flags` takes one environment name" };
    return { ok: true, command: { verb, environment: words[0] } };
  }
  if (verb === "flag") return parseFlagCommand(words);
  if (verb === "maintenance") return parseMaintenanceCommand(words);
  if (verb !== "deploy") return { ok: false, problem: `unknown command \`${verb.slice(0, 40)}\`` };
  const [environment, version, ...rest] = words;
  if (!environment || !version || version.startsWith("--")) return { ok: false, problem: "`deploy` needs an environment and a version" };
  const command: Extract<ChatCommand, { verb: "deploy" }> = { verb: "deploy", environment, version };
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (value === undefined) return { ok: false, problem: `\`${flag}\` needs a value` };
    if (flag === "--canary") {
      const weights = value.split(",").map(Number);
      if (weights.some((w) => !Number.isInteger(w) || w < 1 || w > 100)) return { ok: false, problem: "`--canary` takes weights from 1 to 100, such as 10,50,100" };
      command.canary = weights;
    } else if (flag === "--bake" || flag === "--step-pause") {
      if (!DURATION_PATTERN.test(value)) return { ok: false, problem: `\`${flag}\` takes a duration such as 30s or 5m` };
      if (flag === "--bake") command.bake = value;
      else command.stepPause = value;
    } else {
      return { ok: false, problem: `unknown option \`${flag.slice(0, 40)}\`` };
    }
  }
  if (command.stepPause && !command.canary) return { ok: false, problem: "`--step-pause` goes with `--canary`" };
  return { ok: true, command };
}

const FLAG_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function parseFlagCommand(words: string[]): ParsedCommand {
  const [action, environment, key, steps, ...extra] = words;
  if (action !== "status" && action !== "enable" && action !== "disable" && action !== "ramp") {
    return { ok: false, problem: "`flag` takes status, enable, disable or ramp" };
  }
  if (!environment || !key || !FLAG_KEY.test(key)) return { ok: false, problem: `\`flag ${action}\` needs an environment and a flag key` };
  if (action !== "ramp") {
    if (steps !== undefined) return { ok: false, problem: `\`flag ${action}\` takes an environment and a flag key` };
    return { ok: true, command: { verb: "flag", action, environment, key } };
  }
  const parsed = steps === undefined || extra.length ? undefined : parseRampSteps(steps);
  if (!parsed) return { ok: false, problem: "`flag ramp` takes steps such as 10:5m,50:10m,100 (percentage:pause)" };
  return { ok: true, command: { verb: "flag", action, environment, key, steps: parsed } };
}

function parseMaintenanceCommand(words: string[]): ParsedCommand {
  const [state, environment, ...rest] = words;
  if ((state !== "on" && state !== "off") || !environment || environment.startsWith("--")) return { ok: false, problem: "`maintenance` takes on or off and an environment" };
  const command: Extract<ChatCommand, { verb: "maintenance" }> = { verb: "maintenance", on: state === "on", environment };
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (state === "off" || (flag !== "--hold" && flag !== "--retry-after")) return { ok: false, problem: `unknown option \`${flag.slice(0, 40)}\`` };
    if (value === undefined || !DURATION_PATTERN.test(value)) return { ok: false, problem: `\`${flag}\` takes a duration such as 30s or 5m` };
    if (flag === "--hold") command.hold = value;
    else command.retryAfter = value;
  }
  return { ok: true, command };
}

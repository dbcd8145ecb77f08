// The chat command language, the same on every chat provider:
//   deploy <env> <version> [--canary 10,50,100] [--step-pause 5m] [--bake 5m]
//   status|history|promote|pause|resume|abort|rollback <env>
//   approve|reject <env> [gate]
//   help
// Parsing only; what a command may do is decided by the command service.
export type ChatCommand =
  | { verb: "help" }
  | { verb: "deploy"; environment: string; version: string; canary?: number[]; stepPause?: string; bake?: string }
  | { verb: "status" | "history" | "promote" | "pause" | "resume" | "abort" | "rollback"; environment: string }
  | { verb: "approve" | "reject"; environment: string; gate?: string };

export type ParsedCommand = { ok: true; command: ChatCommand } | { ok: false; problem: string };

const ENV_VERBS = ["status", "history", "promote", "pause", "resume", "abort", "rollback"] as const;
const DURATION = /^\d+(ms|s|m|h)$/;

export const CHAT_HELP = [
  "deploy <env> <version> [--canary 10,50,100] [--step-pause 5m] [--bake 5m]",
  "status <env>",
  "history <env>",
  "promote <env>",
  "pause <env>",
  "resume <env>",
  "abort <env>",
  "rollback <env>",
  "approve <env> [gate]",
  "reject <env> [gate]",
  "help",
];

export function parseChatCommand(text: string): ParsedCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const verb = (words.shift() ?? "help").toLowerCase();
  if (verb === "help") return { ok: true, command: { verb: "help" } };
  if ((ENV_VERBS as readonly string[]).includes(verb)) {
    if (words.length !== 1) return { ok: false, problem: `\`${verb}\` takes one environment name` };
    return { ok: true, command: { verb: verb as (typeof ENV_VERBS)[number], environment: words[0] } };
  }
  if (verb === "approve" || verb === "reject") {
    if (words.length < 1 || words.length > 2) return { ok: false, problem: `\`${verb}\` takes an environment name and, optionally, a gate` };
    return { ok: true, command: { verb, environment: words[0], ...(words[1] ? { gate: words[1] } : {}) } };
  }
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
      if (!DURATION.test(value)) return { ok: false, problem: `\`${flag}\` takes a duration such as 30s or 5m` };
      if (flag === "--bake") command.bake = value;
      else command.stepPause = value;
    } else {
      return { ok: false, problem: `unknown option \`${flag.slice(0, 40)}\`` };
    }
  }
  if (command.stepPause && !command.canary) return { ok: false, problem: "`--step-pause` goes with `--canary`" };
  return { ok: true, command };
}

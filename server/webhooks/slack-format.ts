// A webhook event as a readable Slack message (Block Kit), for webhooks of
// format `slack` pointed at a Slack incoming-webhook URL.
import type { WebhookMessage } from "./webhook-events";

const ICON: Record<string, string> = {
  "deployment.started": ":rocket:",
  "deployment.paused": ":double_vertical_bar:",
  "deployment.succeeded": ":white_check_mark:",
  "deployment.rolled_back": ":leftwards_arrow_with_hook:",
  "deployment.failed": ":x:",
  "environment.drifted": ":warning:",
  "schedule.run_failed": ":alarm_clock:",
  "promotion.started": ":arrow_forward:",
  "promotion.succeeded": ":white_check_mark:",
  "promotion.failed": ":no_entry:",
};

export function slackMessage(m: WebhookMessage): { text: string; blocks: unknown[] } {
  const d = m.data as { version?: string; deploymentId?: string; error?: { message?: string }; drift?: { message: string }[]; kind?: string; state?: string; scheduleId?: string };
  let line: string;
  if (m.type === "environment.drifted") {
    line = `*${m.environment}* has drifted: ${(d.drift ?? []).map((x) => x.message).join("; ")}`;
  } else if (m.type === "schedule.run_failed") {
    line = `A ${d.kind ?? ""} run of schedule \`${d.scheduleId}\` on *${m.environment}* ${d.state === "missed" ? "was missed" : "failed"}${d.error?.message ? `: ${d.error.message}` : ""}`;
  } else if (m.type.startsWith("promotion.")) {
    const p = (m.data as { promotion?: { pipeline: string; from?: string; forced?: boolean } }).promotion;
    line = `Promotion of *${d.version}* ${p?.from ? `from *${p.from}* ` : ""}into *${m.environment}* (pipeline \`${p?.pipeline}\`${p?.forced ? ", forced" : ""}) ${m.type.slice("promotion.".length)}${d.error?.message ? `: ${d.error.message}` : ""}`;
  } else {
    const what = m.type.slice("deployment.".length).replace("_", " ");
    line = `*${d.version}* → *${m.environment}* (\`${d.deploymentId}\`) ${what}${d.error?.message ? `: ${d.error.message}` : ""}`;
  }
  const text = `${ICON[m.type] ?? ""} ${line}`.trim();
  return {
    text: text.replace(/[*`]/g, ""),
    blocks: [
      { type: "section", text: { type: "mrkdwn", text } },
      { type: "context", elements: [{ type: "mrkdwn", text: `Cutover · ${m.type}` }] },
    ],
  };
}

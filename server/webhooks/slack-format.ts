// A webhook event as a readable Slack message (Block Kit), for webhooks of
// format `slack` pointed at a Slack incoming-webhook URL.
import type { WebhookMessage } from "./webhook-events";
import { previewLines } from "../deployments/change-preview";
import type { ChangePreview } from "../deployments/model";
import { gateButtons, promotionButton, steeringButtons } from "./slack-blocks";

const ICON: Record<string, string> = {
  "deployment.started": ":rocket:",
  "deployment.paused": ":double_vertical_bar:",
  "deployment.succeeded": ":white_check_mark:",
  "deployment.rolled_back": ":leftwards_arrow_with_hook:",
  "deployment.failed": ":x:",
  "environment.drifted": ":warning:",
  "environment.maintenance": ":construction:",
  "schedule.run_failed": ":alarm_clock:",
  "promotion.started": ":arrow_forward:",
  "promotion.succeeded": ":white_check_mark:",
  "promotion.failed": ":no_entry:",
  "promotion.held": ":octagonal_sign:",
  "promotion.eligible": ":inbox_tray:",
  "release.created": ":package:",
  "deployment.awaiting_approval": ":raised_hand:",
};

export function slackMessage(m: WebhookMessage): { text: string; blocks: unknown[] } {
  const d = m.data as { version?: string; deploymentId?: string; error?: { message?: string }; drift?: { message: string }[]; kind?: string; state?: string; scheduleId?: string };
  let line: string;
  if (m.type === "environment.drifted") {
    line = `*${m.environment}* has drifted: ${(d.drift ?? []).map((x) => x.message).join("; ")}`;
  } else if (m.type === "environment.maintenance") {
    const e = m.data as { on: boolean; mode?: string; by?: { name: string } };
    line = e.on ? `*${m.environment}* is in maintenance (${e.mode === "hold" ? "requests held" : "a 503 page"})${e.by ? `, by ${e.by.name}` : ""}` : `*${m.environment}* is out of maintenance${e.by ? `, by ${e.by.name}` : ""}`;
  } else if (m.type === "schedule.run_failed") {
    line = `A ${d.kind ?? ""} run of schedule \`${d.scheduleId}\` on *${m.environment}* ${d.state === "missed" ? "was missed" : "failed"}${d.error?.message ? `: ${d.error.message}` : ""}`;
  } else if (m.type === "release.created") {
    const r = m.data as { id: string; version: string; digest: string; createdBy?: { name: string }; provenance?: { commit?: string; link?: string } };
    line = `Release *${r.version}* (\`${r.id}\`, ${r.digest.slice(0, 19)}…) recorded${r.createdBy ? ` by ${r.createdBy.name}` : ""}${r.provenance?.commit ? ` from ${r.provenance.commit}` : ""}`;
  } else if (m.type === "promotion.held") {
    const h = m.data as { pipeline: string; stage: string; release: { version: string }; by: { name: string } };
    line = `Automatic promotion into *${h.stage}* (pipeline \`${h.pipeline}\`) is held: ${h.by.name} promoted the older *${h.release.version}* by hand; release the hold to go on`;
  } else if (m.type === "promotion.eligible") {
    const e = m.data as { pipeline: string; stage: string; from: string; release: { version: string } };
    line = `*${e.release.version}* may be promoted into *${e.stage}* (pipeline \`${e.pipeline}\`): it is live and soaked in *${e.from}*`;
  } else if (m.type === "deployment.awaiting_approval") {
    const e = (m.data as { event?: { gate?: string; requireDistinctApprover?: boolean; preview?: ChangePreview } }).event ?? {};
    const preview = e.preview?.stacks.length ? `\n${previewLines(e.preview).map((l) => `• ${l}`).join("\n")}` : "";
    line = `*${d.version}* → *${m.environment}* (\`${d.deploymentId}\`) waits for approval at gate *${e.gate}*${e.requireDistinctApprover ? " (by someone other than who started it)" : ""}${preview}`;
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
    blocks: [{ type: "section", text: { type: "mrkdwn", text } }, ...buttonsFor(m), { type: "context", elements: [{ type: "mrkdwn", text: `Cutover · ${m.type}` }] }],
  };
}

/** A message about a deployment that waits on a person carries the buttons that answer it (handled by Cutover's interactions endpoint). */
function buttonsFor(m: WebhookMessage): unknown[] {
  if (m.type === "promotion.eligible") {
    const e = m.data as { pipeline: string; stage: string; release: { id: string; version: string } };
    return [promotionButton(e.pipeline, e.stage, e.release)];
  }
  const d = m.data as { deploymentId?: string; version?: string; event?: { gate?: string } };
  if (!d.deploymentId || !d.version) return [];
  const about = { id: d.deploymentId, environment: m.environment, version: d.version };
  if (m.type === "deployment.awaiting_approval" && d.event?.gate) return [gateButtons(about, d.event.gate)];
  if (m.type === "deployment.paused") return [steeringButtons(about)];
  return [];
}

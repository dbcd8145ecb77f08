// What Cutover says in chat: command replies and deployment progress, as
// plain text (every provider) with Slack Block Kit beside it. A message
// about a deployment waiting for a person carries Promote and Abort buttons.
import type { Deployment, DeploymentEvent, Environment } from "../deployments/model";
import { CHAT_HELP } from "./chat-grammar";
import type { ChatMessage } from "./ports";
import { gateButtons, steeringButtons } from "../webhooks/slack-blocks";
import { previewLines } from "../deployments/change-preview";
import type { ChangePreview } from "../deployments/model";

export { gateButtons, steeringButtons };

const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });

export const ephemeral = (text: string): ChatMessage => ({ text, blocks: [section(text)], ephemeral: true });

export function helpMessage(command: string, problem?: string): ChatMessage {
  const lines = CHAT_HELP.map((l) => `\`${command} ${l}\``).join("\n");
  return ephemeral(`${problem ? `${problem}.\n` : ""}Usage:\n${lines}`);
}

export function refusal(why: string): ChatMessage {
  return ephemeral(`:no_entry: ${why}. Nothing was done.`);
}

const title = (d: Pick<Deployment, "id" | "environment" | "version">) => `*${d.version}* → *${d.environment}* (\`${d.id}\`)`;

/** A progress line for a journal event worth telling people about; undefined for the rest. */
export function progressMessage(d: Deployment, e: DeploymentEvent): ChatMessage | undefined {
  const reason = (e.data.error as { message?: string } | undefined)?.message ?? (e.data.reason as string | undefined);
  let line: string | undefined;
  let buttons = false;
  let gate: string | undefined;
  const by = (e.data.by as { name?: string } | undefined)?.name;
  switch (e.type) {
    case "gate:waiting":
      gate = String(e.data.gate);
      line = `:raised_hand: ${title(d)} waits for approval at gate *${gate}*${e.data.requireDistinctApprover ? " (by someone other than who started it)" : ""}${previewText(e.data.preview as ChangePreview | undefined)}`;
      break;
    case "gate:approved":
      line = `:ballot_box_with_check: ${title(d)} gate ${String(e.data.gate)} approved${by ? ` by ${by}` : ""}`;
      break;
    case "gate:rejected":
      line = `:no_entry_sign: ${title(d)} gate ${String(e.data.gate)} rejected${by ? ` by ${by}` : ""}${reason ? `: ${reason}` : ""}`;
      break;
    case "deployment:started":
      line = `:rocket: ${title(d)} started`;
      break;
    case "deployment:phase":
      if (e.data.phase !== "done" && e.data.phase !== "rolling_back") line = `:arrow_forward: ${title(d)} ${String(e.data.phase)}`;
      if (e.data.phase === "rolling_back") line = `:rewind: ${title(d)} rolling back${reason ? `: ${reason}` : ""}`;
      break;
    case "deployment:step":
      line = `:twisted_rightwards_arrows: ${title(d)} now takes ${String(e.data.weight)}% of traffic`;
      break;
    case "deployment:paused":
      line = `:double_vertical_bar: ${title(d)} is paused${e.data.by === "manual-step" ? ` at ${currentWeight(d)}% and waits for a person` : ""}`;
      buttons = true;
      break;
    case "deployment:succeeded":
      line = `:white_check_mark: ${title(d)} succeeded: ${d.version} is live`;
      break;
    case "deployment:rolled_back":
      line = `:leftwards_arrow_with_hook: ${title(d)} rolled back${reason ? `: ${reason}` : ""}`;
      break;
    case "deployment:failed":
      line = `:x: ${title(d)} failed${reason ? `: ${reason}` : ""}`;
      break;
    case "deployment:cancelled":
      line = `:heavy_multiplication_x: ${title(d)} was cancelled${reason ? `: ${reason}` : ""}`;
      break;
  }
  if (!line) return undefined;
  const actions = gate ? [gateButtons(d, gate)] : buttons ? [steeringButtons(d)] : [];
  return { text: line.replace(/[*`]/g, ""), blocks: [section(line), ...actions] };
}

/** The preview an approver sees under the question, one line per stack. */
function previewText(preview: ChangePreview | undefined): string {
  if (!preview?.stacks.length) return "";
  return `\nApproving changes:\n${previewLines(preview).map((l) => `• ${l}`).join("\n")}`;
}

function currentWeight(d: Deployment): number {
  return d.step === undefined ? 0 : (d.steps[d.step]?.weight ?? 0);
}

export function statusMessage(env: Omit<Environment, "status"> & { status: string }, active: Deployment | undefined): ChatMessage {
  const lines = [
    `*${env.name}* is ${env.status}: live ${env.liveVersion ?? "nothing yet"}, blue ${env.weights.blue}% / green ${env.weights.green}%`,
  ];
  if (active) lines.push(`${title(active)}: ${active.state}, ${active.phase}${active.pausedBy ? ` (paused by ${active.pausedBy})` : ""}`);
  if (env.drift?.items.length) lines.push(`drift: ${env.drift.items.map((i) => i.message).join("; ")}`);
  const waitingGate = active?.pausedBy === "gate" ? Object.entries(active.gateLog ?? {}).find(([, r]) => r.state === "waiting") : undefined;
  const atGate = waitingGate?.[0].split("@")[0];
  if (atGate) lines.push(`waits for approval at gate *${atGate}*${previewText(waitingGate?.[1].preview)}`);
  const text = lines.join("\n");
  const waiting = active && (active.pausedBy !== undefined || active.phase === "baking");
  const actions = active && atGate ? [gateButtons(active, atGate)] : waiting ? [steeringButtons(active!)] : [];
  return { text: text.replace(/[*`]/g, ""), blocks: [section(text), ...actions], ephemeral: true };
}

export function historyMessage(environment: string, deployments: Deployment[]): ChatMessage {
  if (deployments.length === 0) return ephemeral(`*${environment}* has no deployments yet`);
  const lines = deployments.map(
    (d) => `\`${d.id}\` ${d.version} ${d.kind} ${d.state}${d.error ? ` (${d.error.message.split("\n")[0].slice(0, 120)})` : ""} ${d.createdAt}`,
  );
  return ephemeral(`Latest deployments of *${environment}*:\n${lines.join("\n")}`);
}

// What Cutover says in chat: command replies and deployment progress, as
// plain text (every provider) with Slack Block Kit beside it. A message
// about a deployment waiting for a person carries Promote and Abort buttons.
import type { Deployment, DeploymentEvent, Environment } from "../deployments/model";
import { CHAT_HELP } from "./chat-grammar";
import type { ChatMessage } from "./ports";

const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
const plain = (text: string) => ({ type: "plain_text", text });

export const ephemeral = (text: string): ChatMessage => ({ text, blocks: [section(text)], ephemeral: true });

export function helpMessage(command: string, problem?: string): ChatMessage {
  const lines = CHAT_HELP.map((l) => `\`${command} ${l}\``).join("\n");
  return ephemeral(`${problem ? `${problem}.\n` : ""}Usage:\n${lines}`);
}

export function refusal(why: string): ChatMessage {
  return ephemeral(`:no_entry: ${why}. Nothing was done.`);
}

/** Promote and Abort, the latter behind a confirm dialog. */
export function steeringButtons(d: Pick<Deployment, "id" | "environment" | "version">): unknown {
  return {
    type: "actions",
    block_id: `steer:${d.id}`,
    elements: [
      { type: "button", action_id: "promote", text: plain("Promote"), style: "primary", value: d.id },
      {
        type: "button",
        action_id: "abort",
        text: plain("Abort"),
        style: "danger",
        value: d.id,
        confirm: {
          title: plain("Abort this deployment?"),
          text: { type: "mrkdwn", text: `Traffic goes back to the live fleet and ${d.version}'s fleet on ${d.environment} is removed.` },
          confirm: plain("Abort"),
          deny: plain("Keep going"),
          style: "danger",
        },
      },
    ],
  };
}

/** Approve and Reject for the gate a deployment waits at. */
export function gateButtons(d: Pick<Deployment, "id" | "environment" | "version">, gate: string): unknown {
  return {
    type: "actions",
    block_id: `gate:${d.id}:${gate}`,
    elements: [
      { type: "button", action_id: "approve", text: plain("Approve"), style: "primary", value: `${d.id}:${gate}` },
      {
        type: "button",
        action_id: "reject",
        text: plain("Reject"),
        style: "danger",
        value: `${d.id}:${gate}`,
        confirm: {
          title: plain("Reject this deployment?"),
          text: { type: "mrkdwn", text: `${d.version} is rolled back on ${d.environment}.` },
          confirm: plain("Reject"),
          deny: plain("Cancel"),
          style: "danger",
        },
      },
    ],
  };
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
      line = `:raised_hand: ${title(d)} waits for approval at gate *${gate}*${e.data.requireDistinctApprover ? " (by someone other than who started it)" : ""}`;
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

function currentWeight(d: Deployment): number {
  return d.step === undefined ? 0 : (d.steps[d.step]?.weight ?? 0);
}

export function statusMessage(env: Omit<Environment, "status"> & { status: string }, active: Deployment | undefined): ChatMessage {
  const lines = [
    `*${env.name}* is ${env.status}: live ${env.liveVersion ?? "nothing yet"}, blue ${env.weights.blue}% / green ${env.weights.green}%`,
  ];
  if (active) lines.push(`${title(active)}: ${active.state}, ${active.phase}${active.pausedBy ? ` (paused by ${active.pausedBy})` : ""}`);
  if (env.drift?.items.length) lines.push(`drift: ${env.drift.items.map((i) => i.message).join("; ")}`);
  const text = lines.join("\n");
  const atGate = active?.pausedBy === "gate" ? Object.entries(active.gateLog ?? {}).find(([, r]) => r.state === "waiting")?.[0].split("@")[0] : undefined;
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

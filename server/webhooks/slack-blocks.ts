// The Slack Block Kit buttons of a message about a deployment that waits
// on a person, wherever Cutover says it: a chat reply, a progress thread,
// or a Slack webhook. A click comes back to Cutover's interactions
// endpoint, which authorises the clicking user as any chat command.
import type { Deployment } from "../deployments/model";

const plain = (text: string) => ({ type: "plain_text", text });

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


/** Promote, for a release that may now go into a pipeline's manual stage (`value`: `<pipeline>/<stage>/<release id>`). */
export function promotionButton(pipeline: string, stage: string, release: { id: string; version: string }): unknown {
  return {
    type: "actions",
    block_id: `promote-stage:${pipeline}:${stage}`,
    elements: [
      {
        type: "button",
        action_id: "promote_stage",
        text: plain(`Promote ${release.version}`),
        style: "primary",
        value: `${pipeline}/${stage}/${release.id}`,
        confirm: {
          title: plain(`Promote into ${stage}?`),
          text: { type: "mrkdwn", text: `${release.version} is deployed into ${stage} through pipeline ${pipeline}.` },
          confirm: plain("Promote"),
          deny: plain("Not now"),
        },
      },
    ],
  };
}

// The page a local balancer serves while its environment is in maintenance:
// Cutover's own HTML with the operator's message as escaped text, so that
// whoever may turn maintenance on cannot put markup or script on the
// application's origin.
import type { Maintenance } from "../deployments/model";
import type { BalancerMaintenance } from "../../infra/local/runtime";

const DEFAULT_MESSAGE = "This service is being worked on and will be back shortly.";

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function maintenancePage(m: Maintenance): BalancerMaintenance {
  const body = [
    "<!doctype html>",
    '<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Down for maintenance</title>',
    "<h1>Down for maintenance</h1>",
    `<p>${escapeHtml(m.message ?? DEFAULT_MESSAGE)}</p>`,
    "</html>",
    "",
  ].join("\n");
  return {
    mode: m.mode,
    status: 503,
    ...(m.retryAfterSeconds > 0 ? { retryAfterSeconds: m.retryAfterSeconds } : {}),
    ...(m.mode === "hold" ? { holdTimeoutMs: m.holdTimeoutMs } : {}),
    body,
    contentType: "text/html; charset=utf-8",
  };
}

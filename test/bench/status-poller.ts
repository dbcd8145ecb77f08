// A portal's status polls, run in a process of its own so that the bench's
// own work (starting deployments, waiting for them, reading the server's
// log) never delays a poll or its timing: open loop at a fixed rate, each
// poll on a new connection, GET /v1/environments/:name with every fourth a
// /healthz and every fiftieth a signed Slack `status` command. Started with
// its settings as JSON in argv; told "stop" over IPC, it sends its
// latencies back and exits.
import { createHmac } from "node:crypto";
import { request } from "../helpers/http";

export interface PollerSettings {
  url: string;
  token: string;
  names: string[];
  perSecond: number;
  slackSecret: string;
}

export interface PollerResult {
  polls: number[];
  pollsFailed: number;
  health: number[];
  healthFailed: number;
  slack: number[];
  slackFailed: number;
}

/** A `/cutover <text>` slash command signed as Slack signs it. */
export function slashCommand(url: string, secret: string, text: string, n: number) {
  const body = new URLSearchParams({
    team_id: "T0BENCH",
    channel_id: "C0BENCH",
    user_id: "U0BENCH",
    user_name: "bench",
    command: "/cutover",
    text,
    response_url: "https://hooks.slack.invalid/commands/bench",
    trigger_id: `bench.${n}.${Date.now()}`,
  }).toString();
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
  return request(`${url}/v1/chatops/slack/commands`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": timestamp, "x-slack-signature": signature },
    body,
  });
}

async function poll(s: PollerSettings, stopped: () => boolean): Promise<PollerResult> {
  const r: PollerResult = { polls: [], pollsFailed: 0, health: [], healthFailed: 0, slack: [], slackFailed: 0 };
  const started = Date.now();
  let sent = 0;
  const inflight = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  while (!stopped()) {
    const due = Math.floor(((Date.now() - started) * s.perSecond) / 1000);
    for (; sent < due; sent++) {
      const name = s.names[sent % s.names.length];
      const t = performance.now();
      if (sent % 50 === 49) {
        track(
          slashCommand(s.url, s.slackSecret, `status ${name}`, sent)
            .then((res) => {
              if (res.status !== 200 || !res.body.includes(name)) r.slackFailed++;
              r.slack.push(performance.now() - t);
            })
            .catch(() => void r.slackFailed++),
        );
      } else if (sent % 4 === 3) {
        track(
          request(`${s.url}/healthz`)
            .then((res) => {
              if (res.status !== 200) r.healthFailed++;
              r.health.push(performance.now() - t);
            })
            .catch(() => void r.healthFailed++),
        );
      } else {
        track(
          request(`${s.url}/v1/environments/${name}`, { headers: { authorization: `Bearer ${s.token}` } })
            .then((res) => {
              if (res.status !== 200) r.pollsFailed++;
              r.polls.push(performance.now() - t);
            })
            .catch(() => void r.pollsFailed++),
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(inflight);
  return r;
}

if (require.main === module) {
  const settings = JSON.parse(process.argv[2]) as PollerSettings;
  let stop = false;
  process.on("message", (m) => {
    if (m === "stop") stop = true;
  });
  void poll(settings, () => stop).then((result) => process.send!(result, () => process.exit(0)));
}

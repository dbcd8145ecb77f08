// What a runner does next, as a table of (deployment as journaled, what it
// sees) → decision, with every point a crash can leave a deployment at.
import { decide, type Decision, type Observation } from "../../server/deployments/deployment-decision";
import type { Deployment, DeploymentState, Phase } from "../../server/deployments/model";

const at = (state: DeploymentState, phase: Phase, extra: Partial<Deployment> = {}) => ({ state, phase, ...extra }) as Deployment;
const firstLook: Observation = { firstLook: true, suspendRequested: false };
const going: Observation = { firstLook: false, suspendRequested: false };
const canary: Partial<Deployment> = { strategy: { type: "canary", steps: [] } as unknown as Deployment["strategy"], steps: [{ weight: 10, pause: "1m" }, { weight: 50, pause: "manual" }, { weight: 100 }] };
const failed: Observation = { ...going, failure: { error: new Error("health check did not pass") } };

describe("the runner's decisions", () => {
  it.each<[string, Deployment, Observation, Decision]>([
    ["a queued deployment starts", at("queued", "queued"), firstLook, { do: "start" }],
    ["a queued deployment starts before it looks at a suspend request", at("queued", "queued"), { firstLook: true, suspendRequested: true }, { do: "start" }],
    ["an ended one is done", at("succeeded", "done"), going, { do: "end" }],
    ["work goes on in its phase", at("running", "verifying"), going, { do: "work", phase: "verifying" }],
    ["a baking one bakes", at("running", "baking"), going, { do: "work", phase: "baking" }],
    ["work that failed rolls back", at("running", "verifying"), failed, { do: "roll_back", because: "failed" }],
    ["a failure while rolling back gives up, left for the next start", at("rolling_back", "rolling_back"), failed, { do: "give_up" }],
    ["a failure while retiring gives up", at("running", "retiring"), failed, { do: "give_up" }],
    ["a failure after the end gives up", at("failed", "done"), failed, { do: "give_up" }],
    ["work stopped at a safe point is suspended", at("running", "shifting", canary), { ...going, stoppedAtSafePoint: true }, { do: "suspend" }],
    ["a suspend request stops it before its next piece of work", at("running", "provisioning"), { ...going, suspendRequested: true }, { do: "suspend" }],
    ["a suspend request never stops retiring", at("running", "retiring"), { ...going, suspendRequested: true }, { do: "work", phase: "retiring" }],
    ["a suspend request never stops a rollback", at("rolling_back", "rolling_back"), { ...going, suspendRequested: true }, { do: "work", phase: "rolling_back" }],
    ["a suspended deployment resumes where it stopped", at("paused", "shifting", { suspended: true }), firstLook, { do: "resume" }],
    ["a suspended one resumes even when its new server is shutting down (and then suspends again)", at("running", "baking", { suspended: true }), { firstLook: true, suspendRequested: true }, { do: "resume" }],
  ])("%s", (_why, d, seen, decision) => {
    expect(decide(d, seen)).toEqual(decision);
  });

  // Where each fault-injection point leaves a deployment in the journal, and what the next server does with it.
  it.each<[string, DeploymentState, Phase, Decision]>([
    ["provisioning", "running", "provisioning", { do: "roll_back", because: "interrupted" }],
    ["provisioning:engine", "running", "provisioning", { do: "roll_back", because: "interrupted" }],
    ["verifying", "running", "verifying", { do: "roll_back", because: "interrupted" }],
    ["shifting:before-traffic", "running", "shifting", { do: "roll_back", because: "interrupted" }],
    ["shifting:during-traffic", "running", "shifting", { do: "roll_back", because: "interrupted" }],
    ["shifting:after-traffic", "running", "shifting", { do: "roll_back", because: "interrupted" }],
    ["a manual canary step", "paused", "shifting", { do: "roll_back", because: "interrupted" }],
    ["resizing:engine (a rolling wave)", "running", "shifting", { do: "roll_back", because: "interrupted" }],
    ["preview:after-traffic", "running", "shifting", { do: "roll_back", because: "interrupted" }],
    ["baking", "running", "baking", { do: "roll_back", because: "interrupted" }],
    ["retiring", "running", "retiring", { do: "work", phase: "retiring" }],
    ["retiring:engine", "running", "retiring", { do: "work", phase: "retiring" }],
    ["rolling_back", "rolling_back", "rolling_back", { do: "work", phase: "rolling_back" }],
    ["rolling_back:before-traffic", "rolling_back", "rolling_back", { do: "work", phase: "rolling_back" }],
    ["rolling_back:after-traffic", "rolling_back", "rolling_back", { do: "work", phase: "rolling_back" }],
    ["recovery (the last start died recovering it)", "rolling_back", "rolling_back", { do: "work", phase: "rolling_back" }],
    ["before it started (still queued)", "queued", "queued", { do: "start" }],
  ])("after a crash at %s, the next server's first look decides", (_point, state, phase, decision) => {
    expect(decide(at(state, phase), firstLook)).toEqual(decision);
  });

  // Traffic moves one decision at a time, read from what the deployment records.
  const urlGate = (name: string, kind: string) => ({ name, kind, url: "https://gate.example/" }) as unknown as NonNullable<Deployment["gates"]>[number];
  const shifting = (extra: Partial<Deployment> = {}) => at("running", "shifting", { ...canary, ...extra });
  it.each<[string, Deployment, Observation, Decision]>([
    ["the first step comes first", shifting(), going, { do: "step", index: 0 }],
    ["a step whose timed pause is running is applied again (only the pause's rest is waited)", shifting({ step: 0, waitUntil: "2030-01-01T00:00:00Z" }), going, { do: "step", index: 0 }],
    ["a step whose pause is over is followed by the next", shifting({ step: 0 }), going, { do: "step", index: 1 }],
    ["a manual step waits for promotion in its own step", shifting({ step: 1, pausedBy: "manual-step", state: "paused" }), going, { do: "step", index: 1 }],
    ["an inconclusive analysis at a step holds in that step", shifting({ step: 0, pausedBy: "analysis" }), going, { do: "step", index: 0 }],
    ["every step applied: the new version is live", shifting({ step: 2 }), going, { do: "promote" }],
    ["a person's pause holds before the next step", shifting({ step: 0 }), { ...going, pauseRequested: true }, { do: "hold" }],
    ["a person's pause never interrupts a step already applied", shifting({ step: 0, waitUntil: "2030-01-01T00:00:00Z" }), { ...going, pauseRequested: true }, { do: "step", index: 0 }],
    ["a person's pause holds before the bake", shifting({ step: 2, fromColor: "blue", strategy: { type: "canary", bake: "30s" } as unknown as Deployment["strategy"] }), { ...going, pauseRequested: true }, { do: "hold" }],
    ["with no bake, the last step promotes whatever the pause", shifting({ step: 2, fromColor: "blue" }), { ...going, pauseRequested: true }, { do: "promote" }],
    ["an abort rolls back before the next step", shifting({ step: 0 }), { ...going, abortRequested: true }, { do: "roll_back", because: "aborted" }],
    ["an abort never stops retiring", at("running", "retiring"), { ...going, abortRequested: true }, { do: "work", phase: "retiring" }],
    ["a suspend request stops it between steps", shifting({ step: 0 }), { ...going, suspendRequested: true }, { do: "suspend" }],
    ...((): [string, Deployment, Observation, Decision][] => {
      const rollout = urlGate("change-board", "confirm-rollout");
      const pre = urlGate("smoke", "pre-rollout");
      const increase = urlGate("slo", "confirm-traffic-increase");
      const gates = [rollout, pre, increase];
      return [
        ["a confirm-rollout gate comes before the fleet is built", at("running", "provisioning", { ...canary, gates }), going, { do: "gate", gate: rollout, at: {} }],
        ["once passed, provisioning goes on", at("running", "provisioning", { ...canary, gates, gateLog: { "change-board": { state: "passed", at: "" } } }), going, { do: "work", phase: "provisioning" }],
        ["a pre-rollout gate comes before the first step", shifting({ gates }), going, { do: "gate", gate: pre, at: {} }],
        ["then the first step's traffic-increase gate", shifting({ gates, gateLog: { smoke: { state: "passed", at: "" } } }), going, { do: "gate", gate: increase, at: { step: 0, weight: 10 } }],
        ["a traffic-increase gate is asked again at every step", shifting({ gates, step: 0, gateLog: { smoke: { state: "passed", at: "" }, "slo@0": { state: "passed", at: "" } } }), going, { do: "gate", gate: increase, at: { step: 1, weight: 50 } }],
        ["a gate waiting for a person is asked again (its log keeps when it began)", shifting({ gates, gateLog: { smoke: { state: "waiting", at: "" } } }), going, { do: "gate", gate: pre, at: {} }],
        ["a step already applied asks no gate", shifting({ gates, step: 0, waitUntil: "2030-01-01T00:00:00Z" }), going, { do: "step", index: 0 }],
      ];
    })(),
    [
      "a blue/green pre-promotion analysis previews the new pool first",
      at("running", "shifting", { strategy: { type: "blue-green", prePromotion: { metrics: [] } } as unknown as Deployment["strategy"], steps: [{ weight: 100 }] }),
      going,
      { do: "preview" },
    ],
    [
      "once it passed, the switch",
      at("running", "shifting", { strategy: { type: "blue-green", prePromotion: { metrics: [] } } as unknown as Deployment["strategy"], steps: [{ weight: 100 }], prePromotionPassed: true }),
      going,
      { do: "step", index: 0 },
    ],
  ])("%s", (_why, d, seen, decision) => {
    expect(decide(d, seen)).toEqual(decision);
  });
});

// What a runner does next, as a table of (deployment as journaled, what it
// sees) → decision, with every point a crash can leave a deployment at.
import { decide, type Decision, type Observation } from "../../server/deployments/deployment-decision";
import type { Deployment, DeploymentState, Phase } from "../../server/deployments/model";

const at = (state: DeploymentState, phase: Phase, extra: Partial<Deployment> = {}) => ({ state, phase, ...extra }) as Deployment;
const firstLook: Observation = { firstLook: true, suspendRequested: false };
const going: Observation = { firstLook: false, suspendRequested: false };
const failed: Observation = { ...going, failure: { error: new Error("health check did not pass") } };

describe("the runner's decisions", () => {
  it.each<[string, Deployment, Observation, Decision]>([
    ["a queued deployment starts", at("queued", "queued"), firstLook, { do: "start" }],
    ["a queued deployment starts before it looks at a suspend request", at("queued", "queued"), { firstLook: true, suspendRequested: true }, { do: "start" }],
    ["an ended one is done", at("succeeded", "done"), going, { do: "end" }],
    ["work goes on in its phase", at("running", "shifting"), going, { do: "work", phase: "shifting" }],
    ["a paused one waits in its phase's work", at("paused", "shifting"), going, { do: "work", phase: "shifting" }],
    ["work that failed rolls back", at("running", "verifying"), failed, { do: "roll_back", because: "failed" }],
    ["a failure while rolling back gives up, left for the next start", at("rolling_back", "rolling_back"), failed, { do: "give_up" }],
    ["a failure while retiring gives up", at("running", "retiring"), failed, { do: "give_up" }],
    ["a failure after the end gives up", at("failed", "done"), failed, { do: "give_up" }],
    ["work stopped at a safe point is suspended", at("running", "shifting"), { ...going, stoppedAtSafePoint: true }, { do: "suspend" }],
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
});

import { checkTransition, IllegalTransitionError, isTerminal, TERMINAL_STATES } from "../../server/deployments/deployment-states";
import { DeploymentJournal } from "../../server/deployments/deployment-journal";
import { DomainEventBus } from "../../server/deployments/deployment-events";
import type { Deployment, DeploymentEvent } from "../../server/deployments/model";
import type { DeploymentRepository } from "../../server/deployments/ports";

/** A journal over an in-memory repository: what the state table lets through is what gets saved. */
function memoryJournal() {
  const saved: Deployment[] = [];
  const events: DeploymentEvent[] = [];
  const append = (e: Omit<DeploymentEvent, "id">) => {
    const event = { ...e, id: events.length + 1 };
    events.push(event);
    return event;
  };
  const repo = {
    save: async (d: Deployment) => (saved.push(structuredClone(d)), d),
    saveWithEvents: async (d: Deployment, es: Omit<DeploymentEvent, "id">[]) => (saved.push(structuredClone(d)), es.map(append)),
    appendEvent: async (e: Omit<DeploymentEvent, "id">) => append(e),
  } as unknown as DeploymentRepository;
  return { journal: new DeploymentJournal(repo, new DomainEventBus()), saved, events };
}

const queued = (): Deployment => ({
  id: "dep_1",
  environment: "shop",
  version: "v2",
  artifact: { command: ["app"] },
  strategy: { type: "blue-green" },
  kind: "deploy",
  state: "queued",
  phase: "queued",
  steps: [{ weight: 100 }],
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
});

describe("the deployment state table", () => {
  it("has exactly the four terminal states", () => {
    expect([...TERMINAL_STATES].sort()).toEqual(["cancelled", "failed", "rolled_back", "succeeded"]);
    expect(isTerminal("running")).toBe(false);
  });

  it.each([
    [{ state: "queued", phase: "queued" }, { state: "running", phase: "provisioning" }],
    [{ state: "running", phase: "shifting" }, { state: "paused", phase: "shifting" }],
    [{ state: "paused", phase: "shifting" }, { state: "rolling_back", phase: "rolling_back" }],
    // A manual confirm-rollout gate holds the deployment before it builds anything.
    [{ state: "running", phase: "provisioning" }, { state: "paused", phase: "provisioning" }],
    [{ state: "running", phase: "retiring" }, { state: "failed", phase: "done" }],
    [{ state: "rolling_back", phase: "rolling_back" }, { state: "rolled_back", phase: "done" }],
    [{ state: "queued", phase: "queued" }, { state: "cancelled", phase: "done" }],
  ] as const)("allows %o → %o", (from, to) => expect(() => checkTransition(from, to)).not.toThrow());

  it.each([
    [{ state: "succeeded", phase: "done" }, { state: "running", phase: "provisioning" }],
    [{ state: "running", phase: "retiring" }, { state: "rolling_back", phase: "rolling_back" }],
    [{ state: "running", phase: "provisioning" }, { state: "running", phase: "shifting" }],
    [{ state: "rolling_back", phase: "rolling_back" }, { state: "succeeded", phase: "done" }],
    [{ state: "queued", phase: "queued" }, { state: "running", phase: "queued" }],
    [{ state: "running", phase: "verifying" }, { state: "paused", phase: "verifying" }],
  ] as const)("refuses %o → %o", (from, to) => expect(() => checkTransition(from, to)).toThrow(IllegalTransitionError));

  it("journals legal moves and throws on an illegal one without saving it", async () => {
    const { journal, saved, events } = memoryJournal();
    const d = queued();
    await journal.move(d, { state: "running", phase: "provisioning" });
    expect(saved.at(-1)).toMatchObject({ state: "running", phase: "provisioning" });
    expect(events.at(-1)).toMatchObject({ type: "deployment:phase", data: { phase: "provisioning", previous: "queued" } });
    const count = saved.length;
    expect(() => journal.move(d, { phase: "retiring" })).toThrow(IllegalTransitionError);
    expect(saved).toHaveLength(count);
    expect(d.phase).toBe("provisioning");
  });

  it("ends a deployment once, with its time and outcome event", async () => {
    const { journal, events } = memoryJournal();
    const d = queued();
    await journal.move(d, { state: "running", phase: "provisioning" });
    await journal.move(d, { state: "rolling_back", phase: "rolling_back" });
    await journal.finish(d, "rolled_back");
    await journal.finish(d, "rolled_back");
    expect(d).toMatchObject({ state: "rolled_back", phase: "done" });
    expect(d.finishedAt).toBeDefined();
    expect(events.filter((e) => e.type === "deployment:rolled_back")).toHaveLength(1);
  });

  it("keeps a hold's reason only while the deployment is paused", async () => {
    const { journal, saved } = memoryJournal();
    const d = queued();
    await journal.move(d, { state: "running", phase: "provisioning" });
    await journal.move(d, { phase: "verifying" });
    await journal.move(d, { phase: "shifting" });
    await journal.hold(d, "gate");
    expect(saved.at(-1)).toMatchObject({ state: "paused", pausedBy: "gate" });
    // Held again for another reason while paused: still paused, the new reason saved.
    await journal.hold(d, "manual-step");
    expect(saved.at(-1)).toMatchObject({ state: "paused", pausedBy: "manual-step" });
    await journal.release(d);
    expect(d.pausedBy).toBeUndefined();
    expect(saved.at(-1)).toMatchObject({ state: "running" });
    // Any move out of paused ends the hold, a rollback included.
    await journal.hold(d, "user");
    await journal.move(d, { state: "rolling_back", phase: "rolling_back" });
    expect(d.pausedBy).toBeUndefined();
    expect(saved.at(-1)).toMatchObject({ state: "rolling_back" });
    expect(saved.at(-1)?.pausedBy).toBeUndefined();
  });
});


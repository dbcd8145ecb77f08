// The replica's engine slots: a bound on operations at once, rollbacks and
// traffic changes before new fleets, round-robin across environments, and
// waits that say where they stand.
import { EMPTY_PROGRAM } from "../../infra/programs";
import { BoundedEngine } from "../../server/engine/bounded-engine";
import { EngineSlots } from "../../server/engine/engine-slots";
import type { EngineProgress, StackEngine } from "../../server/deployments/stack-engine";

/** An engine whose operations finish when the test says so; it records the order they started in. */
function controllable() {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const op = (label: string) =>
    new Promise<void>((resolve) => {
      started.push(label);
      finish.set(label, resolve);
    });
  const engine = {
    up: (stack: string) => op(`up ${stack}`).then(() => ({})),
    destroy: (stack: string) => op(`destroy ${stack}`),
    refresh: (stack: string) => op(`refresh ${stack}`).then(() => ({})),
    resources: async () => [],
    outputs: async () => ({}),
    exists: async () => true,
    repair: async () => ({ cancelled: false, pendingCleared: 0 }),
    killOrphanedProcesses: () => [],
  } as unknown as StackEngine;
  return { engine, started, done: (label: string) => finish.get(label)!() };
}

const program = EMPTY_PROGRAM;
const tick = () => new Promise((r) => setImmediate(r));

/** With one slot: finishes each operation as it starts, and gives the order they started in. */
async function finishInTurn(started: string[], done: (label: string) => void, ops: Promise<unknown>[]): Promise<string[]> {
  await tick();
  const order: string[] = [];
  for (let i = 0; i < ops.length; i++) {
    const label = started[started.length - 1];
    order.push(label);
    done(label);
    await tick();
    await tick();
  }
  await Promise.all(ops);
  return order;
}

describe("engine slots", () => {
  it("runs at most the limit at once; the rest wait their turn", async () => {
    const { engine, started, done } = controllable();
    const bounded = new BoundedEngine(engine, new EngineSlots(2));
    const ops = ["a.blue", "b.blue", "c.blue"].map((s) => bounded.up(s, program));
    await tick();
    expect(started).toEqual(["up a.blue", "up b.blue"]);
    expect(bounded.slots.load).toEqual({ running: 2, waiting: 1, limit: 2 });
    done("up a.blue");
    await tick();
    expect(started).toEqual(["up a.blue", "up b.blue", "up c.blue"]);
    done("up b.blue");
    done("up c.blue");
    await Promise.all(ops);
    expect(bounded.slots.load).toEqual({ running: 0, waiting: 0, limit: 2 });
  });

  it("lets a rollback's destroy and a traffic change overtake queued provisioning", async () => {
    const { engine, started, done } = controllable();
    const bounded = new BoundedEngine(engine, new EngineSlots(1));
    const ops = [bounded.up("a.blue", program), bounded.up("b.green", program), bounded.up("c.green", program), bounded.destroy("d.green", program), bounded.up("e.traffic", program)];
    await tick();
    for (const label of ["up a.blue", "destroy d.green", "up e.traffic", "up b.green"]) {
      expect(started[started.length - 1]).toBe(label);
      done(label);
      await tick();
      await tick();
    }
    expect(started).toEqual(["up a.blue", "destroy d.green", "up e.traffic", "up b.green", "up c.green"]);
    done("up c.green");
    await Promise.all(ops);
  });

  it("keeps a refresh of a traffic stack (a drift check, a record) in line with new fleets, behind a rollback's destroy and a traffic change", async () => {
    const { engine, started, done } = controllable();
    const bounded = new BoundedEngine(engine, new EngineSlots(1));
    const ops = [bounded.up("a.blue", program), bounded.refresh("b.traffic"), bounded.up("c.green", program), bounded.destroy("d.green", program), bounded.up("e.traffic", program)];
    const order = await finishInTurn(started, done, ops);
    expect(order).toEqual(["up a.blue", "destroy d.green", "up e.traffic", "refresh b.traffic", "up c.green"]);
  });

  it("is busy while every slot is taken or an operation waits, and only then", async () => {
    const { engine, done } = controllable();
    const bounded = new BoundedEngine(engine, new EngineSlots(2));
    expect(bounded.busy()).toBe(false);
    const first = bounded.up("a.blue", program);
    await tick();
    expect(bounded.busy()).toBe(false);
    const second = bounded.up("b.blue", program);
    await tick();
    expect(bounded.busy()).toBe(true);
    const third = bounded.up("c.blue", program);
    await tick();
    expect(bounded.slots.load).toEqual({ running: 2, waiting: 1, limit: 2 });
    expect(bounded.busy()).toBe(true);
    done("up a.blue");
    await first;
    await tick();
    expect(bounded.busy()).toBe(true);
    done("up b.blue");
    await second;
    await tick();
    expect(bounded.busy()).toBe(false);
    done("up c.blue");
    await third;
  });

  it("serves environments in turn, so one environment's burst cannot starve another", async () => {
    const { engine, started, done } = controllable();
    const bounded = new BoundedEngine(engine, new EngineSlots(1));
    const ops = [
      bounded.up("busy.blue", program),
      bounded.refresh("busy.blue"),
      bounded.refresh("busy.green"),
      bounded.up("quiet.blue", program),
      bounded.up("other.blue", program),
    ];
    const order = await finishInTurn(started, done, ops);
    expect(order).toEqual(["up busy.blue", "up other.blue", "up quiet.blue", "refresh busy.blue", "refresh busy.green"]);
  });

  it("tells a waiting operation where it stands, and when it got its slot", async () => {
    const { engine, done } = controllable();
    const bounded = new BoundedEngine(engine, new EngineSlots(1));
    const events: EngineProgress[] = [];
    const first = bounded.up("a.blue", program);
    const second = bounded.up("b.blue", program, { onEvent: (e) => events.push(e) });
    await tick();
    expect(events).toEqual([{ type: "engine:waiting", data: { stack: "b.blue", priority: "normal", position: 0, running: 1, limit: 1 } }]);
    done("up a.blue");
    await first;
    await tick();
    expect(events[1]).toMatchObject({ type: "engine:slot_granted", data: { stack: "b.blue" } });
    done("up b.blue");
    await second;
  });

  it("tells where each environment's next operation stands, a rollback's ahead of new fleets", async () => {
    const { engine, done } = controllable();
    const slots = new EngineSlots(1);
    const bounded = new BoundedEngine(engine, slots);
    const ops = [bounded.up("a.blue", program), bounded.up("b.green", program), bounded.destroy("c.green", program)];
    await tick();
    expect(slots.waitOf("a")).toBeUndefined();
    expect(slots.waitOf("c")).toMatchObject({ position: 0, priority: "urgent", running: 1, limit: 1 });
    expect(slots.waitOf("b")).toMatchObject({ position: 1, priority: "normal" });
    expect(Date.now() - slots.waitOf("b")!.since).toBeLessThan(60_000);
    for (const label of ["up a.blue", "destroy c.green", "up b.green"]) {
      done(label);
      await tick();
      await tick();
    }
    await Promise.all(ops);
    expect(slots.waitOf("b")).toBeUndefined();
  });

  it("leaves the queue when its operation is aborted while waiting", async () => {
    const { engine, started, done } = controllable();
    const bounded = new BoundedEngine(engine, new EngineSlots(1));
    const first = bounded.up("a.blue", program);
    const abort = new AbortController();
    const cancelled = bounded.up("b.blue", program, { signal: abort.signal });
    const third = bounded.up("c.blue", program);
    abort.abort(new Error("deployment aborted"));
    await expect(cancelled).rejects.toThrow("deployment aborted");
    done("up a.blue");
    await first;
    await tick();
    expect(started).toEqual(["up a.blue", "up c.blue"]);
    done("up c.blue");
    await third;
  });

  it("releases its slot when the operation fails", async () => {
    const failing = { up: async () => Promise.reject(new Error("boom")) } as unknown as StackEngine;
    const bounded = new BoundedEngine(failing, new EngineSlots(1));
    await expect(bounded.up("a.blue", program)).rejects.toThrow("boom");
    expect(bounded.slots.load.running).toBe(0);
  });
});

// The environment record's table: each named transition changes what it
// names and nothing else.
import * as changes from "../../server/deployments/environment-changes";
import { ENVIRONMENT_TRANSITIONS, type EnvironmentChange } from "../../server/deployments/environment-changes";
import type { Deployment, Environment } from "../../server/deployments/model";

const artifact = (v: string) => ({ command: ["node", "app.js"], env: { V: v } });

function environment(over: Partial<Environment> = {}): Environment {
  return {
    name: "shop",
    spec: { name: "shop", target: "local", fleet: { replicas: 2 } } as unknown as Environment["spec"],
    status: "ready",
    weights: { blue: 100, green: 0 },
    fleets: { blue: { version: "v1", artifact: artifact("v1"), deploymentId: "d1", outputs: {} } },
    activeColor: "blue",
    liveVersion: "v1",
    liveArtifact: artifact("v1"),
    createdAt: "t0",
    updatedAt: "t0",
    ...over,
  };
}

const deployment = { id: "d2", version: "v2", artifact: artifact("v2"), fromColor: "blue", toColor: "green", fromVersion: "v1", restore: { previousVersion: "v0" } } as unknown as Deployment;

const applied = (env: Environment, change: EnvironmentChange) => {
  const copy = structuredClone(env);
  change.apply(copy);
  return copy;
};

describe("environment transitions", () => {
  it("each carries its name from the one table", () => {
    const made = [
      changes.markReady(),
      changes.failCreation({ code: "c", message: "m" }),
      changes.markDeleting(),
      changes.failDeletion({ code: "c", message: "m" }),
      changes.recordDrift(undefined),
      changes.intendTraffic({ blue: 0, green: 100 }, "d2", "t1"),
      changes.settleTraffic({ blue: 0, green: 100 }, {}, true, "t1"),
      changes.recordTraffic("t1"),
      changes.buildFleet("green", { version: "v2", artifact: artifact("v2"), deploymentId: "d2", outputs: {} }),
      changes.resizeFleetRecord("blue", {}, 1),
      changes.dropFleet("blue"),
      changes.markLive(deployment),
      changes.restoreLive(deployment),
      changes.keepNewVersion(deployment),
      changes.needAttention({ code: "c", message: "m" }),
      changes.setMaintenance(undefined),
    ];
    expect(made.map((c) => c.transition).sort()).toEqual([...ENVIRONMENT_TRANSITIONS].sort());
  });

  it("keeps maintenance until it is set off", () => {
    const on = { mode: "hold" as const, retryAfterSeconds: 30, holdTimeoutMs: 5000, since: "t1" };
    const env = applied(environment(), changes.setMaintenance(on));
    expect(env.maintenance).toEqual(on);
    expect(applied(env, changes.intendTraffic({ blue: 0, green: 100 }, "d2", "t2")).maintenance).toEqual(on);
    expect(applied(env, changes.setMaintenance(undefined)).maintenance).toBeUndefined();
  });

  it("makes an environment ready, or failed, only while it is being created", () => {
    const ready = applied(environment({ status: "creating", error: { code: "x", message: "y" } }), changes.markReady());
    expect(ready.status).toBe("ready");
    expect(ready.error).toBeUndefined();
    expect(applied(environment({ status: "deleting" }), changes.markReady()).status).toBe("deleting");
    const failed = applied(environment({ status: "creating", traffic: { url: "u" } }), changes.failCreation({ code: "environment_create_failed", message: "no" }));
    expect(failed).toMatchObject({ status: "failed", error: { code: "environment_create_failed" } });
    expect(failed.traffic).toBeUndefined();
    expect(applied(environment({ status: "deleting" }), changes.failCreation({ code: "c", message: "m" })).status).toBe("deleting");
  });

  it("settles traffic: the weights read back, the intent cleared, a direct change left to be recorded", () => {
    const intended = applied(environment(), changes.intendTraffic({ blue: 0, green: 100 }, "d2", "t1"));
    expect(intended.trafficIntent).toEqual({ weights: { blue: 0, green: 100 }, deploymentId: "d2", at: "t1" });
    const settled = applied(intended, changes.settleTraffic({ blue: 0, green: 100 }, { url: "u" }, true, "t2"));
    expect(settled).toMatchObject({ weights: { blue: 0, green: 100 }, traffic: { url: "u" }, trafficUnrecorded: { at: "t2" } });
    expect(settled.trafficIntent).toBeUndefined();
    // Only the record it was made for is cleared: a later direct change still waits.
    expect(applied(settled, changes.recordTraffic("t1")).trafficUnrecorded).toBeDefined();
    expect(applied(settled, changes.recordTraffic("t2")).trafficUnrecorded).toBeUndefined();
  });

  it("moves the live version forward, and back on a rollback with the history as it was", () => {
    const withNew = applied(environment(), changes.buildFleet("green", { version: "v2", artifact: artifact("v2"), deploymentId: "d2", outputs: {} }));
    const live = applied(withNew, changes.markLive(deployment));
    expect(live).toMatchObject({ activeColor: "green", liveVersion: "v2", previousVersion: "v1", previousArtifact: artifact("v1") });
    const back = applied(applied(live, changes.dropFleet("green")), changes.restoreLive(deployment));
    expect(back).toMatchObject({ activeColor: "blue", liveVersion: "v1", liveArtifact: artifact("v1"), previousVersion: "v0" });
    expect(back.fleets.green).toBeUndefined();
    const first = applied(environment({ fleets: {}, activeColor: undefined, liveVersion: undefined }), changes.restoreLive({ ...deployment, fromColor: undefined } as Deployment));
    expect(first.activeColor).toBeUndefined();
    expect(first.liveVersion).toBeUndefined();
  });
});

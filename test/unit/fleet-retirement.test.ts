// The retirement rule: a fleet stack is destroyed only once the target
// reports 0% for it. The journal's own weights never decide.
import { FleetStillServingError, retireFleet, type RetirementDeps } from "../../server/deployments/fleet-retirement";
import type { EnvironmentChange } from "../../server/deployments/environment-changes";
import type { Environment } from "../../server/deployments/model";
import type { TrafficObservation } from "../../server/deployments/deployment-target";

function setup(observed: TrafficObservation | undefined) {
  const destroyed: string[] = [];
  const env: Environment = {
    name: "shop",
    spec: { name: "shop", target: "local" } as Environment["spec"],
    status: "ready",
    // The journal believes green gets nothing; what the target says is what counts.
    weights: { blue: 100, green: 0 },
    fleets: { green: { version: "v2", artifact: { command: ["app"] }, deploymentId: "dep_1", outputs: {} } },
    createdAt: "",
    updatedAt: "",
  };
  const deps = {
    engine: { destroy: async (stack: string) => void destroyed.push(stack) },
    environments: { update: async (_name: string, change: EnvironmentChange) => (change.apply(env), env) },
    targets: { get: () => ({ fleetProgram: () => async () => undefined }) },
    traffic: { observe: async () => observed },
  } as unknown as RetirementDeps;
  return { deps, env, destroyed };
}

describe("retiring a fleet", () => {
  it("keeps a fleet the target still sends traffic to, whatever the journal says", async () => {
    const { deps, env, destroyed } = setup({ weights: { blue: 0, green: 100 }, source: "balancer" });
    await expect(retireFleet(deps, env, "green")).rejects.toThrow(FleetStillServingError);
    expect(destroyed).toEqual([]);
    expect(env.fleets.green).toBeDefined();
  });

  it("keeps a fleet when the weights in force cannot be read", async () => {
    const { deps, env, destroyed } = setup(undefined);
    await expect(retireFleet(deps, env, "green")).rejects.toThrow(/could not be read/);
    expect(destroyed).toEqual([]);
  });

  it("destroys a fleet the target reads back at 0%", async () => {
    const { deps, env, destroyed } = setup({ weights: { blue: 100, green: 0 }, source: "balancer" });
    await retireFleet(deps, env, "green");
    expect(destroyed).toEqual(["shop.green"]);
    expect(env.fleets.green).toBeUndefined();
  });
});

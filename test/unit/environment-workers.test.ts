// An environment's worker takes its lease before it works. Where replicas
// share the journal, a replica whose engine is saturated takes no new
// lease: the work is left to a replica with room.
import { EnvironmentWorkers } from "../../server/lane/environment-workers";
import type { Lease } from "../../server/deployments/ports";
import { createLogger } from "../../server/logger";

function setup(hasRoom?: () => boolean, release: () => Promise<void> = async () => undefined) {
  const acquired: string[] = [];
  const worked: string[] = [];
  const elsewhere: string[] = [];
  let token = 0;
  const workers = new EnvironmentWorkers(
    async (environment) => {
      worked.push(environment);
      return false;
    },
    {
      ttlMs: 10_000,
      acquire: async (environment) => {
        acquired.push(environment);
        const lease: Lease = { environment, holder: "r1", token: ++token };
        return lease;
      },
      renew: async () => true,
      release,
    },
    { acquired: () => undefined, heldElsewhere: (e) => elsewhere.push(e), lost: () => undefined, ...(hasRoom ? { hasRoom } : {}) },
    createLogger("silent"),
  );
  return { workers, acquired, worked, elsewhere };
}

describe("environment workers", () => {
  it("take the lease and work when the replica has room", async () => {
    const { workers, acquired, worked } = setup(() => true);
    workers.poke("shop");
    await workers.idle("shop");
    expect(acquired).toEqual(["shop"]);
    expect(worked).toEqual(["shop"]);
  });

  it("take no lease while the replica's engine is saturated, and take it once there is room", async () => {
    let room = false;
    const { workers, acquired, worked, elsewhere } = setup(() => room);
    workers.poke("shop");
    await workers.idle("shop");
    expect(acquired).toEqual([]);
    expect(worked).toEqual([]);
    expect(elsewhere).toEqual(["shop"]);
    room = true;
    workers.poke("shop");
    await workers.idle("shop");
    expect(acquired).toEqual(["shop"]);
    expect(worked).toEqual(["shop"]);
  });

  it("always work where no room rule is given (a replica alone on its journal)", async () => {
    const { workers, worked } = setup();
    workers.poke("shop");
    await workers.idle("shop");
    expect(worked).toEqual(["shop"]);
  });

  it("do not lose a poke that comes while the worker lets its lease go", async () => {
    let released!: () => void;
    let releasing!: () => void;
    const inRelease = new Promise<void>((r) => (releasing = r));
    let releases = 0;
    const { workers, worked } = setup(undefined, () => {
      if (++releases > 1) return Promise.resolve();
      releasing();
      return new Promise<void>((r) => (released = r));
    });
    workers.poke("shop");
    await inRelease;
    // The worker found nothing and is releasing its lease when new work is recorded.
    workers.poke("shop");
    released();
    await workers.idle("shop");
    await new Promise((r) => setImmediate(r));
    await workers.idle("shop");
    expect(worked).toEqual(["shop", "shop"]);
  });
});

// Recording direct traffic changes in the traffic stack is bookkeeping: it
// never takes an engine slot a deployment waits for. With one engine slot,
// a slow fleet holding it and two deployments queued behind it, the first
// of those to finish leaves its traffic change unrecorded until the other
// has its fleet, and records it afterwards.
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(5 * 60_000);

interface Event {
  type: string;
  at: string;
  data: { phase?: string };
}

describe("recording direct traffic changes", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ env: { CUTOVER_ENGINE_CONCURRENCY: "1", CUTOVER_WORK_POLL_INTERVAL: "200ms" } });
  });

  afterAll(() => server?.stop());

  it("waits while a deployment waits for the engine, then records", async () => {
    const mark = uniqueMark();
    const names = ["rec-a", "rec-b", "rec-c"];
    const specs = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await environmentSpec(n, mark)] as const)));
    for (const n of names) expect((await server.api("POST", "/v1/environments", specs[n])).status).toBe(201);
    for (const n of names) await waitForEnvironment(server, n, "ready");

    const slow = (n: string) => ({ ...specs[n].fleet.artifact, env: { ...specs[n].fleet.artifact.env, START_DELAY_MS: "3000" } });
    const deploy = async (n: string, artifact?: unknown) => {
      const r = await server.api("POST", `/v1/environments/${n}/deployments`, { version: "v1", ...(artifact ? { artifact } : {}) });
      expect(r.status).toBe(202);
      return r.json.id as string;
    };
    // rec-c's slow fleet takes the one slot; rec-a (quick) and rec-b (slow) wait for it.
    const c = await deploy("rec-c", slow("rec-c"));
    await waitFor("rec-c to provision", async () => (await server.api("GET", `/v1/deployments/${c}`)).json.phase === "provisioning", 60_000, 50);
    const a = await deploy("rec-a");
    const b = await deploy("rec-b", slow("rec-b"));

    // When rec-a's traffic change goes unrecorded, and when the record lands.
    let unrecordedSince: number | undefined;
    let recordedAt: number | undefined;
    await waitFor(
      "rec-a's traffic change to be recorded",
      async () => {
        const env = (await server.api("GET", "/v1/environments/rec-a")).json;
        if (env.trafficUnrecorded !== undefined) unrecordedSince ??= Date.now();
        else if (unrecordedSince !== undefined) recordedAt = Date.now();
        return recordedAt !== undefined;
      },
      180_000,
      50,
    );
    const ended = await Promise.all([a, b, c].map((id) => waitForDeployment(server, id, "terminal", 180_000)));
    expect(ended.map((d) => d.state)).toEqual(["succeeded", "succeeded", "succeeded"]);

    const events = async (id: string) => (await server.api("GET", `/v1/deployments/${id}/events`, undefined, { accept: "application/json" })).json.events as Event[];
    const verifying = async (id: string) => Date.parse((await events(id)).find((e) => e.type === "deployment:phase" && e.data.phase === "verifying")!.at);
    // rec-b waited for the engine behind rec-c, and rec-a's record waited behind rec-b's fleet.
    expect((await events(b)).some((e) => e.type === "engine:waiting")).toBe(true);
    expect(unrecordedSince).toBeLessThan(await verifying(b));
    expect(recordedAt).toBeGreaterThanOrEqual(await verifying(b));
    // Every change is recorded in the end.
    for (const n of names) await waitFor(`${n} to be recorded`, async () => (await server.api("GET", `/v1/environments/${n}`)).json.trafficUnrecorded === undefined, 60_000, 100);
  });
});

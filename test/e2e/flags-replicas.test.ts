// Flags on several replicas sharing one real PostgreSQL journal: each
// replica serves evaluations from memory, and a change made through one
// replica (the kill switch above all) reaches the others' caches through
// LISTEN/NOTIFY, with no polling, and also after the listener reconnects.
import pg from "pg";
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startPostgres, type PostgresServer } from "../helpers/postgres";
import { startServer, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(10 * 60_000);

let postgres: PostgresServer;
let a: RunningServer;
let b: RunningServer;
let journalUrl = "";
let appToken = "";

const evaluate = async (server: RunningServer, key: string) => {
  const r = await fetch(`${server.url}/ofrep/v1/evaluate/flags/${key}`, {
    method: "POST",
    headers: { authorization: `Bearer ${appToken}`, "content-type": "application/json" },
    body: JSON.stringify({ context: { targetingKey: "user-1" } }),
  });
  return (await r.json()) as { value: unknown; reason: string };
};

beforeAll(async () => {
  postgres = await startPostgres();
  journalUrl = await postgres.createDatabase("flags_journal");
  const env = { CUTOVER_DATABASE_URL: journalUrl, CUTOVER_PULUMI_PASSPHRASE: "one passphrase for every replica" };
  [a, b] = await Promise.all([startServer({ env: { ...env, CUTOVER_REPLICA_ID: "fa" } }), startServer({ env: { ...env, CUTOVER_REPLICA_ID: "fb" } })]);
  expect((await a.api("POST", "/v1/environments", await environmentSpec("shared-flags", uniqueMark()))).status).toBe(201);
  await waitForEnvironment(a, "shared-flags", "ready");
  appToken = (await a.api("POST", "/v1/tokens", { name: "app", role: "flags-reader", environments: ["shared-flags"] })).json.token;
});

afterAll(async () => {
  await b?.terminate();
  await a?.stop();
  await postgres?.stop();
});

describe("flags across replicas on PostgreSQL", () => {
  it("a kill switch pulled on one replica reaches the other's cache", async () => {
    expect((await a.api("PUT", "/v1/environments/shared-flags/flags/checkout", { enabled: true, variants: { on: true, off: false }, defaultVariant: "off", rules: [{ conditions: [{ attribute: "targetingKey", operator: "starts_with", values: ["user-"] }], variant: "on" }] })).status).toBe(201);
    // B reads the flag once, then answers from memory.
    await waitFor("replica B to see the new flag", async () => ((await evaluate(b, "checkout")).value === true ? true : undefined), 5000);
    expect(await evaluate(b, "checkout")).toMatchObject({ value: true, reason: "TARGETING_MATCH" });

    expect((await a.api("POST", "/v1/environments/shared-flags/flags/checkout/disable", { reason: "incident" })).status).toBe(200);
    const started = Date.now();
    await waitFor("replica B to answer DISABLED", async () => ((await evaluate(b, "checkout")).reason === "DISABLED" ? true : undefined), 2000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await evaluate(b, "checkout")).toMatchObject({ value: false, reason: "DISABLED" });
  });

  it("drops every cached flag when the listener's connection is cut, and follows changes again once it is back", async () => {
    expect((await evaluate(b, "checkout")).reason).toBe("DISABLED");
    // Cut every LISTEN connection: a change made meanwhile must not be missed.
    const admin = new pg.Client({ connectionString: journalUrl });
    await admin.connect();
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where query like 'LISTEN%' and pid <> pg_backend_pid()");
    await admin.end();
    expect((await a.api("POST", "/v1/environments/shared-flags/flags/checkout/enable", {})).status).toBe(200);
    await waitFor("replica B to answer from the enabled flag", async () => ((await evaluate(b, "checkout")).value === true ? true : undefined), 5000);
    // Once B listens again it caches and follows the next change through its notification.
    await waitFor("B's listener to be back", async () => {
      const admin2 = new pg.Client({ connectionString: journalUrl });
      await admin2.connect();
      const n = (await admin2.query("select count(*)::int as n from pg_stat_activity where query like 'LISTEN%'")).rows[0].n;
      await admin2.end();
      return n >= 2 ? true : undefined;
    }, 10_000);
    expect((await a.api("POST", "/v1/environments/shared-flags/flags/checkout/disable", {})).status).toBe(200);
    await waitFor("replica B to answer DISABLED again", async () => ((await evaluate(b, "checkout")).reason === "DISABLED" ? true : undefined), 2000);
  });
});

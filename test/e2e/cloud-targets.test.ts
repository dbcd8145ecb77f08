// Opt-in: the blue/green contract against a real AWS account or Kubernetes
// cluster. Skipped unless its settings are in the environment (see README,
// "AWS and Kubernetes"); nothing here runs in CI.
import { request } from "../helpers/http";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

const aws = process.env.CUTOVER_E2E_AWS ? JSON.parse(process.env.CUTOVER_E2E_AWS) : undefined;
const kubernetes = process.env.CUTOVER_E2E_KUBERNETES ? JSON.parse(process.env.CUTOVER_E2E_KUBERNETES) : undefined;
const artifact = process.env.CUTOVER_E2E_ARTIFACT ? JSON.parse(process.env.CUTOVER_E2E_ARTIFACT) : { command: [] };

const cases = [
  ["aws", aws],
  ["kubernetes", kubernetes],
] as const;

describe.each(cases)("%s, for real", (target, settings) => {
  const maybe = settings ? it : it.skip;
  let server: RunningServer;

  maybe(
    "creates an environment, deploys v1 then v2 blue/green, rolls back, and deletes it",
    async () => {
      server = await startServer({ env: { CUTOVER_OPERATION_TIMEOUT: "30m" } });
      const name = `e2e-${target}-${Date.now().toString(36)}`.slice(0, 40);
      try {
        const created = await server.api("POST", "/v1/environments", {
          name,
          target,
          fleet: { replicas: 2, artifact, healthCheck: { path: "/healthz", startTimeout: "10m" } },
          [target]: settings,
        });
        expect(created.status).toBe(201);
        const env = await waitForEnvironment(server, name, "ready");
        for (const version of ["v1", "v2"]) {
          const d = (await server.api("POST", `/v1/environments/${name}/deployments`, { version })).json;
          await waitForDeployment(server, d.id, "succeeded", 30 * 60_000);
        }
        if (env.traffic?.url) {
          await waitFor("the new version behind the load balancer", async () => (await request(`${env.traffic.url}/`)).body.includes("v2"), 120_000, 2000);
        }
        const rb = (await server.api("POST", `/v1/environments/${name}/rollback`, {})).json;
        await waitForDeployment(server, rb.id, "succeeded", 30 * 60_000);
      } finally {
        await server.api("DELETE", `/v1/environments/${name}`);
        await waitFor("the environment to be gone", async () => (await server.api("GET", `/v1/environments/${name}`)).status === 404, 30 * 60_000, 5000);
        await server.stop();
      }
    },
    60 * 60_000,
  );
});

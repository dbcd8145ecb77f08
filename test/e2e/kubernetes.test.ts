// The Kubernetes target against a real control plane: etcd, kube-apiserver,
// kube-controller-manager and KWOK's simulated node (test/helpers/kube.ts),
// the Gateway API's CRDs, and the pulumi-resource-kubernetes plugin built
// from its Go module, installed as an operator installs one. Everything is
// driven through Cutover's API with the real engine, and every assertion
// reads back what the API server holds.
import path from "node:path";
import { resolveToolchain } from "../../server/engine/toolchain";
import { installKubernetesPlugin, startControlPlane, type ControlPlane } from "../helpers/kube";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { tempDir } from "../helpers/temp-dir";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(10 * 60_000);

const NS = "shop-team";
const ENV = "shop";

describe("the kubernetes target against a real API server", () => {
  let cp: ControlPlane;
  let server: RunningServer;

  const routeWeights = async (): Promise<Record<string, number>> => {
    const route = await cp.api("GET", `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/${ENV}`);
    if (route.status === 404) return {};
    const refs = route.json.spec.rules.at(-1).backendRefs as { name: string; weight: number }[];
    return Object.fromEntries(refs.map((r) => [r.name, r.weight]));
  };
  const deploymentsOf = async () =>
    ((await cp.api("GET", `/apis/apps/v1/namespaces/${NS}/deployments?labelSelector=app%3D${ENV}`)).json.items as {
      metadata: { name: string; labels: Record<string, string> };
      spec: { replicas: number };
      status: { readyReplicas?: number };
    }[]).map((d) => ({ name: d.metadata.name, version: d.metadata.labels.version, replicas: d.spec.replicas, ready: d.status.readyReplicas ?? 0 }));

  beforeAll(async () => {
    cp = await startControlPlane();
    expect((await cp.api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } })).status).toBe(201);
    const dataDir = tempDir("kube-server");
    installKubernetesPlugin(path.join(dataDir, "pulumi-home"), resolveToolchain().pulumiBin);
    server = await startServer({ dataDir });
  });

  afterAll(async () => {
    await server?.stop();
    await cp?.stop();
  });

  it("creates an environment: its Service is in the namespace, with no route while nothing is live", async () => {
    const created = await server.api("POST", "/v1/environments", {
      name: ENV,
      target: "kubernetes",
      fleet: {
        replicas: 2,
        artifact: { command: [], env: { GREETING: "hi" } },
        healthCheck: { path: "/healthz", interval: "1s", timeout: "1s", healthyThreshold: 1, startTimeout: "90s" },
        drainTimeout: "1s",
      },
      kubernetes: { kubeconfig: cp.kubeconfig, namespace: NS, image: "registry.example.com/shop:{version}", containerPort: 8080, gateway: { name: "public" } },
    });
    if (created.status !== 201) throw new Error(`creating the environment: ${created.status} ${JSON.stringify(created.json)}`);
    await waitForEnvironment(server, ENV, "ready");
    const service = await cp.api("GET", `/api/v1/namespaces/${NS}/services/${ENV}`);
    expect(service.status).toBe(200);
    expect(service.json.spec.selector).toEqual({ app: ENV, color: "none" });
    expect(await routeWeights()).toEqual({});
  });

  it("deploys v1: a Deployment whose pods the API server reports Ready, and the route sends it everything", async () => {
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v1" })).json;
    const done = await waitForDeployment(server, d.id, "terminal");
    expect(done).toMatchObject({ state: "succeeded", toColor: "blue" });
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-blue`, version: "v1", replicas: 2, ready: 2 }]);
    expect(await routeWeights()).toEqual({ [`${ENV}-blue`]: 100 });
    expect((await cp.api("GET", `/api/v1/namespaces/${NS}/services/${ENV}`)).json.spec.selector).toEqual({ app: ENV, color: "blue" });
  });

  it("a canary's step is the route's weights, read back from the API server; promoted, the old Deployment is gone", async () => {
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v2", strategy: { type: "canary", steps: [{ weight: 25, pause: "manual" }] } })).json;
    await waitForDeployment(server, d.id, "paused");
    expect(await routeWeights()).toEqual({ [`${ENV}-blue`]: 75, [`${ENV}-green`]: 25 });
    expect((await server.api("GET", `/v1/environments/${ENV}`)).json.weights).toEqual({ blue: 75, green: 25 });
    expect((await server.api("POST", `/v1/deployments/${d.id}/promote`)).status).toBe(202);
    expect((await waitForDeployment(server, d.id, "terminal")).state).toBe("succeeded");
    expect(await routeWeights()).toEqual({ [`${ENV}-green`]: 100 });
    await waitFor("the old Deployment to be gone", async () => (await deploymentsOf()).length === 1, 60_000);
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-green`, version: "v2", replicas: 2, ready: 2 }]);
  });

  it("deleting the environment leaves no object of it in the namespace", async () => {
    expect((await server.api("DELETE", `/v1/environments/${ENV}`)).status).toBe(202);
    await waitFor("the environment to be gone", async () => (await server.api("GET", `/v1/environments/${ENV}`)).status === 404, 180_000);
    expect(await deploymentsOf()).toEqual([]);
    expect((await cp.api("GET", `/api/v1/namespaces/${NS}/services`)).json.items).toEqual([]);
    expect((await cp.api("GET", `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes`)).json.items).toEqual([]);
  });
});

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
        healthCheck: { path: "/healthz", interval: "1s", timeout: "1s", healthyThreshold: 1, startTimeout: "30s" },
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

  it("blue/green v3: the route flips whole to blue, and green's Deployment is gone", async () => {
    // A dry run first: the Pulumi preview against the API server plans blue's Deployment and green's removal, and makes nothing.
    const dry = (await server.api("POST", `/v1/environments/${ENV}/deployments?dryRun=true`, { version: "v3" })).json;
    const [create, , retire] = dry.preview.stacks as { purpose: string; changes: { op: string; type: string }[]; note?: string }[];
    expect(create).toMatchObject({ purpose: "create-fleet" });
    expect(create.note).toBeUndefined();
    expect(create.changes).toContainEqual(expect.objectContaining({ op: "create", type: "kubernetes:apps/v1:Deployment" }));
    expect(retire.changes).toContainEqual(expect.objectContaining({ op: "delete", type: "kubernetes:apps/v1:Deployment" }));
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-green`, version: "v2", replicas: 2, ready: 2 }]);
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v3" })).json;
    expect(await waitForDeployment(server, d.id, "terminal")).toMatchObject({ state: "succeeded", toColor: "blue" });
    expect(await routeWeights()).toEqual({ [`${ENV}-blue`]: 100 });
    await waitFor("the old Deployment to be gone", async () => (await deploymentsOf()).length === 1, 60_000);
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-blue`, version: "v3", replicas: 2, ready: 2 }]);
  });

  it("a version whose pods never become Ready rolls back: the route never moved, and nothing of it is left", async () => {
    // No node takes new pods: the new Deployment's pods stay Pending, never Ready.
    const taint = { spec: { taints: [{ key: "cutover.test/full", effect: "NoSchedule" }] } };
    expect((await cp.api("PATCH", "/api/v1/nodes/kwok-node-0", taint, "application/merge-patch+json")).status).toBe(200);
    try {
      const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v4" })).json;
      const ended = await waitForDeployment(server, d.id, "terminal", 300_000);
      expect(ended.state).toBe("rolled_back");
      expect(await routeWeights()).toEqual({ [`${ENV}-blue`]: 100 });
      await waitFor("the failed Deployment to be gone", async () => (await deploymentsOf()).length === 1, 60_000);
      expect(await deploymentsOf()).toEqual([{ name: `${ENV}-blue`, version: "v3", replicas: 2, ready: 2 }]);
      expect((await server.api("GET", `/v1/environments/${ENV}`)).json).toMatchObject({ liveVersion: "v3", activeColor: "blue", weights: { blue: 100, green: 0 } });
    } finally {
      await cp.api("PATCH", "/api/v1/nodes/kwok-node-0", { spec: { taints: null } }, "application/merge-patch+json");
    }
  });

  it("a route edited behind Cutover's back is drift that a refresh finds", async () => {
    const route = (await cp.api("GET", `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/${ENV}`)).json;
    route.spec.rules[0].backendRefs = [{ name: `${ENV}-blue`, port: 8080, weight: 1 }, { name: `${ENV}-green`, port: 8080, weight: 1 }];
    expect((await cp.api("PUT", `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/${ENV}`, route)).status).toBe(200);
    const op = (await server.api("POST", `/v1/environments/${ENV}/refresh`, {})).json;
    const done = await waitFor("the refresh to end", async () => {
      const now = (await server.api("GET", `/v1/operations/${op.id}`)).json;
      return now.state === "succeeded" || now.state === "failed" ? now : undefined;
    }, 120_000);
    expect(done.state).toBe("succeeded");
    expect(done.drift.length).toBeGreaterThan(0);
    expect((await server.api("GET", `/v1/environments/${ENV}`)).json.status).toBe("drifted");
    // The next deployment puts the route back to what Cutover decides.
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v5" })).json;
    const ended = await waitForDeployment(server, d.id, "terminal");
    expect({ state: ended.state, error: ended.error ?? null, toColor: ended.toColor }).toEqual({ state: "succeeded", error: null, toColor: "green" });
    expect(await routeWeights()).toEqual({ [`${ENV}-green`]: 100 });
  });

  it("the server killed while the route changes weights: the next start converges from what the API server reports", async () => {
    await server.terminate();
    server = await startServer({ dataDir: server.dataDir, env: { CUTOVER_FAULT_KILL_AT: "shifting:during-traffic" } });
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v6" })).json;
    await waitFor("the server to die at the point", () => server.process.signalCode === "SIGKILL", 180_000);
    server = await startServer({ dataDir: server.dataDir });
    const ended = await waitForDeployment(server, d.id, "terminal", 300_000);
    expect(["succeeded", "rolled_back"]).toContain(ended.state);
    const live = ended.state === "succeeded" ? { version: "v6", color: "blue" } : { version: "v5", color: "green" };
    const env = (await server.api("GET", `/v1/environments/${ENV}`)).json;
    expect(env).toMatchObject({ liveVersion: live.version, activeColor: live.color });
    expect(await routeWeights()).toEqual({ [`${ENV}-${live.color}`]: 100 });
    await waitFor("only the live Deployment to be left", async () => (await deploymentsOf()).length === 1, 60_000);
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-${live.color}`, version: live.version, replicas: 2, ready: 2 }]);
  });

  it("a pre-deploy Job runs to completion before the new fleet is built", async () => {
    const before = (await server.api("GET", `/v1/environments/${ENV}`)).json.activeColor as "blue" | "green";
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v7", preDeploy: { command: ["migrate", "--to", "{version}"], timeout: "2m" } })).json;
    expect(await waitForDeployment(server, d.id, "terminal")).toMatchObject({ state: "succeeded" });
    const events = (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events as { type: string }[];
    const types = events.map((e) => e.type);
    expect(types).toContain("job:succeeded");
    expect(types.indexOf("job:succeeded")).toBeLessThan(types.indexOf("deployment:step"));
    expect(await routeWeights()).toEqual({ [`${ENV}-${before === "blue" ? "green" : "blue"}`]: 100 });
  });

  it("a rolling deployment moves the route wave by wave and ends with one Deployment at full size", async () => {
    const from = (await server.api("GET", `/v1/environments/${ENV}`)).json.activeColor as "blue" | "green";
    const to = from === "blue" ? "green" : "blue";
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v8", strategy: { type: "rolling", maxSurge: 1, maxUnavailable: 0 } })).json;
    expect(await waitForDeployment(server, d.id, "terminal")).toMatchObject({ state: "succeeded", toColor: to });
    const events = (await server.api("GET", `/v1/deployments/${d.id}/events`, undefined, { accept: "application/json" })).json.events as { type: string; data: { weight?: number } }[];
    // Two waves of one instance each: half, then all of the traffic.
    expect(events.filter((e) => e.type === "deployment:step").map((e) => e.data.weight)).toEqual([50, 100]);
    expect(await routeWeights()).toEqual({ [`${ENV}-${to}`]: 100 });
    await waitFor("the old Deployment to be gone", async () => (await deploymentsOf()).length === 1, 60_000);
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-${to}`, version: "v8", replicas: 2, ready: 2 }]);
  });

  it("an abort at a canary's pause puts the route back and removes the canary's Deployment", async () => {
    const from = (await server.api("GET", `/v1/environments/${ENV}`)).json.activeColor as "blue" | "green";
    const to = from === "blue" ? "green" : "blue";
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v9", strategy: { type: "canary", steps: [{ weight: 20, pause: "manual" }] } })).json;
    await waitForDeployment(server, d.id, "paused");
    expect(await routeWeights()).toEqual({ [`${ENV}-${from}`]: 80, [`${ENV}-${to}`]: 20 });
    expect((await server.api("POST", `/v1/deployments/${d.id}/abort`, { reason: "the canary's errors" })).status).toBe(202);
    expect(await waitForDeployment(server, d.id, "terminal")).toMatchObject({ state: "rolled_back", error: { code: "aborted" } });
    expect(await routeWeights()).toEqual({ [`${ENV}-${from}`]: 100 });
    await waitFor("the canary's Deployment to be gone", async () => (await deploymentsOf()).length === 1, 60_000);
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-${from}`, version: "v8", replicas: 2, ready: 2 }]);
  });

  it("a requested rollback with nothing in flight builds the previous good version again and sends it everything", async () => {
    const env = (await server.api("GET", `/v1/environments/${ENV}`)).json;
    expect(env).toMatchObject({ liveVersion: "v8", previousVersion: "v7" });
    const to = env.activeColor === "blue" ? "green" : "blue";
    const asked = await server.api("POST", `/v1/environments/${ENV}/rollback`, {});
    expect(asked.status).toBe(202);
    expect(await waitForDeployment(server, asked.json.id, "terminal")).toMatchObject({ state: "succeeded", kind: "rollback", version: "v7", toColor: to });
    expect(await routeWeights()).toEqual({ [`${ENV}-${to}`]: 100 });
    await waitFor("the rolled-back-from Deployment to be gone", async () => (await deploymentsOf()).length === 1, 60_000);
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-${to}`, version: "v7", replicas: 2, ready: 2 }]);
  });

  it("the server killed while the new fleet's Deployment is being created: recovery leaves only the live Deployment", async () => {
    const env = (await server.api("GET", `/v1/environments/${ENV}`)).json;
    const to = env.activeColor === "blue" ? "green" : "blue";
    // The new pods wait for a node, so the kill lands while Pulumi still awaits the Deployment's rollout.
    const taint = { spec: { taints: [{ key: "cutover.test/full", effect: "NoSchedule" }] } };
    expect((await cp.api("PATCH", "/api/v1/nodes/kwok-node-0", taint, "application/merge-patch+json")).status).toBe(200);
    let d = { id: "" };
    try {
      d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v10" })).json;
      await waitFor("the new Deployment to be in the API server", async () => (await deploymentsOf()).some((x) => x.name === `${ENV}-${to}`), 120_000);
      await server.kill();
    } finally {
      await cp.api("PATCH", "/api/v1/nodes/kwok-node-0", { spec: { taints: null } }, "application/merge-patch+json");
    }
    server = await startServer({ dataDir: server.dataDir });
    const ended = await waitForDeployment(server, d.id, "terminal", 300_000);
    expect(["succeeded", "rolled_back"]).toContain(ended.state);
    const live = ended.state === "succeeded" ? { version: "v10", color: to } : { version: env.liveVersion, color: env.activeColor };
    expect((await server.api("GET", `/v1/environments/${ENV}`)).json).toMatchObject({ liveVersion: live.version, activeColor: live.color });
    expect(await routeWeights()).toEqual({ [`${ENV}-${live.color}`]: 100 });
    await waitFor("only the live Deployment to be left", async () => (await deploymentsOf()).length === 1, 60_000);
    expect(await deploymentsOf()).toEqual([{ name: `${ENV}-${live.color}`, version: live.version, replicas: 2, ready: 2 }]);
    // The next deployment builds on the same color without tripping over anything left behind.
    const next = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { version: "v11" })).json;
    expect(await waitForDeployment(server, next.id, "terminal")).toMatchObject({ state: "succeeded", version: "v11" });
  });

  it("a release pinned by its image digest runs that image, not the environment's template at its version", async () => {
    const image = `registry.example.com/shop@sha256:${"5e".repeat(32)}`;
    const release = await server.api("POST", "/v1/releases", { version: "v12", artifact: { command: [], env: { GREETING: "hi" }, image } });
    expect(release.status).toBe(201);
    const to = (await server.api("GET", `/v1/environments/${ENV}`)).json.activeColor === "blue" ? "green" : "blue";
    const d = (await server.api("POST", `/v1/environments/${ENV}/deployments`, { release: release.json.id })).json;
    expect(await waitForDeployment(server, d.id, "terminal")).toMatchObject({ state: "succeeded", version: "v12", release: { digest: release.json.digest } });
    const made = (await cp.api("GET", `/apis/apps/v1/namespaces/${NS}/deployments/${ENV}-${to}`)).json;
    expect(made.spec.template.spec.containers[0].image).toBe(image);
    expect(await routeWeights()).toEqual({ [`${ENV}-${to}`]: 100 });
  });

  it("deleting the environment leaves no object of it in the namespace", async () => {
    expect((await server.api("DELETE", `/v1/environments/${ENV}`)).status).toBe(202);
    await waitFor("the environment to be gone", async () => (await server.api("GET", `/v1/environments/${ENV}`)).status === 404, 180_000);
    expect(await deploymentsOf()).toEqual([]);
    expect((await cp.api("GET", `/api/v1/namespaces/${NS}/services`)).json.items).toEqual([]);
    expect((await cp.api("GET", `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes`)).json.items).toEqual([]);
  });
});

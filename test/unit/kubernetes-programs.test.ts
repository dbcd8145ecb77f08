// The Kubernetes programs' resource graphs under Pulumi's mocks.
import { kubernetesFleetProgram } from "../../infra/kubernetes/fleet-program";
import { kubernetesTrafficProgram } from "../../infra/kubernetes/traffic-program";
import type { FleetProgramInputs, KubernetesSettings } from "../../infra/program-inputs";
import { onlyResource, runUnderMocks, secretValue } from "../helpers/mocked-programs";

const settings: KubernetesSettings = {
  namespace: "shop",
  context: "prod-eu",
  image: "registry.example.com/shop:{version}",
  containerPort: 8080,
  gateway: { name: "public", namespace: "gateways" },
  hostnames: ["shop.example.com"],
  forceHeader: "X-Cutover-Pool",
};

const fleet: FleetProgramInputs = {
  environment: "shop",
  color: "blue",
  version: "v7",
  replicas: 4,
  artifact: { command: [], env: { GREETING: "hi" } },
  healthCheck: { path: "/ready", interval: "5s", timeout: "2s", healthyThreshold: 2, startTimeout: "3m" },
  drainTimeout: "20s",
};

const one = onlyResource;

describe("kubernetes fleet program", () => {
  it("declares a labelled Deployment with a readiness probe from the health check, and a per-color Service", async () => {
    const { resources, outputs } = await runUnderMocks(kubernetesFleetProgram(fleet, settings), "shop.blue");
    expect(one(resources, "pulumi:providers:kubernetes")).toMatchObject({ context: "prod-eu", namespace: "shop" });
    const dep = one(resources, "kubernetes:apps/v1:Deployment");
    expect(dep.metadata).toMatchObject({ name: "shop-blue", namespace: "shop", labels: { app: "shop", color: "blue", version: "v7" } });
    expect(dep.spec.replicas).toBe(4);
    expect(dep.spec.selector.matchLabels).toEqual({ app: "shop", color: "blue" });
    expect(dep.spec.template.metadata.labels).toEqual({ app: "shop", color: "blue", version: "v7" });
    const [container] = dep.spec.template.spec.containers;
    expect(container.image).toBe("registry.example.com/shop:v7");
    expect(container.command).toBeUndefined();
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: "PORT", value: "8080" },
        { name: "APP_VERSION", value: "v7" },
        { name: "GREETING", value: "hi" },
      ]),
    );
    expect(container.readinessProbe).toEqual({
      httpGet: { path: "/ready", port: 8080 },
      periodSeconds: 5,
      timeoutSeconds: 2,
      successThreshold: 2,
      failureThreshold: 3,
    });
    expect(dep.spec.template.spec.terminationGracePeriodSeconds).toBe(20);
    const svc = one(resources, "kubernetes:core/v1:Service");
    expect(svc.spec.selector).toEqual({ app: "shop", color: "blue" });
    // The Deployment's await is the health gate; the Service made after it is not awaited again.
    expect(svc.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true", "pulumi.com/patchForce": "true" });
    expect(outputs).toMatchObject({ version: "v7", readyReplicas: 4 });
  });
});

describe("kubernetes traffic program", () => {
  const forceKey = "tQ2v9y0XbZk4m1pW7sHc3eLrN8aUdJ6fGiKoVqEt_-Y";
  const program = (blue: number, green: number, withGreen = true, opts: { forceKey?: string; settings?: KubernetesSettings } = {}) =>
    kubernetesTrafficProgram(
      {
        environment: "shop",
        pools: {
          blue: { weight: blue, fleet: { serviceName: "shop-blue" } },
          green: withGreen ? { weight: green, fleet: { serviceName: "shop-green" } } : { weight: 0 },
        },
        ...(opts.forceKey ? { forceKey: opts.forceKey } : {}),
      },
      opts.settings ?? settings,
    );
  const routes = (resources: { type: string; inputs: Record<string, any> }[]) =>
    resources.filter((r) => r.type === "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").map((r) => r.inputs);

  it("selects no pod and does not wait when nothing is live", async () => {
    const { resources } = await runUnderMocks(
      kubernetesTrafficProgram({ environment: "shop", pools: { blue: { weight: 0 }, green: { weight: 0 } } }, settings),
      "shop.traffic",
    );
    const svc = one(resources, "kubernetes:core/v1:Service");
    expect(svc.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true", "pulumi.com/patchForce": "true" });
    expect(svc.spec.selector).toEqual({ app: "shop", color: "none" });
    expect(resources.filter((r) => r.type.includes("HTTPRoute"))).toEqual([]);
  });

  it.each([
    [100, 0, "blue", [{ name: "shop-blue", port: 8080, weight: 100 }]],
    [90, 10, "blue", [{ name: "shop-blue", port: 8080, weight: 90 }, { name: "shop-green", port: 8080, weight: 10 }]],
    [40, 60, "green", [{ name: "shop-blue", port: 8080, weight: 40 }, { name: "shop-green", port: 8080, weight: 60 }]],
    [0, 100, "green", [{ name: "shop-green", port: 8080, weight: 100 }]],
  ] as const)("blue %p / green %p: the Service selects %s and the HTTPRoute splits by weight", async (blue, green, active, refs) => {
    const { resources } = await runUnderMocks(program(blue, green), "shop.traffic");
    expect(one(resources, "kubernetes:core/v1:Service").spec.selector).toEqual({ app: "shop", color: active });
    const route = one(resources, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute");
    expect(route.spec.parentRefs).toEqual([{ name: "public", namespace: "gateways" }]);
    expect(route.spec.hostnames).toEqual(["shop.example.com"]);
    // A force header without the environment's key forces nothing: one weighted rule, no header match anywhere.
    expect(route.spec.rules).toEqual([{ backendRefs: refs }]);
  });

  it("forces nothing without a forceHeader, whatever key it is given", async () => {
    const { forceHeader: _none, ...unforced } = settings;
    const { resources } = await runUnderMocks(program(50, 50, true, { forceKey, settings: unforced }), "shop.traffic");
    expect(routes(resources).map((r) => r.metadata.name)).toEqual(["shop"]);
    expect(JSON.stringify(resources.map((r) => r.inputs))).not.toContain(forceKey);
  });

  it("forces a color only for `<color>:<key>` in the force header, from a route of its own whose rules are a secret", async () => {
    const { resources, outputs } = await runUnderMocks(program(100, 0, true, { forceKey }), "shop.traffic");
    const [weighted, forcing] = routes(resources);
    const strip = [{ type: "RequestHeaderModifier", requestHeaderModifier: { remove: ["X-Cutover-Pool"] } }];
    // The weighted route stays plain (Cutover reads its weights back) and strips the header too.
    expect(weighted.metadata.name).toBe("shop");
    expect(weighted.spec.rules).toEqual([{ backendRefs: [{ name: "shop-blue", port: 8080, weight: 100 }], filters: strip }]);
    expect(forcing.metadata).toMatchObject({ name: "shop.force", namespace: "shop" });
    // Under mocks a nested secret makes the whole top-level property one.
    const spec = secretValue(forcing.spec);
    expect(spec.parentRefs).toEqual([{ name: "public", namespace: "gateways" }]);
    expect(spec.hostnames).toEqual(["shop.example.com"]);
    expect(spec.rules).toEqual(
      ["blue", "green"].map((c) => ({
        matches: [{ headers: [{ type: "Exact", name: "X-Cutover-Pool", value: `${c}:${forceKey}` }] }],
        backendRefs: [{ name: `shop-${c}`, port: 8080 }],
        filters: strip,
      })),
    );
    const plain = resources.map((r) => JSON.stringify(r === resources.find((x) => x.inputs === forcing) ? { ...r.inputs, spec: undefined } : r.inputs));
    expect(plain.join("\n")).not.toContain(forceKey);
    expect(JSON.stringify(outputs)).not.toContain(forceKey);
  });
});

describe("kubernetes pre-deploy job program", () => {
  it("declares one Job from the image at the version, run once and bounded by the job's timeout", async () => {
    const { kubernetesJobProgram } = await import("../../infra/kubernetes/job-program");
    const program = kubernetesJobProgram(
      { environment: "shop", version: "v8", deploymentId: "dep_0123456789abcdef", command: ["./migrate", "up"], env: { DB: "shop" }, timeoutMs: 300_000 },
      settings,
    );
    const { resources, outputs } = await runUnderMocks(program, "shop.job");
    const job = one(resources, "kubernetes:batch/v1:Job");
    expect(job.metadata).toMatchObject({ name: "shop-predeploy-89abcdef", namespace: "shop" });
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 300 });
    expect(job.spec.template.spec.restartPolicy).toBe("Never");
    const [container] = job.spec.template.spec.containers;
    expect(container).toMatchObject({ image: "registry.example.com/shop:v8", command: ["./migrate", "up"] });
    expect(container.env).toEqual(expect.arrayContaining([{ name: "DB", value: "shop" }, { name: "APP_VERSION", value: "v8" }]));
    expect(outputs).toMatchObject({ exitCode: 0 });
  });
});

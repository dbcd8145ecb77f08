// The Kubernetes programs' resource graphs under Pulumi's mocks.
import { kubernetesFleetProgram } from "../../infra/kubernetes/fleet-program";
import { kubernetesTrafficProgram } from "../../infra/kubernetes/traffic-program";
import type { FleetProgramInputs, KubernetesSettings } from "../../infra/program-inputs";
import { onlyResource, runUnderMocks } from "../helpers/mocked-programs";

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
    expect(outputs).toMatchObject({ version: "v7", readyReplicas: 4 });
  });
});

describe("kubernetes traffic program", () => {
  const program = (blue: number, green: number, withGreen = true) =>
    kubernetesTrafficProgram(
      {
        environment: "shop",
        pools: {
          blue: { weight: blue, fleet: { serviceName: "shop-blue" } },
          green: withGreen ? { weight: green, fleet: { serviceName: "shop-green" } } : { weight: 0 },
        },
      },
      settings,
    );

  it("selects no pod and does not wait when nothing is live", async () => {
    const { resources } = await runUnderMocks(
      kubernetesTrafficProgram({ environment: "shop", pools: { blue: { weight: 0 }, green: { weight: 0 } } }, settings),
      "shop.traffic",
    );
    const svc = one(resources, "kubernetes:core/v1:Service");
    expect(svc.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true" });
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
    const rules = route.spec.rules;
    expect(rules.slice(0, 2)).toEqual(
      ["blue", "green"].map((c) => ({
        matches: [{ headers: [{ type: "Exact", name: "X-Cutover-Pool", value: c }] }],
        backendRefs: [{ name: `shop-${c}`, port: 8080 }],
      })),
    );
    expect(rules[2].backendRefs).toEqual(refs);
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

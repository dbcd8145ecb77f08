// Reading the weights in force from a Kubernetes traffic stack's refreshed
// state, as the API server returns the HTTPRoute: it fills in a rule's
// default match (a PathPrefix of /), which is still the weighted rule.
import { kubernetesRouteWeights } from "../../server/targets/traffic-observation";
import type { ResourceState } from "../../server/deployments/stack-engine";

const service = (color: string): ResourceState => ({ type: "kubernetes:core/v1:Service", urn: "s", outputs: { spec: { selector: { app: "shop", color } } } }) as unknown as ResourceState;
const route = (rules: unknown[], name = "shop"): ResourceState =>
  ({ type: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", urn: "r", outputs: { metadata: { name }, spec: { rules } } }) as unknown as ResourceState;
const refs = [
  { name: "shop-blue", weight: 75 },
  { name: "shop-green", weight: 25 },
];

describe("the Kubernetes route's weights", () => {
  it("reads a rule written without matches", () => {
    expect(kubernetesRouteWeights([service("blue"), route([{ backendRefs: refs }])], "shop")?.weights).toEqual({ blue: 75, green: 25 });
  });

  it("reads the rule the API server gave its default match", () => {
    const defaulted = { matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: refs };
    expect(kubernetesRouteWeights([service("blue"), route([defaulted])], "shop")?.weights).toEqual({ blue: 75, green: 25 });
  });

  it("leaves out rules that match only some requests, and other routes", () => {
    const keyed = { matches: [{ path: { type: "PathPrefix", value: "/" }, headers: [{ name: "x-pool", value: "green:k" }] }], backendRefs: [{ name: "shop-green" }] };
    const weighted = { matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: refs };
    expect(kubernetesRouteWeights([service("blue"), route([keyed, weighted]), route([{ backendRefs: [{ name: "shop-green", weight: 1 }] }], "shop.force")], "shop")?.weights).toEqual({
      blue: 75,
      green: 25,
    });
  });

  it("falls back to the Service's selector without a route", () => {
    expect(kubernetesRouteWeights([service("green")], "shop")?.weights).toEqual({ blue: 0, green: 100 });
  });
});

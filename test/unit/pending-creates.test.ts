// Which pending creates the engine can import: those whose provider ID
// follows from the resource's inputs.
import { pendingCreateId } from "../../infra/pending-creates";

describe("the ID of a pending create", () => {
  it("is namespace/name for a namespaced Kubernetes object and the name for a cluster-wide one", () => {
    const urn = "urn:pulumi:shop.green::cutover::kubernetes:apps/v1:Deployment::deployment";
    expect(pendingCreateId({ urn, type: "kubernetes:apps/v1:Deployment", inputs: { metadata: { name: "shop-green", namespace: "shop-team" } } })).toBe("shop-team/shop-green");
    expect(pendingCreateId({ urn, type: "kubernetes:core/v1:Namespace", inputs: { metadata: { name: "shop-team" } } })).toBe("shop-team");
  });

  it("is unknown where the provider assigns it or the inputs do not name the object", () => {
    expect(pendingCreateId({ urn: "u", type: "aws:autoscaling/group:Group", inputs: {} })).toBeUndefined();
    expect(pendingCreateId({ urn: "u", type: "pulumi:providers:kubernetes", inputs: { metadata: { name: "x" } } })).toBeUndefined();
    expect(pendingCreateId({ urn: "u", type: "kubernetes:apps/v1:Deployment", inputs: { metadata: {} } })).toBeUndefined();
    expect(pendingCreateId({ urn: "u", type: "kubernetes:apps/v1:Deployment" })).toBeUndefined();
  });
});

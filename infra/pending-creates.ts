// A create that an interrupted engine left pending may have happened: the
// object can exist on the target while the stack's state does not know it,
// so destroying the stack would leave it behind. Where the provider's ID of
// such a resource follows from its inputs, the engine adopts it under that
// ID (and a refresh reads it back) instead of forgetting it.
//
// Kubernetes: the ID of a namespaced object is `namespace/name`, of a
// cluster-wide one its name, both given by Cutover's programs. Local fleets
// and balancers are found by the local target's reaper; an AWS resource's ID
// is assigned by AWS, so its pending create can only be forgotten.

/** A pending operation's resource, as Pulumi's state holds it. */
export interface PendingResource {
  urn: string;
  type: string;
  inputs?: { metadata?: { name?: unknown; namespace?: unknown } };
}

/** The provider ID a pending create of this resource would have, when it follows from its inputs. */
export function pendingCreateId(resource: PendingResource): string | undefined {
  if (!resource.type.startsWith("kubernetes:") || resource.type.startsWith("pulumi:providers:")) return undefined;
  const { name, namespace } = resource.inputs?.metadata ?? {};
  if (typeof name !== "string" || name === "") return undefined;
  return typeof namespace === "string" && namespace !== "" ? `${namespace}/${name}` : name;
}

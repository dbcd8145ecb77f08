// The Kubernetes provider for an environment: cluster access from its
// settings (kubeconfig path or context, namespace), never stored in state.
import * as k8s from "@pulumi/kubernetes";
import type { KubernetesSettings } from "../program-inputs";

export function kubernetesProvider(settings: KubernetesSettings): k8s.Provider {
  return new k8s.Provider("kubernetes", {
    kubeconfig: settings.kubeconfig,
    context: settings.context,
    namespace: settings.namespace,
  });
}

export const colorServiceName = (environment: string, color: string) => `${environment}-${color}`;
/** The HTTPRoute holding the keyed force rules; a dot keeps it apart from every environment's own names. */
export const forceRouteName = (environment: string) => `${environment}.force`;

/**
 * Cutover owns the objects of its stacks: a change made to them behind its
 * back (another field manager) is drift, reported by a refresh, and the
 * next change Cutover makes takes the fields back (server-side apply with
 * force) rather than failing on the conflict, a rollback included.
 */
export const OWNED = { "pulumi.com/patchForce": "true" } as const;


// Kubernetes traffic stack: a Service whose selector picks the color with
// most of the traffic (blue/green), and, with a Gateway configured, a
// Gateway API HTTPRoute with weighted backend refs to the per-color
// Services. When the environment opted in, a second HTTPRoute matches
// `<header>: <color>:<key>` exactly and forces that color; it is a route of
// its own so that its rules, a secret in stack state, never hide the
// weights Cutover reads back from the first. Anyone who can read the
// HTTPRoute sees the key.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import type { Color } from "../vocabulary";
import type { KubernetesSettings, TrafficProgramInputs } from "../program-inputs";
import { colorServiceName, forceRouteName, kubernetesProvider, OWNED } from "./provider";

export function kubernetesTrafficProgram(input: TrafficProgramInputs, settings: KubernetesSettings): PulumiFn {
  return async () => {
    const provider = kubernetesProvider(settings);
    const colors: Color[] = ["blue", "green"];
    const live = colors.filter((c) => input.pools[c].fleet && input.pools[c].weight > 0);
    const active = [...live].sort((a, b) => input.pools[b].weight - input.pools[a].weight)[0];
    const port = settings.containerPort;

    const service = new k8s.core.v1.Service(
      "service",
      {
        metadata: {
          name: input.environment,
          namespace: settings.namespace,
          labels: { app: input.environment },
          // With no color live the selector matches no ready pod: do not wait for endpoints that cannot come.
          annotations: { "pulumi.com/skipAwait": "true", ...OWNED },
        },
        spec: {
          selector: { app: input.environment, color: active ?? "none" },
          ports: [{ name: "http", port, targetPort: port }],
        },
      },
      { provider },
    );

    let routeName: string | undefined;
    if (settings.gateway && live.length > 0) {
      const backend = (c: Color, weight?: number) => ({
        name: colorServiceName(input.environment, c),
        port,
        ...(weight === undefined ? {} : { weight }),
      });
      const forceHeader = settings.forceHeader && input.forceKey ? settings.forceHeader : undefined;
      // The application never sees the force header, keyed or not.
      const filters = forceHeader ? { filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { remove: [forceHeader] } }] } : {};
      const parents = { parentRefs: [{ name: settings.gateway.name, namespace: settings.gateway.namespace }], hostnames: settings.hostnames };
      new k8s.apiextensions.CustomResource(
        "route",
        {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          metadata: { name: input.environment, namespace: settings.namespace, labels: { app: input.environment }, annotations: OWNED },
          spec: { ...parents, rules: [{ backendRefs: live.map((c) => backend(c, input.pools[c].weight)), ...filters }] },
        },
        { provider },
      );
      if (forceHeader) {
        // A header match outranks the weighted rule, which has none (Gateway API's precedence across routes).
        const rules = colors
          .filter((c) => input.pools[c].fleet)
          .map((c) => ({ matches: [{ headers: [{ type: "Exact", name: forceHeader, value: `${c}:${input.forceKey}` }] }], backendRefs: [backend(c)], ...filters }));
        new k8s.apiextensions.CustomResource(
          "force-route",
          {
            apiVersion: "gateway.networking.k8s.io/v1",
            kind: "HTTPRoute",
            metadata: { name: forceRouteName(input.environment), namespace: settings.namespace, labels: { app: input.environment }, annotations: OWNED },
            spec: { ...parents, rules: pulumi.secret(rules) },
          },
          { provider },
        );
      }
      routeName = input.environment;
    }

    return { serviceName: service.metadata.name, activeColor: active ?? null, routeName: routeName ?? null };
  };
}

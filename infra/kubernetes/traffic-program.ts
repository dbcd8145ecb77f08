// Kubernetes traffic stack: a Service whose selector picks the color with
// most of the traffic (blue/green), and, with a Gateway configured, a
// Gateway API HTTPRoute with weighted backend refs to the per-color
// Services and a header match that forces a color for testers.
import * as k8s from "@pulumi/kubernetes";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import type { Color } from "../vocabulary";
import type { KubernetesSettings, TrafficProgramInputs } from "../program-inputs";
import { colorServiceName, kubernetesProvider } from "./provider";

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
          annotations: { "pulumi.com/skipAwait": "true" },
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
      new k8s.apiextensions.CustomResource(
        "route",
        {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          metadata: { name: input.environment, namespace: settings.namespace, labels: { app: input.environment } },
          spec: {
            parentRefs: [{ name: settings.gateway.name, namespace: settings.gateway.namespace }],
            hostnames: settings.hostnames,
            rules: [
              ...colors
                .filter((c) => input.pools[c].fleet)
                .map((c) => ({
                  matches: [{ headers: [{ type: "Exact", name: settings.forceHeader, value: c }] }],
                  backendRefs: [backend(c)],
                })),
              { backendRefs: live.map((c) => backend(c, input.pools[c].weight)) },
            ],
          },
        },
        { provider },
      );
      routeName = input.environment;
    }

    return { serviceName: service.metadata.name, activeColor: active ?? null, routeName: routeName ?? null };
  };
}

// Kubernetes fleet stack, one per version: a Deployment labelled app, color
// and version with a readiness probe from the environment's health check,
// and a per-color Service for weighted routes. Pulumi's await logic on the
// Deployment is the health gate, bounded by the health check's start timeout.
import * as k8s from "@pulumi/kubernetes";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import { durationSeconds as seconds } from "../duration";
import type { FleetProgramInputs, KubernetesSettings } from "../program-inputs";
import { colorServiceName, kubernetesProvider, OWNED } from "./provider";

export function kubernetesFleetProgram(input: FleetProgramInputs, settings: KubernetesSettings): PulumiFn {
  return async () => {
    const provider = kubernetesProvider(settings);
    const labels = { app: input.environment, color: input.color, version: input.version };
    const selector = { app: input.environment, color: input.color };
    const hc = input.healthCheck;
    const port = settings.containerPort;
    // A release's image pinned by digest runs as it was recorded; otherwise the environment's template at this version.
    const image = input.artifact.image ?? settings.image.split("{version}").join(input.version);
    const env = { ...input.artifact.env, PORT: String(port), APP_VERSION: input.version };

    const deployment = new k8s.apps.v1.Deployment(
      "deployment",
      {
        metadata: { name: colorServiceName(input.environment, input.color), namespace: settings.namespace, labels, annotations: OWNED },
        spec: {
          replicas: input.replicas,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: seconds(input.drainTimeout, 0, 3600),
              containers: [
                {
                  name: "app",
                  image,
                  command: input.artifact.command.length ? input.artifact.command : undefined,
                  workingDir: input.artifact.cwd,
                  env: Object.entries(env).map(([name, value]) => ({ name, value })),
                  ports: [{ name: "http", containerPort: port }],
                  readinessProbe: {
                    httpGet: { path: hc.path, port },
                    periodSeconds: seconds(hc.interval, 1, 300),
                    timeoutSeconds: seconds(hc.timeout, 1, 120),
                    successThreshold: hc.healthyThreshold,
                    failureThreshold: 3,
                  },
                },
              ],
            },
          },
        },
      },
      { provider, customTimeouts: { create: `${seconds(hc.startTimeout, 30, 7200)}s`, update: `${seconds(hc.startTimeout, 30, 7200)}s` } },
    );

    const service = new k8s.core.v1.Service(
      "service",
      {
        // Made once the Deployment's pods are Ready, so its endpoints are there: Pulumi's Service await would
        // only add its ten seconds of waiting for them to settle to every deployment.
        metadata: { name: colorServiceName(input.environment, input.color), namespace: settings.namespace, labels: selector, annotations: { "pulumi.com/skipAwait": "true", ...OWNED } },
        spec: { selector, ports: [{ name: "http", port, targetPort: port }] },
      },
      { provider, dependsOn: [deployment] },
    );

    return {
      version: input.version,
      deploymentName: deployment.metadata.name,
      serviceName: service.metadata.name,
      readyReplicas: deployment.status.readyReplicas,
      replicas: input.replicas,
    };
  };
}

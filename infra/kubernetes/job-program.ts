// Kubernetes pre-deploy job stack: one batch/v1 Job per deployment, from
// the environment's image at the deployed version, run once (no retries,
// never restarted) and bounded by the job's timeout. Pulumi waits for the
// Job to complete and fails the update when it fails, so the stack's
// success is the job's. The stack is destroyed once the job has ended.
import * as k8s from "@pulumi/kubernetes";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import type { KubernetesSettings } from "../program-inputs";
import { kubernetesProvider } from "./provider";

export interface JobProgramInputs {
  environment: string;
  version: string;
  deploymentId: string;
  command: string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs: number;
}

export function kubernetesJobProgram(input: JobProgramInputs, settings: KubernetesSettings): PulumiFn {
  return async () => {
    const provider = kubernetesProvider(settings);
    const deadline = Math.max(1, Math.ceil(input.timeoutMs / 1000));
    const labels = { app: input.environment, version: input.version, "cutover.dev/deployment": input.deploymentId };
    const job = new k8s.batch.v1.Job(
      "pre-deploy",
      {
        metadata: { name: `${input.environment}-predeploy-${input.deploymentId.slice(-8)}`, namespace: settings.namespace, labels },
        spec: {
          backoffLimit: 0,
          activeDeadlineSeconds: deadline,
          ttlSecondsAfterFinished: 3600,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              containers: [
                {
                  name: "pre-deploy",
                  image: settings.image.split("{version}").join(input.version),
                  command: input.command,
                  workingDir: input.cwd,
                  env: Object.entries({ ...input.env, APP_VERSION: input.version }).map(([name, value]) => ({ name, value })),
                },
              ],
            },
          },
        },
      },
      { provider, customTimeouts: { create: `${deadline + 60}s` } },
    );
    return { jobName: job.metadata.name, exitCode: 0 };
  };
}

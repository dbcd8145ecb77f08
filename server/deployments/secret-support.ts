// What an artifact may hold on each target. Where secret env values can go. On the local target they reach the
// process through its supervisor and live encrypted in stack state. AWS
// user data and a Kubernetes Deployment's env are readable by anyone who
// can describe the instance or the Deployment, so those targets refuse
// them rather than leak them: give instances their secrets through the
// instance role or a Kubernetes Secret.
import { InputError } from "../errors";
import type { TargetName } from "./model";
import type { DeploymentTarget } from "./deployment-target";

export function checkSecretsSupported(target: TargetName): void {
  if (target === "local") return;
  throw new InputError(
    "secret_env_unsupported",
    `secret env values are not supported on the ${target} target: its fleets would expose them (use the instance role or a Kubernetes Secret)`,
    { target },
  );
}

/**
 * What an artifact must be on the target: only kubernetes runs one without a
 * command (an empty one keeps the image's entrypoint), and only kubernetes
 * runs a container image.
 */
export function checkArtifactFits(target: TargetName, artifact: { command: string[]; image?: string }): void {
  if (artifact.image && target !== "kubernetes") {
    throw new InputError("image_unsupported", `the ${target} target runs no container image: an artifact's image is for kubernetes`, { field: "artifact.image" });
  }
  if (artifact.command.length > 0 || target === "kubernetes") return;
  throw new InputError("validation_failed", `an artifact on the ${target} target needs a command (an empty one keeps an image's entrypoint on kubernetes only)`, {
    field: "artifact.command",
  });
}

/** Rejects a pre-deploy job on a target that cannot run one. */
export function checkPreDeploySupported(target: DeploymentTarget, name: TargetName): void {
  if (!target.runJob && !target.jobProgram) {
    throw new InputError(
      "predeploy_unsupported",
      `the ${name} target cannot run a pre-deploy job (local runs a process, kubernetes a Job); run the step from your pipeline before deploying`,
      { field: "preDeploy" },
    );
  }
}

// What an artifact may hold on each target. Where secret env values can go. On the local target they reach the
// process through its supervisor and live encrypted in stack state. AWS
// user data and a Kubernetes Deployment's env are readable by anyone who
// can describe the instance or the Deployment, so those targets refuse
// them rather than leak them: give instances their secrets through the
// instance role or a Kubernetes Secret.
import { InputError } from "../errors";
import type { TargetName } from "./model";

export function checkSecretsSupported(target: TargetName): void {
  if (target === "local") return;
  throw new InputError(
    "secret_env_unsupported",
    `secret env values are not supported on the ${target} target: its fleets would expose them (use the instance role or a Kubernetes Secret)`,
    { target },
  );
}

/** Only the kubernetes target runs an artifact without a command: an empty one keeps the image's entrypoint. */
export function checkCommandGiven(target: TargetName, artifact: { command: string[] }): void {
  if (artifact.command.length > 0 || target === "kubernetes") return;
  throw new InputError("validation_failed", `an artifact on the ${target} target needs a command (an empty one keeps an image's entrypoint on kubernetes only)`, {
    field: "artifact.command",
  });
}

// The targets this Cutover serves, by name.
import { InputError } from "../errors";
import type { TargetName } from "./model";
import type { DeploymentTarget } from "./deployment-target";

export class TargetRegistry {
  private readonly targets = new Map<TargetName, DeploymentTarget>();

  constructor(targets: DeploymentTarget[]) {
    for (const t of targets) this.targets.set(t.name, t);
  }

  get(name: TargetName): DeploymentTarget {
    const t = this.targets.get(name);
    if (!t) throw new InputError("target_unavailable", `target ${name} is not available on this Cutover`, { target: name });
    return t;
  }

  names(): TargetName[] {
    return [...this.targets.keys()];
  }
}

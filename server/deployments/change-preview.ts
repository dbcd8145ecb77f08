// The Pulumi preview of every stack a deployment touches, as people read
// it before they approve: the fleet it creates (previewed in a stack made
// for the preview, so nothing is created), the traffic change at its final
// weights (once the new fleet exists: before that its addresses are not
// known), and the fleet it retires (its resources, read from its stack's
// state). Names of what changes, never values: a preview carries no secret,
// and sealed artifact values are not even opened for it.
import { describeError } from "../errors";
import { stackNames } from "./deployment-target";
import type { DeploymentPlan } from "./deployment-plan";
import { runnableArtifact, type ChangePreview, type Color, type Deployment, type Environment, type ResourceChange, type StackPreview } from "./model";
import type { StackEngine } from "./stack-engine";

export type { ChangePreview, StackPreview } from "./model";
import type { TargetRegistry } from "./target-registry";
import type { TrafficOperator } from "./traffic-operator";

export interface PreviewDeps {
  engine: StackEngine;
  targets: TargetRegistry;
  traffic: TrafficOperator;
}

/** Where a secret value stands in a previewed program: the preview names what changes, and a secret's content is never one. */
const MASKED = "[secret]";

const counted = (changes: ResourceChange[]) =>
  changes.reduce<Record<string, number>>((n, c) => ((n[c.op] = (n[c.op] ?? 0) + 1), n), {});

const stackPreview = (stack: string, purpose: StackPreview["purpose"], changes: ResourceChange[], note?: string): StackPreview => ({
  stack,
  purpose,
  changes,
  counts: counted(changes),
  ...(note ? { note } : {}),
});

/** Previews what `d` does to `env` from where it stands, following its plan's colors. */
export async function previewChanges(deps: PreviewDeps, env: Environment, d: Deployment, plan: Pick<DeploymentPlan, "to" | "from">, signal?: AbortSignal): Promise<ChangePreview> {
  const names = stackNames(env.name);
  const to: Color = plan.to.color;
  const from = plan.from?.color;
  const preview = deps.engine.preview?.bind(deps.engine);
  const attempt = async (stack: string, purpose: StackPreview["purpose"], run: () => Promise<ResourceChange[]>): Promise<StackPreview> => {
    if (!preview && purpose !== "retire-fleet") return stackPreview(stack, purpose, [], "this engine cannot preview");
    try {
      return stackPreview(stack, purpose, await run());
    } catch (err) {
      return stackPreview(stack, purpose, [], `could not be previewed: ${describeError(err).message.split("\n")[0].slice(0, 300)}`);
    }
  };
  const target = deps.targets.get(env.spec.target);
  const stacks: StackPreview[] = [];
  const built = env.fleets[to];
  if (built && built.version === d.version) {
    stacks.push(stackPreview(names[to], "create-fleet", [], `built: ${d.version}'s fleet exists`));
  } else {
    const artifact = runnableArtifact(d.artifact, () => MASKED);
    const program = target.fleetProgram(env.spec, to, d.version, artifact, env.traffic);
    stacks.push(await attempt(names[to], "create-fleet", () => preview!(names[to], program, { signal })));
  }
  if (built && built.version === d.version) {
    const weights = { [to]: 100, [from ?? (to === "blue" ? "green" : "blue")]: 0 } as Record<Color, number>;
    const program = deps.traffic.program(env, weights, from ? [from] : []);
    stacks.push(await attempt(names.traffic, "shift-traffic", () => preview!(names.traffic, program, { signal })));
  } else {
    stacks.push(stackPreview(names.traffic, "shift-traffic", [], "previewed once the new fleet exists: the balancer's change needs its addresses"));
  }
  if (from) {
    stacks.push(
      await attempt(names[from], "retire-fleet", async () =>
        (await deps.engine.resources(names[from])).map((r) => ({ op: "delete", type: r.type, name: r.urn.split("::").pop() ?? r.urn })),
      ),
    );
  }
  return { at: new Date().toISOString(), stacks };
}

/** One line per stack, as chat and logs show a preview. */
export function previewLines(p: ChangePreview): string[] {
  return p.stacks.map((s) => {
    const counts = Object.entries(s.counts).map(([op, n]) => `${n} to ${op}`);
    const what = counts.length ? counts.join(", ") : (s.note ?? "no change");
    const changed = s.changes.filter((c) => c.changed?.length).map((c) => `${c.name}: ${c.changed!.slice(0, 5).join(", ")}`);
    return `${s.purpose} ${s.stack}: ${what}${changed.length ? ` (${changed.slice(0, 3).join("; ")})` : ""}`;
  });
}

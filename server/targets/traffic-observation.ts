// Reads the weights in force out of a cloud traffic stack's refreshed
// state: the ALB listener's forward action on AWS, the HTTPRoute's backend
// refs (or the Service's selector) on Kubernetes.
import type { ResourceState } from "../deployments/stack-engine";
import type { Color } from "../deployments/model";
import type { TrafficObservation } from "../deployments/deployment-target";

const COLORS: Color[] = ["blue", "green"];

/** The AWS listener's default action: weights per target group, mapped to colors by their fleets' target group ARNs. */
export function awsListenerWeights(resources: ResourceState[], fleets: Partial<Record<Color, Record<string, unknown>>>): TrafficObservation | undefined {
  const listener = resources.find((r) => r.type === "aws:lb/listener:Listener");
  if (!listener) return undefined;
  const weights: Record<Color, number> = { blue: 0, green: 0 };
  const actions = (listener.outputs.defaultActions ?? []) as { type?: string; forward?: { targetGroups?: { arn?: string; weight?: number }[] } }[];
  for (const action of actions.filter((a) => a.type === "forward")) {
    for (const group of action.forward?.targetGroups ?? []) {
      const color = COLORS.find((c) => fleets[c]?.targetGroupArn === group.arn);
      if (color) weights[color] += Number(group.weight ?? 0);
    }
  }
  return { weights: normalise(weights), source: "stack-state" };
}

/** The HTTPRoute's unmatched rule when there is one, else the Service selector's color. */
export function kubernetesRouteWeights(resources: ResourceState[], environment: string): TrafficObservation | undefined {
  const service = resources.find((r) => r.type === "kubernetes:core/v1:Service");
  if (!service) return undefined;
  const weights: Record<Color, number> = { blue: 0, green: 0 };
  // The environment's own route: the keyed force rules live in another (`<env>.force`), secret in state.
  const route = resources.find(
    (r) => r.type === "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute" && (r.outputs.metadata as { name?: string } | undefined)?.name === environment,
  );
  const rules = ((route?.outputs.spec as { rules?: { matches?: RouteMatch[]; backendRefs?: { name: string; weight?: number }[] }[] })?.rules ?? []).filter(
    (rule) => (rule.matches ?? []).every(matchesEverything),
  );
  if (rules.length > 0) {
    for (const ref of rules.flatMap((r) => r.backendRefs ?? [])) {
      const color = COLORS.find((c) => ref.name === `${environment}-${c}`);
      if (color) weights[color] += Number(ref.weight ?? 1);
    }
  } else {
    const selected = (service.outputs.spec as { selector?: Record<string, string> } | undefined)?.selector?.color;
    const color = COLORS.find((c) => c === selected);
    if (color) weights[color] = 100;
  }
  return { weights: normalise(weights), source: "stack-state" };
}

interface RouteMatch {
  path?: { type?: string; value?: string };
  headers?: unknown[];
  queryParams?: unknown[];
  method?: string;
}

/**
 * A match every request meets: none at all, or the API server's default
 * for a rule written without matches (a `PathPrefix` of `/`).
 */
const matchesEverything = (m: RouteMatch): boolean =>
  !m.headers?.length && !m.queryParams?.length && !m.method && (!m.path || (m.path.type === "PathPrefix" && m.path.value === "/"));

/** Scales weights to shares of 100 (ALB weights run to 999). */
export function normalise(weights: Record<Color, number>): Record<Color, number> {
  const total = weights.blue + weights.green;
  if (total === 0) return { blue: 0, green: 0 };
  const blue = Math.round((weights.blue / total) * 100);
  return { blue, green: 100 - blue };
}

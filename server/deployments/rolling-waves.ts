// The waves of a rolling deployment, planned once from the fleet's size and
// the strategy's surge and unavailability, as Kubernetes reads them: a
// count, or a percentage of the size (surge rounded up, unavailability
// rounded down). Each wave first shrinks the old fleet as far as
// unavailability allows, then grows the new one as far as surge allows, then
// shrinks the old one back to the fleet's size. Capacity never drops below
// size - maxUnavailable and never rises above size + maxSurge.
import { InputError } from "../errors";

export interface Wave {
  /** The old fleet's size before the new one grows in this wave. */
  shrinkTo: number;
  /** The new fleet's size once the wave has grown it. */
  grow: number;
  /** The old fleet's size at the end of the wave (0 in the last). */
  old: number;
}

/** A count, or `"25%"` of `size`, rounded up or down. */
export function resolveCount(value: number | string, size: number, round: "up" | "down"): number {
  if (typeof value === "number") return value;
  const match = /^(\d{1,3})%$/.exec(value);
  if (!match) throw new InputError("validation_failed", `${JSON.stringify(value)} is neither a count nor a percentage`, { value });
  const exact = (Number(match[1]) * size) / 100;
  return round === "up" ? Math.ceil(exact) : Math.floor(exact);
}

export function planWaves(size: number, maxSurge: number | string, maxUnavailable: number | string): Wave[] {
  const surge = resolveCount(maxSurge, size, "up");
  let unavailable = Math.min(size, resolveCount(maxUnavailable, size, "down"));
  // As in Kubernetes: percentages that both round to nothing still let one instance go at a time.
  if (surge === 0 && unavailable === 0) unavailable = 1;
  const waves: Wave[] = [];
  let grown = 0;
  let old = size;
  while (grown < size || old > 0) {
    const shrinkTo = Math.max(0, Math.min(old, size - unavailable - grown));
    const grow = Math.max(grown, Math.min(size, size + surge - shrinkTo));
    const after = Math.max(0, Math.min(shrinkTo, size - grow));
    waves.push({ shrinkTo, grow, old: after });
    grown = grow;
    old = after;
  }
  return waves;
}

/** The new fleet's share of traffic once a wave is done: its share of the healthy capacity. */
export const waveWeight = (w: Pick<Wave, "grow" | "old">): number => (w.old === 0 ? 100 : Math.round((100 * w.grow) / (w.grow + w.old)));

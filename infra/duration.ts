// Durations as people write them: "500ms", "30s", "5m", "1h". The one
// parser: the API's schemas, chat commands, configuration and programs all
// read durations through it.
const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** A duration, whole: digits and a unit. */
export const DURATION_PATTERN = /^(\d+)(ms|s|m|h)$/;

/** The same, to embed in a larger pattern (no anchors, no groups that capture). */
export const DURATION_SOURCE = "\\d+(?:ms|s|m|h)";

/** Milliseconds in a duration; throws on anything else. */
export function parseDuration(text: string): number {
  const match = DURATION_PATTERN.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNITS[match[2] as keyof typeof UNITS];
}

/** Whole seconds in a duration, within [min, max] (for APIs that count in seconds). */
export function durationSeconds(text: string, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.ceil(parseDuration(text) / 1000)));
}

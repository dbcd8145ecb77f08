// A duration as the API takes it: "500ms", "30s", "5m", "1h".
import { z } from "zod";
import { DURATION_PATTERN, parseDuration } from "../../infra/duration";

export const duration = z.string().regex(DURATION_PATTERN, 'a duration such as "500ms", "30s", "5m" or "1h"');

/** A duration within [minMs, maxMs]; a malformed one fails as a duration, never in the bound's check. */
export const durationWithin = (minMs: number, maxMs: number, message: string) =>
  duration.refine((d) => !DURATION_PATTERN.test(d) || (parseDuration(d) >= minMs && parseDuration(d) <= maxMs), message);

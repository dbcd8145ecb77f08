// A duration as the API takes it: "500ms", "30s", "5m", "1h".
import { z } from "zod";
import { DURATION_PATTERN } from "../../infra/duration";

export const duration = z.string().regex(DURATION_PATTERN, 'a duration such as "500ms", "30s", "5m" or "1h"');

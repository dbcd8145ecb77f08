// Parses a request part with its zod schema or throws a readable InputError.
import type { z } from "zod";
import { InputError } from "../errors";

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: "body" | "params" | "query"): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].join("."),
    message: i.code === "unrecognized_keys" ? `unknown field(s): ${i.keys.join(", ")}` : i.message,
  }));
  const summary = issues
    .slice(0, 5)
    .map((i) => `${i.path}: ${i.message}`)
    .join("; ");
  throw new InputError("validation_failed", `invalid ${where}: ${summary}`, { issues });
}

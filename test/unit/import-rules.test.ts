// The layering rule, read from the code's own imports: HTTP → domain →
// infrastructure, one direction. The domain owns its ports (the engine,
// the targets, the journal's repositories); adapters import the domain,
// never the other way; nothing imports the composition root; and no
// module reaches itself again through its imports.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(__dirname, "../..");

/** From the bottom up: a module may import from its own layer and the layers below it. */
const LAYERS: { name: string; holds: string[] }[] = [
  { name: "infrastructure programs and shared vocabulary", holds: ["infra/"] },
  { name: "base", holds: ["server/errors.ts", "server/logger.ts", "server/fault-injection.ts", "server/ticker.ts", "server/config.ts"] },
  { name: "support", holds: ["server/analysis/", "server/auth/", "server/outbound/"] },
  { name: "deployment domain and its ports", holds: ["server/deployments/"] },
  { name: "environment domain", holds: ["server/environments/"] },
  { name: "environment lane", holds: ["server/lane/"] },
  { name: "features", holds: ["server/flags/", "server/schedules/", "server/webhooks/", "server/metrics/", "server/audit/", "server/secrets/"] },
  { name: "releases and their promotion", holds: ["server/releases/"] },
  { name: "chat", holds: ["server/chatops/"] },
  { name: "http", holds: ["server/http/", "server/app.ts"] },
  { name: "adapters of the domain's and the API's ports", holds: ["server/engine/", "server/targets/", "server/store/"] },
  { name: "composition root and entry points", holds: ["server/wiring/", "server/composition-root.ts", "server/main.ts", "server/cli/"] },
];

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((entry) => {
    const rel = `${dir}/${entry}`;
    if (statSync(path.join(root, rel)).isDirectory()) return entry === "node_modules" ? [] : sources(rel);
    return rel.endsWith(".ts") && !rel.endsWith(".d.ts") ? [rel] : [];
  });
}

const layerOf = (file: string): number => {
  const i = LAYERS.findIndex((l) => l.holds.some((h) => (h.endsWith("/") ? file.startsWith(h) : file === h)));
  if (i < 0) throw new Error(`${file} belongs to no layer: name its layer in this test`);
  return i;
};

/** Every relative import of a file (type-only ones too), resolved to a file of the tree. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), "utf8");
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.{1,2}\/[^"]+)"/g), ...text.matchAll(/(?:import|require)\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g)].map(
    (m) => m[1],
  );
  return specs.map((spec) => {
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
    for (const candidate of [`${base}.ts`, `${base}/index.ts`, base]) {
      try {
        if (statSync(path.join(root, candidate)).isFile()) return candidate;
      } catch {
        // not this one
      }
    }
    throw new Error(`${file} imports ${spec}, which is not a file of the tree`);
  });
}

const files = [...sources("server"), ...sources("infra")];
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe("the import graph", () => {
  it("runs one way: no module imports from a layer above its own", () => {
    const upward = [...graph].flatMap(([file, imports]) =>
      imports.filter((to) => layerOf(to) > layerOf(file)).map((to) => `${file} (${LAYERS[layerOf(file)].name}) imports ${to} (${LAYERS[layerOf(to)].name})`),
    );
    expect(upward).toEqual([]);
  });

  it("has no circles", () => {
    const circles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        circles.push([...trail.slice(trail.indexOf(file)), file].join(" → "));
        return;
      }
      state.set(file, "open");
      for (const to of graph.get(file) ?? []) visit(to, [...trail, file]);
      state.set(file, "done");
    };
    files.forEach((f) => visit(f, []));
    expect(circles).toEqual([]);
  });

  it("keeps every source file within 300 lines", () => {
    const lines = (f: string) => {
      const text = readFileSync(path.join(root, f), "utf8");
      return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    };
    const over = files.filter((f) => lines(f) > 300);
    expect(over.map((f) => `${f}: ${lines(f)} lines`)).toEqual([]);
  });

  it("wires the service without late binding: no name declared unset and filled in later, no forced access to one", () => {
    const wiring = files.filter((f) => f === "server/composition-root.ts" || f.startsWith("server/wiring/"));
    expect(wiring.length).toBeGreaterThan(1);
    const late = wiring.flatMap((f) => {
      const text = readFileSync(path.join(root, f), "utf8");
      const unset = [...text.matchAll(/\blet\s+(\w+)\s*(?::[^=;]+)?;/g)].map((m) => `${f}: let ${m[1]} (declared unset)`);
      const forced = [...text.matchAll(/\b(\w+)!\./g)].map((m) => `${f}: ${m[1]}!. (used as if set)`);
      const patched = [...text.matchAll(/^\s*(?!this\.)\w+\.\w+\s*=\s*\w+;/gm)].map((m) => `${f}: ${m[0].trim()} (a property set after construction)`);
      return [...unset, ...forced, ...patched];
    });
    expect(late).toEqual([]);
  });
});

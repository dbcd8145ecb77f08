// `cutover release …`: record a release from a pipeline, list and show them.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { ApiClient } from "./api-client";

export const RELEASE_USAGE = `  release create <version> --file <release.json|-> [--commit SHA] [--link URL] [--source NAME]
                                           record a release: the file holds {"artifact", "preDeploy"?, "provenance"?}
  release list                             releases, newest first
  release show <release-id>                one release`;

export class ReleaseUsageError extends Error {}

interface Release {
  id: string;
  version: string;
  digest: string;
  createdAt: string;
  createdBy: { name: string };
  provenance: { commit?: string; link?: string; source?: string };
}

export interface ReleaseOptions {
  json: boolean;
  file?: string;
  commit?: string;
  link?: string;
  source?: string;
}

const line = (r: Release) => `${r.id}  ${r.version}  ${r.digest.slice(0, 19)}  ${r.createdAt}  ${r.createdBy.name}${r.provenance.commit ? `  ${r.provenance.commit.slice(0, 12)}` : ""}`;

export async function runReleases(client: ApiClient, args: string[], opts: ReleaseOptions, print: (json: boolean, value: unknown, text: () => string) => void): Promise<number> {
  const [sub, arg] = args;
  switch (sub) {
    case "create": {
      if (!arg || !opts.file) throw new ReleaseUsageError("release create <version> --file <release.json|->");
      const content = JSON.parse(readFileSync(opts.file === "-" ? 0 : opts.file, "utf8")) as { artifact?: { cwd?: string }; provenance?: Record<string, string> };
      // A relative working directory is the file's own, as for `env create`.
      if (content.artifact?.cwd && !path.isAbsolute(content.artifact.cwd)) {
        content.artifact.cwd = path.resolve(opts.file === "-" ? process.cwd() : path.dirname(opts.file), content.artifact.cwd);
      }
      const given = Object.fromEntries(Object.entries({ commit: opts.commit, link: opts.link, source: opts.source }).filter(([, v]) => v !== undefined));
      const provenance = { ...content.provenance, ...given };
      const r = await client.request<Release>("POST", "/v1/releases", { ...content, version: arg, ...(Object.keys(provenance).length ? { provenance } : {}) });
      print(opts.json, r, () => line(r));
      return 0;
    }
    case "list": {
      const { releases } = await client.request<{ releases: Release[] }>("GET", "/v1/releases");
      print(opts.json, { releases }, () => releases.map(line).join("\n") || "no releases");
      return 0;
    }
    case "show": {
      if (!arg) throw new ReleaseUsageError("release show <release-id>");
      const r = await client.request<Release>("GET", `/v1/releases/${encodeURIComponent(arg)}`);
      print(opts.json, r, () => `${line(r)}${r.provenance.link ? `\n${r.provenance.link}` : ""}`);
      return 0;
    }
    default:
      throw new ReleaseUsageError(`unknown release command ${sub ?? ""}`.trim());
  }
}

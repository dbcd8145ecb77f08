// `cutover release …`: record a release from a pipeline, list and show them.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { ApiClient } from "./api-client";

export const RELEASE_USAGE = `  release create <version> --file <release.json|-> [--commit SHA] [--link URL] [--source NAME]
                                           record a release: the file holds {"artifact", "preDeploy"?, "provenance"?}
  release list                             releases, newest first
  release show <release-id>                one release
  pipeline put <name> --file <stages.json|->
                                           declare a pipeline: the file holds {"stages": [...]}
  pipeline show <name>                     each stage: what is live, what comes next and why
  promote <pipeline> --to <stage> [--release ID] [--force --reason TEXT] [--wait | --dry-run]
                                           promote into a stage (default: what is live and soaked before it)`;

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
  to?: string;
  release?: string;
  force?: boolean;
  reason?: string;
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

interface StageView {
  environment: string;
  hidden?: boolean;
  promotion?: string;
  live?: { version: string };
  next?: { eligible: boolean; reason: string };
  hold?: { release: { version: string }; by: { name: string } };
}

/** `cutover pipeline put|show`. */
export async function runPipelines(client: ApiClient, args: string[], opts: ReleaseOptions, print: (json: boolean, value: unknown, text: () => string) => void): Promise<number> {
  const [sub, name] = args;
  if (!name || (sub !== "put" && sub !== "show") || (sub === "put" && !opts.file)) throw new ReleaseUsageError("pipeline put <name> --file <stages.json|-> | pipeline show <name>");
  const answer =
    sub === "put"
      ? await client.request<{ stages: StageView[] }>("PUT", `/v1/pipelines/${encodeURIComponent(name)}`, JSON.parse(readFileSync(opts.file === "-" ? 0 : opts.file!, "utf8")))
      : await client.request<{ stages: StageView[] }>("GET", `/v1/pipelines/${encodeURIComponent(name)}`);
  print(opts.json, answer, () =>
    answer.stages
      .map((s) =>
        s.hidden
          ? `${s.environment}: (out of scope)`
          : `${s.environment} [${s.promotion}]: live ${s.live?.version ?? "-"}; next: ${s.next?.eligible ? "eligible, " : ""}${s.next?.reason ?? "-"}${s.hold ? `; held since ${s.hold.by.name} promoted ${s.hold.release.version} by hand` : ""}`,
      )
      .join("\n"),
  );
  return 0;
}

/** `cutover promote <pipeline> --to <stage>`: the deployment it makes. */
export async function promoteInto<D>(client: ApiClient, pipeline: string, opts: ReleaseOptions & { dryRun?: boolean }): Promise<D> {
  if (opts.force && !opts.reason) throw new ReleaseUsageError("a forced promotion needs --reason");
  return client.request<D>("POST", `/v1/pipelines/${encodeURIComponent(pipeline)}/promote${opts.dryRun ? "?dryRun=true" : ""}`, {
    to: opts.to,
    ...(opts.release ? { release: opts.release } : {}),
    ...(opts.force ? { force: true, reason: opts.reason } : {}),
  });
}

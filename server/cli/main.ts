#!/usr/bin/env node
// `cutover`: the command line for people and pipelines.
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ApiClient, ApiError } from "./api-client";
import { FLAGS_USAGE, FlagUsageError, runFlags } from "./flag-commands";
import { promoteInto, RELEASE_USAGE, ReleaseUsageError, runPipelines, runReleases } from "./release-commands";
import { describe, describePlan, describeProgress, follow, print, type Deployment, type JournalEvent, type Plan } from "./output";

const USAGE = `usage: cutover <command> [options]

  env create <name> --file <spec.json|->   create an environment (the spec's name is <name>)
  env list                                 list environments
  env status <name>                        live version, colors, weights, recent deployments
  env delete <name> [--wait]               destroy an environment and all its stacks
  deploy <env> <version>|--release ID [--canary STEPS | --rolling SURGE,UNAVAILABLE [--pause DURATION]] [--bake DURATION] [--wait | --dry-run]
                                           STEPS like 10:30s,50:manual,100; --dry-run: what it would do and change, nothing queued
  status <deployment-id>                   one deployment
  events <deployment-id>                   stream a deployment's events until it ends
  promote|pause|resume <deployment-id>     (promote --to: a pipeline's stage, below)
  abort <deployment-id> [--reason TEXT]
  approve|reject <deployment-id> [gate] [--reason TEXT]
                                           answer the manual gate the deployment waits at
  rollback <env> [--wait]                  back to the previous good version
  token create <name> --role viewer|deployer|approver|admin|flags-reader [--env NAME]... [--person EMAIL]
${RELEASE_USAGE}
${FLAGS_USAGE}

options: --url (CUTOVER_URL, default http://127.0.0.1:8080)
         --token (CUTOVER_TOKEN; default: the admin-token file in CUTOVER_DATA_DIR)
         --json  print raw JSON

exit codes: 0 success; 1 the deployment did not succeed; 2 usage; 3 API error`;

class UsageError extends Error {}

function defaultToken(): string | undefined {
  if (process.env.CUTOVER_TOKEN) return process.env.CUTOVER_TOKEN;
  const dataDir = process.env.CUTOVER_DATA_DIR ?? path.join(process.env.XDG_DATA_HOME ?? path.join(os.homedir(), ".local", "share"), "cutover");
  const file = path.join(dataDir, "admin-token");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

/** `25%,0` (maxSurge,maxUnavailable): counts or percentages. */
function parseRolling(spec: string, pause?: string, bake?: string) {
  const parts = spec.split(",");
  const value = (s: string) => (/^\d+$/.test(s) ? Number(s) : /^\d{1,3}%$/.test(s) ? s : undefined);
  const [maxSurge, maxUnavailable] = parts.map((p) => value(p.trim()));
  if (parts.length !== 2 || maxSurge === undefined || maxUnavailable === undefined) {
    throw new UsageError(`bad rolling spec "${spec}": expected SURGE,UNAVAILABLE such as 25%,0 or 1,0`);
  }
  return { type: "rolling", maxSurge, maxUnavailable, ...(pause ? { pause } : {}), ...(bake ? { bake } : {}) };
}

function parseCanary(steps: string) {
  return steps.split(",").map((s) => {
    const [weight, pause] = s.split(":");
    if (!/^\d+$/.test(weight)) throw new UsageError(`bad canary step "${s}": expected WEIGHT or WEIGHT:PAUSE`);
    return pause ? { weight: Number(weight), pause } : { weight: Number(weight) };
  });
}

async function waitForEnvironmentGone(client: ApiClient, name: string): Promise<void> {
  for (;;) {
    try {
      const env = await client.request<{ status: string; error?: { message: string } }>("GET", `/v1/environments/${name}`);
      if (env.status === "failed") throw new ApiError(409, "environment_delete_failed", env.error?.message ?? "delete failed");
    } catch (err) {
      if (err instanceof ApiError && err.code === "environment_not_found") return;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      token: { type: "string" },
      json: { type: "boolean", default: false },
      wait: { type: "boolean", default: false },
      file: { type: "string", short: "f" },
      canary: { type: "string" },
      rolling: { type: "string" },
      pause: { type: "string" },
      bake: { type: "string" },
      reason: { type: "string" },
      role: { type: "string" },
      env: { type: "string", multiple: true },
      person: { type: "string" },
      percentage: { type: "string" },
      history: { type: "boolean", default: false },
      release: { type: "string" },
      commit: { type: "string" },
      link: { type: "string" },
      source: { type: "string" },
      to: { type: "string" },
      force: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals.length === 0) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const client = new ApiClient((values.url ?? process.env.CUTOVER_URL ?? "http://127.0.0.1:8080").replace(/\/$/, ""), values.token ?? defaultToken());
  const json = values.json!;
  const [cmd, ...args] = positionals;
  const need = (n: number, what: string) => {
    if (args.length < n) throw new UsageError(`${cmd} needs ${what}`);
  };

  switch (cmd) {
    case "env": {
      const [sub, name] = args;
      if (sub === "list") {
        const r = await client.request<{ environments: { name: string; status: string; liveVersion?: string; activeColor?: string; spec: { target: string } }[] }>("GET", "/v1/environments");
        print(json, r, () => r.environments.map((e) => `${e.name}  ${e.spec.target}  ${e.status}  ${e.liveVersion ?? "-"}  ${e.activeColor ?? "-"}`).join("\n") || "no environments");
        return 0;
      }
      if (!name) throw new UsageError(`env ${sub ?? ""} needs an environment name`);
      if (sub === "create") {
        if (!values.file) throw new UsageError("env create needs --file <spec.json> (or - for stdin)");
        const spec = JSON.parse(readFileSync(values.file === "-" ? 0 : values.file, "utf8"));
        // A relative working directory in a spec file is relative to the file.
        const artifact = spec?.fleet?.artifact;
        if (artifact && typeof artifact.cwd === "string" && !path.isAbsolute(artifact.cwd)) {
          artifact.cwd = path.resolve(values.file === "-" ? process.cwd() : path.dirname(values.file), artifact.cwd);
        }
        const env = await client.request<{ name: string; status: string; forceKey?: string }>("POST", "/v1/environments", { ...spec, name });
        // The force key is in this answer only: Cutover keeps it sealed and never shows it again.
        print(json, env, () => `${env.name}: ${env.status}${env.forceKey ? `\nforce key (shown this once): ${env.forceKey}` : ""}`);
        return 0;
      }
      if (sub === "status") {
        const env = await client.request<{ name: string; status: string; liveVersion?: string; activeColor?: string; weights: object; traffic?: { url?: string }; recentDeployments: Deployment[] }>("GET", `/v1/environments/${name}`);
        print(json, env, () =>
          [
            `${env.name}: ${env.status}, live ${env.liveVersion ?? "-"} on ${env.activeColor ?? "-"}, weights ${JSON.stringify(env.weights)}`,
            env.traffic?.url ? `url ${env.traffic.url}` : "",
            ...env.recentDeployments.map(describe),
          ].filter(Boolean).join("\n"),
        );
        return 0;
      }
      if (sub === "delete") {
        await client.request("DELETE", `/v1/environments/${name}`);
        if (values.wait) await waitForEnvironmentGone(client, name);
        print(json, { deleted: name }, () => `${name}: ${values.wait ? "deleted" : "deleting"}`);
        return 0;
      }
      throw new UsageError(`unknown env command ${sub}`);
    }
    case "deploy": {
      need(values.release ? 1 : 2, "an environment and a version (or --release)");
      const strategy = values.canary
        ? { type: "canary", steps: parseCanary(values.canary), ...(values.bake ? { bake: values.bake } : {}) }
        : values.rolling
          ? parseRolling(values.rolling, values.pause, values.bake)
        : values.bake
          ? { type: "blue-green", bake: values.bake }
          : undefined;
      const body = { ...(values.release ? { release: values.release } : { version: args[1] }), ...(strategy ? { strategy } : {}) };
      if (values["dry-run"]) {
        const plan = await client.request<Plan>("POST", `/v1/environments/${args[0]}/deployments?dryRun=true`, body);
        print(json, plan, () => describePlan(plan));
        return 0;
      }
      const d = await client.request<Deployment>("POST", `/v1/environments/${args[0]}/deployments`, body);
      print(json, d, () => describe(d));
      return values.wait ? follow(client, d.id, json) : 0;
    }
    case "status": {
      need(1, "a deployment id");
      const d = await client.request<Deployment>("GET", `/v1/deployments/${args[0]}`);
      const { events } = json ? { events: [] } : await client.request<{ events: JournalEvent[] }>("GET", `/v1/deployments/${args[0]}/events`);
      print(json, d, () => [describe(d), ...describeProgress(d, events)].join("\n"));
      return 0;
    }
    case "approve":
    case "reject": {
      need(1, "a deployment id");
      let gate = args[1];
      if (!gate) {
        const d = await client.request<Deployment>("GET", `/v1/deployments/${args[0]}`);
        const waiting = Object.entries(d.gateLog ?? {}).find(([, r]) => r.state === "waiting");
        if (!waiting) throw new UsageError(`${args[0]} waits at no gate; name the gate`);
        gate = waiting[0].split("@")[0];
      }
      const body = values.reason ? { reason: values.reason } : {};
      const d = await client.request<Deployment>("POST", `/v1/deployments/${args[0]}/gates/${encodeURIComponent(gate)}/${cmd}`, body);
      print(json, d, () => describe(d));
      return values.wait ? follow(client, d.id, json) : 0;
    }
    case "events":
      need(1, "a deployment id");
      return follow(client, args[0], json);
    case "promote":
      if (values.to) {
        need(1, "a pipeline");
        const opts = { json, to: values.to, release: values.release, force: values.force, reason: values.reason };
        if (values["dry-run"]) {
          const plan = await promoteInto<Plan & { id?: string }>(client, args[0], { ...opts, dryRun: true });
          print(json, plan, () => describePlan(plan));
          return 0;
        }
        const d = await promoteInto<Deployment>(client, args[0], opts);
        print(json, d, () => describe(d));
        return values.wait ? follow(client, d.id, json) : 0;
      }
    // falls through: promote a deployment past its pause
    case "pause":
    case "resume":
    case "abort": {
      need(1, "a deployment id");
      const body = cmd === "abort" && values.reason ? { reason: values.reason } : {};
      const d = await client.request<Deployment>("POST", `/v1/deployments/${args[0]}/${cmd}`, body);
      print(json, d, () => describe(d));
      return values.wait ? follow(client, d.id, json) : 0;
    }
    case "rollback": {
      need(1, "an environment");
      const d = await client.request<Deployment>("POST", `/v1/environments/${args[0]}/rollback`, {});
      print(json, d, () => describe(d));
      return values.wait ? follow(client, d.id, json) : 0;
    }
    case "token": {
      if (args[0] !== "create" || !args[1] || !values.role) throw new UsageError("token create <name> --role viewer|deployer|approver|admin|flags-reader [--env NAME]... [--person EMAIL]");
      const t = await client.request<{ id: string; token: string }>("POST", "/v1/tokens", {
        name: args[1],
        role: values.role,
        ...(values.env ? { environments: values.env } : {}),
        ...(values.person ? { person: values.person } : {}),
      });
      print(json, t, () => `${t.id}\n${t.token}`);
      return 0;
    }
    case "pipeline":
      return runPipelines(client, args, { json, file: values.file }, print);
    case "release":
      return runReleases(client, args, { json, file: values.file, commit: values.commit, link: values.link, source: values.source }, print);
    case "flags":
      return runFlags(client, args, { json, file: values.file, percentage: values.percentage, reason: values.reason, history: values.history, wait: values.wait }, print);
    default:
      throw new UsageError(`unknown command ${cmd}`);
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError || err instanceof FlagUsageError || err instanceof ReleaseUsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`cutover: ${(err as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (err instanceof ApiError) {
      console.error(`cutover: ${err.code}: ${err.message}`);
      process.exit(3);
    }
    console.error(`cutover: ${(err as Error).message}`);
    process.exit(3);
  },
);

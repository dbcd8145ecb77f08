// A real, minimal Kubernetes control plane for tests, from the binaries
// scripts/setup-kube.sh builds: etcd and kube-apiserver (one process, on
// ports the OS chooses, 127.0.0.1 only), kube-controller-manager (the
// Deployment, ReplicaSet, Job, endpoint and garbage-collector controllers),
// kube-scheduler, and KWOK, whose simulated node runs every pod: pods become Ready without
// a container runtime. The Gateway API's CRDs are installed. Nothing serves
// the routes' traffic: a Gateway's data plane is not part of it.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { projectRoot } from "../../server/engine/toolchain";
import { tempDir } from "./temp-dir";
import { waitFor } from "./wait-for";

interface KubeToolchain {
  kube: string;
  crds: string;
  provider: string;
  providerVersion: string;
}

export function kubeToolchain(): KubeToolchain {
  const file = path.join(projectRoot, "dist", "kube-toolchain.json");
  if (!existsSync(file)) throw new Error("the Kubernetes test toolchain is not built: run `bash scripts/setup-kube.sh` (npm test does)");
  return JSON.parse(readFileSync(file, "utf8")) as KubeToolchain;
}

export interface KubeReply {
  status: number;
  json: any;
}

export interface ControlPlane {
  dir: string;
  kubeconfig: string;
  server: string;
  /** A request to the API server as its admin. */
  api(method: string, p: string, body?: unknown, contentType?: string): Promise<KubeReply>;
  /** Every process of it stopped. */
  stop(): Promise<void>;
  log: string[];
}

export async function startControlPlane(): Promise<ControlPlane> {
  const tools = kubeToolchain();
  const dir = tempDir("kube");
  const kubeconfig = path.join(dir, "kubeconfig");
  const log: string[] = [];
  const children: ChildProcess[] = [];
  const run = (name: string, args: string[]) => {
    const child = spawn(tools.kube, [name, ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        log.push(`${name}: ${line}`);
        if (log.length > 2000) log.shift();
      }
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    children.push(child);
    return child;
  };
  const stop = async () => {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // gone
      }
      const killed = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // gone
        }
      }, 10_000);
      await exited;
      clearTimeout(killed);
    }
  };
  try {
    const apiserver = run("control-plane", ["--dir", dir, "--crds", tools.crds]);
    await waitFor(
      "the API server to be ready with the Gateway API's CRDs",
      () => {
        if (apiserver.exitCode !== null) throw new Error(`the control plane exited (${apiserver.exitCode}):\n${log.slice(-20).join("\n")}`);
        return existsSync(path.join(dir, "ready"));
      },
      240_000,
      200,
    );
    const server = readFileSync(path.join(dir, "ready"), "utf8").trim();
    const config = readFileSync(kubeconfig, "utf8");
    const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(config)![1], "base64");
    const token = /token: (\S+)/.exec(config)![1];
    const api = (method: string, p: string, body?: unknown, contentType = "application/json") =>
      new Promise<KubeReply>((resolve, reject) => {
        const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
        const req = https.request(
          `${server}${p}`,
          { method, ca, headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(payload ? { "content-type": contentType } : {}) } },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (text += d));
            res.on("end", () => {
              let json: unknown;
              try {
                json = JSON.parse(text);
              } catch {
                json = text;
              }
              resolve({ status: res.statusCode ?? 0, json });
            });
          },
        );
        req.on("error", reject);
        req.end(payload);
      });
    run("kube-controller-manager", [
      `--kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--secure-port=0",
      "--use-service-account-credentials=false",
      "--controllers=deployment-controller,replicaset-controller,job-controller,endpoints-controller,endpointslice-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller",
      "--concurrent-deployment-syncs=2",
    ]);
    run("kube-scheduler", [`--kubeconfig=${kubeconfig}`, "--leader-elect=false", "--secure-port=0"]);
    run("kwok", [`--kubeconfig=${kubeconfig}`, "--manage-all-nodes=true", "--cidr=10.0.0.1/16", "--node-ip=10.0.0.1"]);
    // One simulated node for every pod.
    const node = await api("POST", "/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "kwok-node-0", labels: { type: "kwok", "kubernetes.io/hostname": "kwok-node-0" }, annotations: { "kwok.x-k8s.io/node": "fake" } },
      status: { allocatable: { cpu: "64", memory: "256Gi", pods: "500" }, capacity: { cpu: "64", memory: "256Gi", pods: "500" } },
    });
    if (node.status !== 201) throw new Error(`creating the simulated node: ${node.status} ${JSON.stringify(node.json)}`);
    await waitFor(
      "the simulated node to be Ready",
      async () => ((await api("GET", "/api/v1/nodes/kwok-node-0")).json.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True"),
      60_000,
    );
    return { dir, kubeconfig, server, api, stop, log };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Installs the built provider plugin into a Pulumi home the way an
 * operator installs one from a file: `pulumi plugin install --file`.
 */
export function installKubernetesPlugin(pulumiHome: string, pulumiBin: string): void {
  const tools = kubeToolchain();
  const result = spawnSync(pulumiBin, ["plugin", "install", "resource", "kubernetes", tools.providerVersion, "--file", tools.provider], {
    env: { ...process.env, PULUMI_HOME: pulumiHome, PULUMI_SKIP_UPDATE_CHECK: "true" },
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`pulumi plugin install failed: ${result.stderr}`);
}

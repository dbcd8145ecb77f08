// The `cutover` provider answers only processes of its own user. It
// listens on 127.0.0.1 and starts fleets as any environment's user, so a
// fleet (a deployer's code, sandboxed as its environment's user) that
// finds its port must not be able to start or stop another environment's
// fleets through it. Real provider process, real gRPC calls over HTTP/2,
// one from a process of another user.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { kernelAddress, peerUid } from "../../infra/grpc-peer-guard";
import { PROVIDER_MAIN } from "../../server/engine/resident-provider";
import { grpcCall } from "../helpers/grpc-call";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

const call = (port: number, uid?: number) => grpcCall(port, "/pulumirpc.ResourceProvider/GetPluginInfo", uid);

let provider: ChildProcess;
let port: number;

beforeAll(async () => {
  provider = spawn(process.execPath, [PROVIDER_MAIN], { stdio: ["ignore", "pipe", "inherit"] });
  port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: provider.stdout! }).once("line", (line) => resolve(Number(line)));
    provider.once("exit", (code) => reject(new Error(`the provider exited (${code})`)));
  });
});

afterAll(() => {
  provider.kill("SIGKILL");
});

describe("the cutover provider's callers", () => {
  it("answers a process of its own user", () => {
    const answer = call(port);
    expect(answer.status).toBe("0");
    expect(answer.body).toContain("0.1.0");
    // Its schema names both resources, for programs in other languages (a YAML one, say).
    const schema = grpcCall(port, "/pulumirpc.ResourceProvider/GetSchema");
    expect(schema.status).toBe("0");
    const parsed = JSON.parse(schema.body!.slice(schema.body!.indexOf("{")));
    expect(Object.keys(parsed.resources).sort()).toEqual(["cutover:local:Fleet", "cutover:local:LoadBalancer"]);
    expect(parsed.resources["cutover:local:Fleet"].properties.endpoints).toEqual({ type: "array", items: { type: "string" } });
  });

  (asRoot ? it : it.skip)("refuses a process of another user before the provider sees the call", () => {
    const answer = call(port, NOBODY);
    expect(answer.status).toBe("7"); // PERMISSION_DENIED
    expect(answer.message).toMatch(/only its own user/);
    // The provider is still there for its own user.
    expect(call(port).status).toBe("0");
  });

  it("finds a connection's owner in the kernel's socket table, and nothing for a peer that is not connected to it", () => {
    expect(kernelAddress("127.0.0.1", 8080)).toBe("0100007F:1F90");
    expect(kernelAddress("::1", 8080)).toBeUndefined();
    expect(peerUid("127.0.0.1:1")).toBeUndefined();
    expect(peerUid("[::1]:5000")).toBeUndefined();
  });
});

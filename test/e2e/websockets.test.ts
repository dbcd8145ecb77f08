// WebSockets through the local balancer with a real client (Node's
// WebSocket): the upgrade reaches the live version, messages go both ways,
// and across a blue/green cutover new connections reach the new version
// while one opened before keeps working on the old fleet until it retires.
import { environmentSpec, uniqueMark } from "../helpers/environments";
import { startServer, waitForDeployment, waitForEnvironment, type RunningServer } from "../helpers/server";
import { waitFor } from "../helpers/wait-for";

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

interface Socket {
  ws: WebSocket;
  messages: string[];
  closed: boolean;
  send(text: string): Promise<string>;
}

async function open(url: string): Promise<Socket> {
  const ws = new WebSocket(url);
  const s: Socket = {
    ws,
    messages: [],
    closed: false,
    async send(text: string) {
      const before = s.messages.length;
      ws.send(text);
      return waitFor(`an echo of ${text}`, () => s.messages[before], 5000);
    },
  };
  ws.addEventListener("message", (e) => s.messages.push(String(e.data)));
  ws.addEventListener("close", () => (s.closed = true));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`could not open ${url}`)), { once: true });
  });
  return s;
}

describe("WebSockets through the balancer", () => {
  it("tunnels upgrades to the live version, and moves new connections at a cutover", async () => {
    expect((await server.api("POST", "/v1/environments", await environmentSpec("sockets", uniqueMark()))).status).toBe(201);
    const env = await waitForEnvironment(server, "sockets", "ready");
    const v1 = (await server.api("POST", "/v1/environments/sockets/deployments", { version: "v1" })).json.id;
    await waitForDeployment(server, v1, "succeeded");
    const url = `${env.traffic.url.replace(/^http/, "ws")}/ws`;

    const before = await open(url);
    expect(await before.send("hello")).toBe("v1: hello");
    const big = "x".repeat(60_000);
    expect(await before.send(big)).toBe(`v1: ${big}`);

    const v2 = (await server.api("POST", "/v1/environments/sockets/deployments", { version: "v2" })).json.id;
    await waitForDeployment(server, v2, "succeeded");
    const after = await open(url);
    expect(await after.send("hello")).toBe("v2: hello");
    // The connection opened before the cutover stayed on v1 until v1's fleet retired after its drain timeout.
    await waitFor("the old connection to close with its fleet", () => before.closed, 30_000);
    expect(before.messages).toEqual(["v1: hello", `v1: ${big}`]);
    expect(await after.send("still here")).toBe("v2: still here");
    after.ws.close();
  });
});

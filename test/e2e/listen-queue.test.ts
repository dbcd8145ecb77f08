// A starved API delays connections instead of dropping them. The server is
// frozen (SIGSTOP: no CPU at all, as an API starved for a moment) while
// a portal's worth of clients connect: the kernel completes each handshake
// into the API's listen queue, so none waits out TCP's SYN back-off (1, 3,
// 7… seconds), and every request is answered once the API runs again.
import { readFileSync } from "node:fs";
import net from "node:net";
import { startServer, type RunningServer } from "../helpers/server";

/** Opens a connection and sends GET /healthz; when it connected, and the status line it got. */
function healthz(port: number): { connectedMs: Promise<number>; status: Promise<string> } {
  const started = Date.now();
  const socket = net.connect({ host: "127.0.0.1", port });
  const connectedMs = new Promise<number>((resolve, reject) => {
    socket.once("connect", () => resolve(Date.now() - started));
    socket.once("error", reject);
  });
  const status = new Promise<string>((resolve, reject) => {
    let got = "";
    socket.on("data", (d) => {
      got += d.toString("latin1");
      if (got.includes("\r\n")) {
        resolve(got.slice(0, got.indexOf("\r\n")));
        socket.destroy();
      }
    });
    socket.once("error", reject);
    socket.once("close", () => resolve(got.slice(0, got.indexOf("\r\n"))));
  });
  socket.write("GET /healthz HTTP/1.1\r\nHost: cutover\r\nConnection: close\r\n\r\n");
  return { connectedMs, status };
}

describe("the API's listen queue", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer();
  });

  afterAll(async () => {
    server.process.kill("SIGCONT");
    await server.stop();
  });

  it("holds a portal's burst of connections while the API is frozen, and answers each once it runs", async () => {
    const port = Number(new URL(server.url).port);
    // Past Node's default queue (511), within what the kernel allows a listener.
    const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
    const count = Math.min(2000, somaxconn - 50);
    expect(count).toBeGreaterThan(511);
    server.process.kill("SIGSTOP");
    let calls: ReturnType<typeof healthz>[];
    try {
      calls = Array.from({ length: count }, () => healthz(port));
      const connected = await Promise.all(calls.map((c) => c.connectedMs));
      // Every handshake completed at once, into the queue: none was dropped to be retried a second later.
      expect(Math.max(...connected)).toBeLessThan(900);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      server.process.kill("SIGCONT");
    }
    const statuses = await Promise.all(calls.map((c) => c.status));
    expect(statuses.filter((s) => s !== "HTTP/1.1 200 OK")).toEqual([]);
  });
});

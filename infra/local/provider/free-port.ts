// A port the kernel picks as free (bind to 0, read it, close). It comes from
// the ephemeral range, where any outgoing connection may take it before the
// caller binds it; port-allocation.ts picks from outside that range.
import net from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

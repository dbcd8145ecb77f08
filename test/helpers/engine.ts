// Builds a real PulumiEngine over a fresh file backend for a test.
import path from "node:path";
import { PulumiEngine } from "../../server/engine/pulumi-engine";
import { resolveToolchain } from "../../server/engine/toolchain";
import { tempDir } from "./temp-dir";

export function testEngine(name: string): { engine: PulumiEngine; dataDir: string; runtimeDir: string } {
  const dataDir = tempDir(name);
  const engine = new PulumiEngine({ dataDir, passphrase: "test-passphrase", toolchain: resolveToolchain() });
  return { engine, dataDir, runtimeDir: path.join(dataDir, "runtime") };
}

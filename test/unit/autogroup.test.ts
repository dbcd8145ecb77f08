import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { autogroupNiceness, engineWorkersOnHost } from "../../server/engine/autogroup";
import { tempDir } from "../helpers/temp-dir";

describe("the engine workers' autogroup", () => {
  it("weighs the busy workers together about as much as one session at the API's priority, never below their own nice", () => {
    expect(autogroupNiceness(10, 1)).toBe(0);
    expect(autogroupNiceness(10, 2)).toBe(3);
    expect(autogroupNiceness(10, 4)).toBe(6);
    expect(autogroupNiceness(10, 8)).toBe(9);
    expect(autogroupNiceness(10, 64)).toBe(10);
    expect(autogroupNiceness(0, 4)).toBe(0);
  });

  it("counts every engine worker on the host, whichever replica started it", () => {
    const proc = tempDir("proc");
    const processes: Record<string, string> = {
      "101": "/usr/bin/node\0/srv/a/dist/server/engine/engine-worker-main.js\0",
      "102": "/usr/bin/node\0/srv/b/dist/server/engine/engine-worker-main.js\0",
      "103": "/usr/bin/node\0/srv/b/dist/server/main.js\0",
      "104": "/usr/bin/pulumi\0up\0",
      self: "not a process",
    };
    for (const [pid, cmdline] of Object.entries(processes)) {
      mkdirSync(path.join(proc, pid));
      writeFileSync(path.join(proc, pid, "cmdline"), cmdline);
    }
    // A process that ended between the listing and the read is not counted.
    mkdirSync(path.join(proc, "105"));
    expect(engineWorkersOnHost(proc)).toBe(2);
    // Three replicas' pools of three: each worker weighs as one of nine.
    expect(autogroupNiceness(10, 9)).toBe(10);
    expect(engineWorkersOnHost(path.join(proc, "missing"))).toBe(0);
  });
});

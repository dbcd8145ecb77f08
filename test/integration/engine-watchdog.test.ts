// The engine worker's watchdog decides from what has arrived: a process
// kept from running for longer than the watchdog (here a synchronous
// stretch; in life a low-priority worker on a busy machine) does not take
// its server for silent when the server's messages did arrive meanwhile.
// It still fires when nothing arrives.
import { spawn } from "node:child_process";
import { startWatchdog } from "../../server/engine/watchdog";

function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the event loop is held, as by a long synchronous step
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the engine worker's watchdog", () => {
  it("reads what arrived while the process was held before it calls the server silent, and fires once nothing arrives", async () => {
    // Another process pings over a pipe every 20 ms, whether or not this one is running.
    const pinger = spawn(process.execPath, ["-e", "setInterval(() => process.stdout.write('.'), 20)"], { stdio: ["ignore", "pipe", "inherit"] });
    let heardAt = Date.now();
    pinger.stdout.on("data", () => (heardAt = Date.now()));
    await new Promise((resolve) => pinger.stdout.once("data", resolve));
    const silences: number[] = [];
    const stop = startWatchdog(200, () => heardAt, (ms) => silences.push(ms));
    try {
      for (let i = 0; i < 3; i++) {
        busyFor(600);
        await sleep(150);
      }
      expect(silences).toEqual([]);
      pinger.kill("SIGKILL");
      await sleep(600);
      expect(silences.length).toBeGreaterThan(0);
      expect(silences[0]).toBeGreaterThan(200);
    } finally {
      stop();
      pinger.kill("SIGKILL");
    }
  });
});

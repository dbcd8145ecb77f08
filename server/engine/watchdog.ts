// The engine worker's watchdog: calls `onSilent` once nothing has been
// heard for `silentMs`. Timers run before the event loop reads its I/O, so
// a process that was itself kept from running (a low priority on a busy
// machine, a long synchronous step) would find its timer due before it had
// read what did arrive meanwhile: it decides only after that I/O is read.
export function startWatchdog(silentMs: number, lastHeard: () => number, onSilent: (silentForMs: number) => void): () => void {
  const timer = setInterval(() => {
    if (Date.now() - lastHeard() <= silentMs) return;
    // setImmediate runs after the poll phase, which delivers what arrived while this process was not running.
    setImmediate(() => {
      const silentFor = Date.now() - lastHeard();
      if (silentFor > silentMs) onSilent(silentFor);
    });
  }, Math.max(50, Math.floor(silentMs / 4)));
  timer.unref();
  return () => clearInterval(timer);
}

// The one way Cutover waits for something outside it to come about: ask,
// and ask again after a pause, until the answer comes or the time is up.

export interface PollOptions {
  /** How long to keep asking; the question is asked once more after the time is up. */
  timeoutMs: number;
  /** The pause between two questions. */
  intervalMs: number;
}

/**
 * Asks `probe` until it answers something other than `undefined`, and
 * returns that answer; returns `undefined` when the time is up first. A
 * probe that throws ends the wait with its error (a process it waits on
 * has exited, say).
 */
export async function pollUntil<T>(probe: () => T | undefined | Promise<T | undefined>, { timeoutMs, intervalMs }: PollOptions): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await probe();
    if (answer !== undefined) return answer;
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(intervalMs, deadline - Date.now()))));
  }
}

/** Waits until `alive` says no (or the time is up); whether it did. */
export async function pollUntilGone(alive: () => boolean, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  return (await pollUntil(() => (alive() ? undefined : true), { timeoutMs, intervalMs })) === true;
}

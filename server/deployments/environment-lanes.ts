// One operation at a time per environment, in arrival order; different
// environments run in parallel.
export class EnvironmentLanes {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(environment: string, job: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(environment) ?? Promise.resolve();
    const next = previous.then(job, job);
    const tail = next.catch(() => undefined);
    this.tails.set(environment, tail);
    void tail.then(() => {
      if (this.tails.get(environment) === tail) this.tails.delete(environment);
    });
    return next;
  }
}

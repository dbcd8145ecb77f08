// How the environment's lane hears of work and tells whether it is at
// work, without the services that record work knowing the lane: a service
// that records work for an environment rings `recorded`; the lane's
// workers listen; observers ask `busy`.
export class LaneActivity {
  private readonly working = new Set<string>();
  private readonly listeners: ((environment: string) => void)[] = [];

  /** Work for the environment was recorded (a deployment, a refresh, creation or deletion). */
  readonly recorded = (environment: string): void => {
    for (const listener of this.listeners) listener(environment);
  };

  /** Whether the environment's worker is at work on this replica. */
  readonly busy = (environment: string): boolean => this.working.has(environment);

  onRecorded(listener: (environment: string) => void): void {
    this.listeners.push(listener);
  }

  began(environment: string): void {
    this.working.add(environment);
  }

  ended(environment: string): void {
    this.working.delete(environment);
  }
}

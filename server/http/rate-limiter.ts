// A token bucket per caller: `perSecond` requests a second on average,
// bursts up to `burst`. Answers how long to wait when a caller is over.
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number = perSecond,
  ) {}

  /** 0 when the request may go now; otherwise the seconds until it may. */
  take(caller: string, now = Date.now()): number {
    let b = this.buckets.get(caller);
    if (!b) {
      if (this.buckets.size >= 100_000) this.buckets.clear();
      b = { tokens: this.burst, at: now };
      this.buckets.set(caller, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }
}

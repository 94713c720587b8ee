/**
 * A token bucket per connection: `rate` tokens a second up to `burst`, one token per request
 * (a batch request takes one per order or query it carries).
 *
 * Invariants: 0 ≤ tokens ≤ burst; refilling is computed from the injected clock on demand, so
 * an idle bucket costs nothing and there is no timer per connection; a clock that goes
 * backwards adds nothing rather than draining the bucket.
 */

export interface RateLimit {
  /** Requests a second, sustained. */
  requestsPerSecond: number;
  /** Requests that may arrive at once after a quiet period. */
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private refilledAtMs: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: () => number,
  ) {
    this.tokens = limit.burst;
    this.refilledAtMs = clock();
  }

  private refill(): void {
    const nowMs = this.clock();
    const elapsedMs = nowMs - this.refilledAtMs;
    if (elapsedMs <= 0) return;
    this.refilledAtMs = nowMs;
    this.tokens = Math.min(
      this.limit.burst,
      this.tokens + (elapsedMs * this.limit.requestsPerSecond) / 1000,
    );
  }

  /**
   * Takes up to `wanted` tokens and returns how many it took: a frame of n requests runs the
   * first `taken` and refuses the rest, so a client sees exactly which requests were limited.
   */
  take(wanted: number): number {
    if (this.tokens < wanted) this.refill();
    const taken = Math.min(wanted, Math.floor(this.tokens));
    this.tokens -= taken;
    return taken;
  }

  /** Takes `weight` tokens if there are that many (a batch request counts its entries). */
  takeAll(weight: number): boolean {
    if (this.tokens < weight) this.refill();
    if (this.tokens < weight) return false;
    this.tokens -= weight;
    return true;
  }
}

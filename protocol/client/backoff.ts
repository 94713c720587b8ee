/**
 * Reconnect delays: exponential backoff with jitter. The delay before attempt n (0-based) is
 * drawn from [cap / 2, cap] where cap = min(maxDelayMs, baseDelayMs × 2^n): the floor keeps a
 * crowd of clients from hammering a restarting node, the random half spreads them out.
 * Randomness is passed in, so tests can pin it.
 */

export interface ReconnectPolicy {
  /** Attempts after a connection is lost before calls fail with CONNECTION_LOST; 0 disables. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** A source of uniform numbers in [0, 1), like Math.random. */
export type Random = () => number;

export function backoffDelayMs(attempt: number, policy: ReconnectPolicy, random: Random): number {
  // 2^30 already exceeds any allowed delay; capping the exponent keeps the product finite.
  const exponent = Math.min(attempt, 30);
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  const unit = random();
  const jitter = unit >= 0 && unit < 1 ? unit : 0.5;
  return Math.floor(cap / 2 + (cap / 2) * jitter);
}

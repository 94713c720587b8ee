import { describe, expect, it } from 'vitest';
import { TokenBucket } from './rate-limiter.js';

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate, and never more than the burst', () => {
    const now = { ms: 0 };
    const bucket = new TokenBucket({ requestsPerSecond: 100, burst: 10 }, () => now.ms);
    expect(bucket.take(25)).toBe(10);
    expect(bucket.take(1)).toBe(0);
    now.ms += 50;
    expect(bucket.take(10)).toBe(5);
    now.ms += 60_000;
    expect(bucket.take(1_000)).toBe(10);
  });

  it('adds nothing when the clock goes backwards', () => {
    const now = { ms: 1_000 };
    const bucket = new TokenBucket({ requestsPerSecond: 1_000, burst: 5 }, () => now.ms);
    expect(bucket.take(5)).toBe(5);
    now.ms -= 500;
    expect(bucket.take(1)).toBe(0);
    now.ms += 502;
    expect(bucket.take(5)).toBe(2);
  });
});

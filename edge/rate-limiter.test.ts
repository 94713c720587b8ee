import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Prng, seedFromEnv } from '../engine/testing/index.js';
import {
  createKeyBuckets,
  grantOf,
  KEY_GRANT_TOKENS_MAX,
  KeyRateLimiter,
  type RateLimit,
  SharedKeyBuckets,
  TokenBucket,
} from './rate-limiter.js';
import type { KeyTable } from './keys.js';

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

  it('says how long to wait, and takes back what another limit refused', () => {
    const now = { ms: 0 };
    const bucket = new TokenBucket({ requestsPerSecond: 100, burst: 10 }, () => now.ms);
    expect(bucket.takeAll(8)).toBe(true);
    expect(bucket.takeAll(5)).toBe(false);
    expect(bucket.waitMs(5)).toBe(30);
    bucket.giveBack(8);
    expect(bucket.takeAll(10)).toBe(true);
    expect(bucket.waitMs(1)).toBe(10);
  });
});

const SLOT = 3;

function tableOf(limit: Partial<RateLimit> = {}): KeyTable {
  return {
    generation: 1,
    keys: [
      {
        id: 'svc',
        role: 'orderer',
        sha256: '0'.repeat(64),
        slot: SLOT,
        requestsPerSecond: limit.requestsPerSecond ?? null,
        burst: limit.burst ?? null,
        connectionsMax: null,
      },
    ],
  };
}

describe('SharedKeyBuckets', () => {
  it('refills exactly by the millisecond, up to the burst, and credits no interval twice', () => {
    const buckets = new SharedKeyBuckets(createKeyBuckets());
    const limit = { requestsPerSecond: 1_500, burst: 100 };
    buckets.reset(SLOT, limit.burst, 10_000);
    expect(buckets.take(SLOT, 100, 100)).toBe(100);
    // 1.5 tokens a millisecond: 3 ms make 4.5, of which 4 can be taken; the half stays.
    buckets.refill(SLOT, limit, 10_003);
    buckets.refill(SLOT, limit, 10_003);
    expect(buckets.take(SLOT, 1, 10)).toBe(4);
    buckets.refill(SLOT, limit, 10_004);
    expect(buckets.take(SLOT, 2, 2)).toBe(2);
    buckets.refill(SLOT, limit, 20_000);
    expect(buckets.tokens(SLOT)).toBe(100);
  });

  /** A bucket of 50 at 1,000 a second, stamped 5,000 and emptied. */
  function emptiedAt5000() {
    const buckets = new SharedKeyBuckets(createKeyBuckets());
    const limit = { requestsPerSecond: 1_000, burst: 50 };
    buckets.reset(SLOT, limit.burst, 5_000);
    expect(buckets.take(SLOT, 50, 50)).toBe(50);
    return { buckets, limit };
  }

  it('credits nothing when the clock goes back, and carries on from the earlier time', () => {
    const { buckets, limit } = emptiedAt5000();
    buckets.refill(SLOT, limit, 4_000);
    expect(buckets.tokens(SLOT)).toBe(0);
    buckets.refill(SLOT, limit, 4_010);
    expect(buckets.tokens(SLOT)).toBe(10);
  });

  it('credits an interval once when a thread refills with a reading older than the stamp', () => {
    const { buckets, limit } = emptiedAt5000();
    buckets.refill(SLOT, limit, 5_020);
    expect(buckets.tokens(SLOT)).toBe(20);
    // A thread that read 5,010 before another stamped 5,020: nothing, and the stamp stays.
    buckets.refill(SLOT, limit, 5_010);
    expect(buckets.tokens(SLOT)).toBe(20);
    buckets.refill(SLOT, limit, 5_030);
    expect(buckets.tokens(SLOT)).toBe(30);
  });

  it('takes what is needed at least, what is wanted at most, and nothing below the need', () => {
    const buckets = new SharedKeyBuckets(createKeyBuckets());
    buckets.reset(SLOT, 10, 0);
    expect(buckets.take(SLOT, 4, 6)).toBe(6);
    expect(buckets.take(SLOT, 5, 9)).toBe(0);
    expect(buckets.take(SLOT, 3, 9)).toBe(4);
    expect(buckets.waitMs(SLOT, 3, { requestsPerSecond: 1_000, burst: 10 })).toBe(3);
  });
});

describe('grantOf', () => {
  it('grants nothing extra for tight limits and stays small against burst and rate', () => {
    expect(grantOf({ requestsPerSecond: 5, burst: 3 }, 2)).toBe(0);
    expect(grantOf({ requestsPerSecond: 10_000, burst: 800 }, 2)).toBe(100);
    expect(grantOf({ requestsPerSecond: 1_000, burst: 1_000_000 }, 2)).toBe(10);
    expect(grantOf({ requestsPerSecond: 4_000_000, burst: 1_000_000 }, 2)).toBe(
      KEY_GRANT_TOKENS_MAX,
    );
  });
});

describe('KeyRateLimiter', () => {
  it('shares one key bucket between threads: they cannot multiply the rate', () => {
    const seed = seedFromEnv(20_261_130);
    const prng = new Prng(seed);
    const random = () => prng.next();
    const limit = { requestsPerSecond: 2_000, burst: 400 };
    const now = { ms: 1_000_000 };
    const buffer = createKeyBuckets();
    const shared = new SharedKeyBuckets(buffer);
    shared.reset(SLOT, limit.burst, now.ms);
    const threads = [0, 1, 2].map(() => {
      const limiter = new KeyRateLimiter(new SharedKeyBuckets(buffer), limit, 3, () => now.ms);
      limiter.configure(tableOf());
      return limiter;
    });
    let admitted = 0;
    let refused = 0;
    const startMs = now.ms;
    for (let step = 0; step < 20_000; step++) {
      if (random() < 0.1) now.ms += Math.floor(random() * 3);
      const weight = random() < 0.05 ? 1 + Math.floor(random() * 20) : 1;
      const waitMs = threads[Math.floor(random() * threads.length)].take(SLOT, weight);
      if (waitMs === 0) admitted += weight;
      else {
        expect(waitMs, `SEED=${seed}`).toBeGreaterThan(0);
        refused++;
      }
    }
    const elapsedMs = now.ms - startMs;
    const allowed = limit.burst + (elapsedMs * limit.requestsPerSecond) / 1_000;
    expect(admitted, `SEED=${seed}`).toBeLessThanOrEqual(allowed);
    // The demand is above the rate, so the key gets about all of it: only what threads hold
    // back (a grant each) and a last partial request are missing.
    const grant = grantOf(limit, 3);
    expect(admitted, `SEED=${seed}`).toBeGreaterThanOrEqual(allowed - 3 * (grant + 20));
    expect(refused, `SEED=${seed}`).toBeGreaterThan(0);
    expect(shared.limited(SLOT), `SEED=${seed}`).toBe(refused);
  });

  it('uses the key file overrides, and forgets a slot the table no longer has', () => {
    const now = { ms: 0 };
    const buffer = createKeyBuckets();
    const shared = new SharedKeyBuckets(buffer);
    const limiter = new KeyRateLimiter(shared, { requestsPerSecond: 1e6, burst: 1e6 }, 1, () => {
      return now.ms;
    });
    limiter.configure(tableOf({ requestsPerSecond: 10, burst: 2 }));
    shared.reset(SLOT, 2, now.ms);
    expect(limiter.take(SLOT, 1)).toBe(0);
    expect(limiter.take(SLOT, 1)).toBe(0);
    expect(limiter.take(SLOT, 1)).toBe(100);
    now.ms += 100;
    expect(limiter.take(SLOT, 1)).toBe(0);
    // A request heavier than the burst waits for a full bucket, and is told so.
    expect(limiter.take(SLOT, 3)).toBe(200);
    limiter.configure({ generation: 2, keys: [] });
    expect(limiter.take(SLOT, 1_000)).toBe(0);
  });

  it('holds the rate across real threads updating the shared words at once', async () => {
    const limit = { requestsPerSecond: 20_000, burst: 2_000 };
    const buffer = createKeyBuckets();
    // The bucket refills from the moment it was reset, so the bound counts from that moment.
    const startMs = Date.now();
    new SharedKeyBuckets(buffer).reset(SLOT, limit.burst, startMs);
    const module = new URL('../dist/edge/rate-limiter.js', import.meta.url).href;
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.module).then(({ KeyRateLimiter, SharedKeyBuckets }) => {
        const limiter = new KeyRateLimiter(
          new SharedKeyBuckets(workerData.buffer), workerData.limit, 2, Date.now);
        limiter.configure(workerData.table);
        let admitted = 0;
        const endMs = Date.now() + workerData.durationMs;
        while (Date.now() < endMs) if (limiter.take(workerData.slot, 1) === 0) admitted++;
        parentPort.postMessage(admitted);
      });`;
    const durationMs = 400;
    const runs = [0, 1].map(
      () =>
        new Promise<number>((resolve, reject) => {
          const worker = new Worker(code, {
            eval: true,
            workerData: { module, buffer, limit, table: tableOf(), slot: SLOT, durationMs },
          });
          worker.once('message', (admitted: number) => {
            resolve(admitted);
            void worker.terminate();
          });
          worker.once('error', reject);
        }),
    );
    const admitted = (await Promise.all(runs)).reduce((sum, count) => sum + count, 0);
    const elapsedMs = Date.now() - startMs;
    expect(admitted).toBeLessThanOrEqual(
      limit.burst + (elapsedMs * limit.requestsPerSecond) / 1000,
    );
    // Both threads spun for the whole window: the key got a fair part of its rate.
    expect(admitted).toBeGreaterThan((durationMs * limit.requestsPerSecond) / 1000 / 2);
  });
});

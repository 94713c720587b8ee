/**
 * Seeded randomness for tests, simulators, demo data and load generators: a small sfc32
 * generator (`Prng`), a Zipf sampler built on it, and the `SEED=` convention that lets any
 * randomized failure be replayed.
 *
 * Invariants: nothing here reads `Math.random` or keeps module-level state; one seed (and
 * stream number) always yields the same sequence on every platform, because every step is
 * 32-bit integer arithmetic (`Math.imul`, `| 0`, `>>> 0`); `next()` is in [0, 1).
 */

import { randomInt } from 'node:crypto';

/** Outputs thrown away after seeding, so nearby seeds do not start with related values. */
const WARMUP_ROUNDS = 12;
const UINT32_RANGE = 0x1_0000_0000;
/** Zipf tables are O(n) typed arrays; this bounds them at a few tens of MB. */
export const ZIPF_N_MAX = 10_000_000;

/** The 32-bit finaliser of MurmurHash3: a bijection that spreads every input bit. */
function mix32(value: number): number {
  let z = value | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85eb_ca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2_ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function assertSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`seed must be a safe integer, got ${seed}`);
  }
}

/**
 * sfc32 (Chris Doty-Humphrey's small fast chaotic generator): four 32-bit words of state,
 * passes PractRand to terabytes, and is a handful of integer operations per output.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /**
   * `stream` selects an independent sequence for the same seed, so one seed can drive several
   * generators (DCs, SKUs, stock) without one's draw count shifting another's values.
   */
  constructor(seed: number, stream = 0) {
    assertSeed(seed);
    assertSeed(stream);
    // Each step is a bijection of the running hash, so distinct 32-bit seeds on one stream
    // give distinct starting states.
    let hash = mix32(0x6a09_e667 ^ (seed >>> 0));
    hash = mix32(hash ^ Math.floor(seed / UINT32_RANGE));
    hash = mix32(hash ^ Math.imul(stream >>> 0, 0x9e37_79b9));
    this.a = hash;
    this.b = mix32(hash + 0x9e37_79b9);
    this.c = mix32(hash + 0x3c6e_f372);
    // sfc32's fourth word is a counter; starting it at 1 is the reference seeding.
    this.d = 1;
    for (let round = 0; round < WARMUP_ROUNDS; round++) this.nextUint32();
  }

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) + t;
    this.c |= 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / UINT32_RANGE;
  }

  /**
   * A uniform integer in [0, maxExclusive). Scaling a 32-bit draw has a bias of at most
   * maxExclusive / 2^32, which is far below anything a test or a workload can notice.
   */
  int(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive < 1 || maxExclusive > UINT32_RANGE) {
      throw new RangeError(`int() bound must be an integer in [1, 2^32], got ${maxExclusive}`);
    }
    return Math.floor(this.next() * maxExclusive);
  }

  /** A uniform integer in [min, maxInclusive]. */
  range(min: number, maxInclusive: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(maxInclusive) || maxInclusive < min) {
      throw new RangeError(`range() needs integers min <= max, got ${min}, ${maxInclusive}`);
    }
    return min + this.int(maxInclusive - min + 1);
  }

  /** A uniform float in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** True with probability `probability`. */
  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick() from an empty list');
    return xs[this.int(xs.length)];
  }

  /** Fisher–Yates, in place; returns the same array for chaining. */
  shuffle<T>(xs: T[]): T[] {
    for (let index = xs.length - 1; index > 0; index--) {
      const other = this.int(index + 1);
      const held = xs[index];
      xs[index] = xs[other];
      xs[other] = held;
    }
    return xs;
  }

  /** A standard normal draw (Box–Muller; the second value is dropped to keep no extra state). */
  gaussian(): number {
    // 1 - next() is in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    return radius * Math.cos(2 * Math.PI * this.next());
  }
}

/**
 * The seed for a randomized test or run: `SEED` from the environment when set (so a failure
 * replays), else `defaultSeed` when given, else a fresh one from the OS.
 */
export function seedFromEnv(
  defaultSeed?: number,
  env: Readonly<Record<string, string | undefined>> = process.env,
): number {
  const text = env.SEED?.trim();
  if (text !== undefined && text !== '') {
    const seed = Number(text);
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(seed)) {
      throw new RangeError(`SEED must be an integer, got '${env.SEED}'`);
    }
    return seed;
  }
  if (defaultSeed !== undefined) {
    assertSeed(defaultSeed);
    return defaultSeed;
  }
  return randomInt(0, 2 ** 32);
}

/** How a failure message names its seed, ready to paste in front of the test command. */
export function describeSeed(seed: number): string {
  return `SEED=${seed}`;
}

/**
 * Zipf-distributed ranks in [0, n): rank k has weight 1 / (k + 1)^s, so rank 0 is the most
 * popular. Vose's alias method: O(n) setup, then O(1) (two draws) per sample.
 */
export class Zipf {
  readonly n: number;
  readonly s: number;
  private readonly prng: Prng;
  private readonly weightTotal: number;
  /** Chance of keeping column k rather than taking its alias. */
  private readonly keep: Float64Array;
  private readonly alias: Int32Array;

  constructor(n: number, s: number, prng: Prng) {
    if (!Number.isInteger(n) || n < 1 || n > ZIPF_N_MAX) {
      throw new RangeError(`Zipf n must be an integer in [1, ${ZIPF_N_MAX}], got ${n}`);
    }
    if (!Number.isFinite(s) || s < 0) {
      throw new RangeError(`Zipf exponent must be finite and >= 0, got ${s}`);
    }
    this.n = n;
    this.s = s;
    this.prng = prng;
    this.keep = new Float64Array(n);
    this.alias = new Int32Array(n);
    let total = 0;
    for (let rank = 0; rank < n; rank++) {
      this.keep[rank] = (rank + 1) ** -s;
      total += this.keep[rank];
    }
    this.weightTotal = total;
    buildAliasTable(this.keep, this.alias, n / total);
  }

  /** The exact probability of `rank`, for tests and expected-value checks. */
  probability(rank: number): number {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.n) return 0;
    return (rank + 1) ** -this.s / this.weightTotal;
  }

  next(): number {
    const column = this.prng.int(this.n);
    return this.prng.next() < this.keep[column] ? column : this.alias[column];
  }
}

/**
 * Vose's alias construction, in place: `keep` enters holding weights and leaves holding the
 * keep-probability of each column; `scale` turns a weight into a multiple of the mean column.
 */
function buildAliasTable(keep: Float64Array, alias: Int32Array, scale: number): void {
  const n = keep.length;
  // Two stacks in one array: under-full columns grow from the front, over-full from the back.
  const work = new Int32Array(n);
  let smallCount = 0;
  let largeStart = n;
  for (let column = 0; column < n; column++) {
    keep[column] *= scale;
    alias[column] = column;
    if (keep[column] < 1) work[smallCount++] = column;
    else work[--largeStart] = column;
  }
  while (smallCount > 0 && largeStart < n) {
    const small = work[--smallCount];
    const large = work[largeStart];
    alias[small] = large;
    keep[large] -= 1 - keep[small];
    if (keep[large] < 1) {
      largeStart++;
      work[smallCount++] = large;
    }
  }
  // What is left is full up to rounding error: those columns always keep themselves.
  for (let index = 0; index < smallCount; index++) keep[work[index]] = 1;
  for (let index = largeStart; index < n; index++) keep[work[index]] = 1;
}

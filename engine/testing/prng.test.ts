import { describe, expect, it } from 'vitest';
import { describeSeed, Prng, seedFromEnv, Zipf } from './prng.js';

const seed = seedFromEnv();
const because = describeSeed(seed);

/** Another valid seed `offset` away from `seed`, stepping down near the top of the range. */
function seedNear(seed: number, offset: number): number {
  return seed <= Number.MAX_SAFE_INTEGER - offset ? seed + offset : seed - offset;
}

function draws(prng: Prng, count: number): number[] {
  return Array.from({ length: count }, () => prng.nextUint32());
}

/**
 * A chi-square statistic has mean df and variance 2·df; eight standard deviations above the
 * mean is a bound a correct sampler crosses essentially never, whatever the seed.
 */
function chiSquareBound(degreesOfFreedom: number): number {
  return degreesOfFreedom + 8 * Math.sqrt(2 * degreesOfFreedom);
}

describe('Prng', () => {
  it('replays the same sequence for the same seed and stream', () => {
    expect(draws(new Prng(seed), 64), because).toEqual(draws(new Prng(seed), 64));
    expect(draws(new Prng(seed, 3), 64), because).toEqual(draws(new Prng(seed, 3), 64));
  });

  it('gives different sequences for different seeds and streams', () => {
    const base = draws(new Prng(seed), 16);
    expect(draws(new Prng(seedNear(seed, 1)), 16), because).not.toEqual(base);
    expect(draws(new Prng(seed, 1), 16), because).not.toEqual(base);
    // Seeds beyond 32 bits must not alias their low word.
    expect(draws(new Prng(2 ** 32 + 5), 16)).not.toEqual(draws(new Prng(5), 16));
  });

  it('matches a pinned sequence, so a seed means the same thing on every machine', () => {
    // Changing these values changes what every recorded SEED= means: do it deliberately.
    expect(draws(new Prng(12345), 4)).toEqual([4195608079, 3175746270, 1386719479, 218109889]);
    const stream = new Prng(12345, 2);
    expect(stream.next()).toBe(0.275816255947575);
    expect(stream.int(1_000)).toBe(345);
    expect(stream.range(5, 12)).toBe(6);
  });

  it('keeps next, int, range and uniform inside their bounds', () => {
    const prng = new Prng(seed);
    const seen = new Set<number>();
    let outOfBounds = 0;
    for (let index = 0; index < 20_000; index++) {
      const unit = prng.next();
      if (!(unit >= 0 && unit < 1)) outOfBounds++;
      const small = prng.int(7);
      if (!(Number.isInteger(small) && small >= 0 && small < 7)) outOfBounds++;
      const inclusive = prng.range(-2, 2);
      if (!(inclusive >= -2 && inclusive <= 2)) outOfBounds++;
      seen.add(inclusive);
      const float = prng.uniform(2.5, 5);
      if (!(float >= 2.5 && float < 5)) outOfBounds++;
    }
    expect(outOfBounds, because).toBe(0);
    expect([...seen].sort(), because).toEqual([-1, -2, 0, 1, 2]);
    expect(prng.int(1)).toBe(0);
    expect(prng.range(9, 9)).toBe(9);
  });

  it('spreads int() evenly (chi-square over 16 buckets)', () => {
    const prng = new Prng(seed);
    const buckets = new Array<number>(16).fill(0);
    const samples = 64_000;
    for (let index = 0; index < samples; index++) buckets[prng.int(16)]++;
    const expected = samples / 16;
    const chiSquare = buckets.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    expect(chiSquare, because).toBeLessThan(chiSquareBound(15));
  });

  it('refuses bad bounds and seeds', () => {
    const prng = new Prng(seed);
    expect(() => prng.int(0)).toThrow(RangeError);
    expect(() => prng.int(2.5)).toThrow(RangeError);
    expect(() => prng.range(3, 2)).toThrow(RangeError);
    expect(() => prng.pick([])).toThrow(RangeError);
    expect(() => new Prng(1.5)).toThrow(RangeError);
    expect(() => new Prng(Number.NaN)).toThrow(RangeError);
  });

  it('shuffles into a permutation, in place', () => {
    const prng = new Prng(seed);
    const xs = Array.from({ length: 100 }, (_, index) => index);
    const shuffled = prng.shuffle(xs);
    expect(shuffled).toBe(xs);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 100 }, (_, index) => index),
    );
    expect(shuffled, because).not.toEqual(Array.from({ length: 100 }, (_, index) => index));
  });

  it('picks every element of a list', () => {
    const prng = new Prng(seed);
    const picked = new Set<string>();
    for (let index = 0; index < 200; index++) picked.add(prng.pick(['a', 'b', 'c']));
    expect([...picked].sort(), because).toEqual(['a', 'b', 'c']);
  });

  it('draws standard normals (mean ≈ 0, variance ≈ 1)', () => {
    const prng = new Prng(seed);
    const samples = 40_000;
    let sum = 0;
    let sumSquares = 0;
    for (let index = 0; index < samples; index++) {
      const value = prng.gaussian();
      sum += value;
      sumSquares += value * value;
    }
    const mean = sum / samples;
    // Standard error of the mean is 0.005 and of the variance about 0.007.
    expect(Number.isFinite(sumSquares), because).toBe(true);
    expect(Math.abs(mean), because).toBeLessThan(0.04);
    expect(Math.abs(sumSquares / samples - mean * mean - 1), because).toBeLessThan(0.06);
  });
});

describe('seedFromEnv and describeSeed', () => {
  it('takes SEED from the environment when set', () => {
    expect(seedFromEnv(undefined, { SEED: '42' })).toBe(42);
    expect(seedFromEnv(7, { SEED: ' -9 ' })).toBe(-9);
  });

  it('falls back to the default, then to a fresh random seed', () => {
    expect(seedFromEnv(7, {})).toBe(7);
    expect(seedFromEnv(7, { SEED: '' })).toBe(7);
    const fresh = seedFromEnv(undefined, {});
    expect(Number.isSafeInteger(fresh) && fresh >= 0 && fresh < 2 ** 32).toBe(true);
  });

  it('refuses a SEED that is not an integer', () => {
    expect(() => seedFromEnv(undefined, { SEED: 'abc' })).toThrow(/SEED must be an integer/);
    expect(() => seedFromEnv(undefined, { SEED: '1.5' })).toThrow(RangeError);
    expect(() => seedFromEnv(undefined, { SEED: '1e3' })).toThrow(RangeError);
    expect(() => seedFromEnv(undefined, { SEED: '99999999999999999999' })).toThrow(RangeError);
  });

  it('names the seed the way the shell replays it', () => {
    expect(describeSeed(123)).toBe('SEED=123');
  });
});

describe('Zipf', () => {
  it('has probabilities that sum to 1 and fall with rank', () => {
    const zipf = new Zipf(1_000, 1.1, new Prng(seed));
    let total = 0;
    for (let rank = 0; rank < zipf.n; rank++) total += zipf.probability(rank);
    expect(total).toBeCloseTo(1, 10);
    expect(zipf.probability(0)).toBeGreaterThan(zipf.probability(1));
    expect(zipf.probability(1) / zipf.probability(3)).toBeCloseTo(2 ** 1.1, 10);
    expect(zipf.probability(-1)).toBe(0);
    expect(zipf.probability(1_000)).toBe(0);
  });

  it('samples the distribution it claims (chi-square over 50 ranks)', () => {
    const zipf = new Zipf(50, 1.2, new Prng(seed));
    const samples = 100_000;
    const counts = new Array<number>(zipf.n).fill(0);
    let outOfRange = 0;
    for (let index = 0; index < samples; index++) {
      const rank = zipf.next();
      if (Number.isInteger(rank) && rank >= 0 && rank < zipf.n) counts[rank]++;
      else outOfRange++;
    }
    expect(outOfRange, because).toBe(0);
    let chiSquare = 0;
    for (let rank = 0; rank < zipf.n; rank++) {
      const expected = samples * zipf.probability(rank);
      chiSquare += (counts[rank] - expected) ** 2 / expected;
    }
    expect(chiSquare, because).toBeLessThan(chiSquareBound(zipf.n - 1));
    // Rank-frequency: the head dominates in the ratio the exponent says (2^1.2 ≈ 2.3).
    expect(counts[0] / counts[1], because).toBeGreaterThan(2);
    expect(counts[0] / counts[1], because).toBeLessThan(2.6);
  });

  it('is uniform at exponent 0 and constant when n is 1', () => {
    const uniform = new Zipf(10, 0, new Prng(seed));
    expect(uniform.probability(0)).toBeCloseTo(0.1, 12);
    expect(uniform.probability(9)).toBeCloseTo(0.1, 12);
    const single = new Zipf(1, 1, new Prng(seed));
    for (let index = 0; index < 100; index++) expect(single.next()).toBe(0);
  });

  it('replays the same ranks for the same seed', () => {
    const left = new Zipf(5_000, 0.99, new Prng(seed));
    const right = new Zipf(5_000, 0.99, new Prng(seed));
    const a = Array.from({ length: 256 }, () => left.next());
    const b = Array.from({ length: 256 }, () => right.next());
    expect(a, because).toEqual(b);
  });

  it('refuses bad parameters', () => {
    const prng = new Prng(seed);
    expect(() => new Zipf(0, 1, prng)).toThrow(RangeError);
    expect(() => new Zipf(10.5, 1, prng)).toThrow(RangeError);
    expect(() => new Zipf(10, -1, prng)).toThrow(RangeError);
    expect(() => new Zipf(10, Number.POSITIVE_INFINITY, prng)).toThrow(RangeError);
  });
});

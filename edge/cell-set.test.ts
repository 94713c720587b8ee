/**
 * CellSet against a plain Set as the model: seeded random adds, duplicates, the capacity
 * bound, and clears that leave the table reusable.
 */

import { describe, expect, it } from 'vitest';
import { describeSeed, Prng, seedFromEnv } from '../engine/testing/index.js';
import { CellSet } from './cell-set.js';

const SEED = seedFromEnv();

describe(`CellSet (${describeSeed(SEED)})`, () => {
  it('holds each added id once, in insertion order, up to its capacity', () => {
    const prng = new Prng(SEED, 1);
    const set = new CellSet(1_000);
    for (let round = 0; round < 20; round++) {
      const model = new Set<number>();
      const order: number[] = [];
      for (let step = 0; step < 3_000; step++) {
        const cell = prng.int(prng.chance(0.5) ? 1_500 : 0x7fff_ffff);
        const added = set.add(cell);
        const fits = model.has(cell) || model.size < set.capacity;
        expect(added, describeSeed(SEED)).toBe(fits);
        if (fits && !model.has(cell)) {
          model.add(cell);
          order.push(cell);
        }
      }
      expect(set.count).toBe(model.size);
      expect(Array.from(set.view())).toEqual(order);
      expect(Array.from(set.copy())).toEqual(order);
      for (const cell of order) expect(set.has(cell)).toBe(true);
      expect(set.has(-5)).toBe(false);
      set.clear();
      expect(set.count).toBe(0);
      for (const cell of order.slice(0, 50)) expect(set.has(cell)).toBe(false);
    }
  });

  it('refuses a capacity out of range', () => {
    expect(() => new CellSet(0)).toThrow(RangeError);
    expect(() => new CellSet(1.5)).toThrow(RangeError);
    expect(new CellSet(1).full).toBe(false);
  });
});

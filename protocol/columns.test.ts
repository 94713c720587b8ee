/** Columns read from the wire: exact lengths, aligned copies, never a view of the source. */

import { describe, expect, it } from 'vitest';
import { f64Column, i32Column, readF64Column, readI32Column } from './columns.js';

describe('readI32Column / readF64Column', () => {
  it('reads a column at any offset of a Buffer or a Uint8Array, as its values', () => {
    const ints = Int32Array.of(7, -1, 2_000_000_000, 0);
    const floats = Float64Array.of(1.5, -2.25, 1_780_000_000_000);
    for (const offset of [0, 1, 2, 3, 5]) {
      for (const wrap of [
        (bytes: Uint8Array) => bytes,
        (bytes: Uint8Array) => Buffer.from(bytes),
      ]) {
        const i32 = new Uint8Array(offset + 16);
        i32.set(i32Column(ints, 4), offset);
        expect([...readI32Column(wrap(i32).subarray(offset), 4)!]).toEqual([...ints]);
        const f64 = new Uint8Array(offset + 24);
        f64.set(f64Column(floats, 3), offset);
        expect([...readF64Column(wrap(f64).subarray(offset), 3)!]).toEqual([...floats]);
      }
    }
  });

  it('refuses a column of the wrong length or type', () => {
    expect(readI32Column(new Uint8Array(15), 4)).toBeUndefined();
    expect(readI32Column([1, 2, 3, 4], 4)).toBeUndefined();
    expect(readF64Column(new Uint8Array(16), 3)).toBeUndefined();
  });
});

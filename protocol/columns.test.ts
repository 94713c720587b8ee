/** Columns read from the wire: exact lengths, views when aligned, aligned copies otherwise. */

import { describe, expect, it } from 'vitest';
import {
  binBytesOf,
  ColumnCopies,
  f64Column,
  i32Column,
  readF64Column,
  readI32Column,
} from './columns.js';

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

describe('ColumnCopies', () => {
  /** A frame holding an i32 column at byte 1 and an f64 column at byte 19: both unaligned. */
  function unalignedFrame() {
    const frame = new Uint8Array(64);
    frame.set(i32Column(Int32Array.of(1, 2, 3, 4), 4), 1);
    frame.set(f64Column(Float64Array.of(0.5, -7), 2), 19);
    return { ints: frame.subarray(1, 17), floats: frame.subarray(19, 35), frame };
  }

  it("copies one answer's unaligned columns into one buffer, each aligned", () => {
    const { ints, floats, frame } = unalignedFrame();
    const body = { ints, floats, other: 'x' };
    const capacity = binBytesOf(body, ['ints', 'floats', 'missing']);
    expect(capacity).toBe(16 + 16);
    const copies = new ColumnCopies(capacity);
    const i32 = readI32Column(ints, 4, copies)!;
    const f64 = readF64Column(floats, 2, copies)!;
    expect([...i32]).toEqual([1, 2, 3, 4]);
    expect([...f64]).toEqual([0.5, -7]);
    expect(i32.buffer).toBe(f64.buffer);
    expect(i32.buffer).not.toBe(frame.buffer);
    expect(f64.byteOffset % 8).toBe(0);
    // Copies: the frame's bytes may change afterwards.
    frame.fill(0);
    expect([...i32]).toEqual([1, 2, 3, 4]);
  });

  it('reads an aligned column as a view, and copies past the capacity on their own', () => {
    const frame = new Uint8Array(32);
    frame.set(i32Column(Int32Array.of(9, 8), 2), 8);
    const view = readI32Column(frame.subarray(8, 16), 2, new ColumnCopies(0))!;
    expect(view.buffer).toBe(frame.buffer);
    const { ints, floats } = unalignedFrame();
    const small = new ColumnCopies(16);
    const first = readI32Column(ints, 4, small)!;
    const second = readF64Column(floats, 2, small)!;
    expect([...second]).toEqual([0.5, -7]);
    expect(second.buffer).not.toBe(first.buffer);
  });
});

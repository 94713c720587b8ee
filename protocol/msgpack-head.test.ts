/** MessagePack headers read and written in place agree with msgpackr, at every form's edges. */

import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  arrayCountAt,
  headLength,
  mapCountAt,
  writeArrayHead,
  writeMapHead,
} from './msgpack-head.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const COUNTS = [0, 1, 15, 16, 255, 256, 65_535, 65_536, 70_001];

function mapOf(count: number): Record<string, number> {
  const map: Record<string, number> = {};
  for (let at = 0; at < count; at++) map[`k${at}`] = 0;
  return map;
}

describe('MessagePack headers', () => {
  it('writes the header msgpackr writes, and reads it back with its length', () => {
    for (const count of COUNTS) {
      const packedArray = packr.pack(new Array(count).fill(0));
      const packedMap = packr.pack(mapOf(count));
      const bytes = new Uint8Array(8);
      const arrayLength = writeArrayHead(bytes, 2, count);
      expect([...bytes.subarray(2, 2 + arrayLength)]).toEqual([
        ...packedArray.subarray(0, arrayLength),
      ]);
      expect(arrayCountAt(packedArray, 0)).toBe(count);
      expect(headLength(packedArray[0])).toBe(arrayLength);
      const mapLength = writeMapHead(bytes, 1, count);
      expect([...bytes.subarray(1, 1 + mapLength)]).toEqual([...packedMap.subarray(0, mapLength)]);
      expect(mapCountAt(packedMap, 0)).toBe(count);
      expect(headLength(packedMap[0])).toBe(mapLength);
    }
  });

  it('answers -1 for another type, or a header cut short by `end`', () => {
    const array16 = Uint8Array.of(0xdc, 0x01, 0x00);
    expect(arrayCountAt(array16, 0)).toBe(256);
    expect(arrayCountAt(array16, 0, 2)).toBe(-1);
    expect(mapCountAt(array16, 0)).toBe(-1);
    expect(arrayCountAt(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), 0)).toBe(0xffff_ffff);
    expect(arrayCountAt(Uint8Array.of(0xdd, 0, 0, 1), 0)).toBe(-1);
    expect(arrayCountAt(Uint8Array.of(0xa3), 0)).toBe(-1);
    expect(arrayCountAt(new Uint8Array(0), 0)).toBe(-1);
    expect(mapCountAt(Uint8Array.of(0, 0x8f), 1)).toBe(15);
  });
});

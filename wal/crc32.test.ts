import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { describeSeed, Prng, seedFromEnv } from '../engine/testing/index.js';
import { crc32, crc32Uint32 } from './crc32.js';

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('matches zlib on random buffers of every small length and continues', () => {
    const seed = seedFromEnv();
    const prng = new Prng(seed);
    try {
      for (let length = 0; length < 300; length++) {
        const bytes = new Uint8Array(length);
        for (let i = 0; i < length; i++) bytes[i] = prng.nextUint32() & 0xff;
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
        const cut = length >> 1;
        expect(crc32(bytes, cut, length, crc32(bytes, 0, cut))).toBe(zlibCrc32(bytes));
      }
    } catch (error) {
      console.error(describeSeed(seed));
      throw error;
    }
  });

  it('continues over a little-endian u32', () => {
    const bytes = Buffer.from([1, 2, 3, 0x78, 0x56, 0x34, 0x12]);
    expect(crc32Uint32(0x12345678, crc32(bytes, 0, 3))).toBe(zlibCrc32(bytes));
  });
});

import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Prng, seedFromEnv } from '../engine/testing/index.js';
import { RecordWriter } from './record-writer.js';
import { EDGE_NUMBERS } from './testing/records.js';

const unpackr = new Unpackr({ mapsAsObjects: true, int64AsType: 'number', useRecords: false });
const packr = new Packr({ useRecords: false, variableMapSize: false, useFloat32: 0 });

function randomString(prng: Prng, long = false): string {
  const length = long && prng.int(40) === 0 ? prng.int(70_000) : prng.int(40);
  let text = '';
  for (let index = 0; index < length; index++) {
    const pick = prng.int(10);
    if (pick < 7) text += String.fromCharCode(32 + prng.int(95));
    else if (pick < 9) text += String.fromCharCode(0xa0 + prng.int(0x700));
    else text += '😀';
  }
  return text;
}

function randomValue(prng: Prng, depth: number): unknown {
  const pick = prng.int(depth > 4 ? 4 : 7);
  switch (pick) {
    case 0:
      return EDGE_NUMBERS[prng.int(EDGE_NUMBERS.length)];
    case 1:
      return prng.int(2) === 0 ? prng.int(1 << 30) - (1 << 29) : prng.uniform(-1e6, 1e6);
    case 2:
      return randomString(prng, depth < 2);
    case 3:
      return [true, false, null][prng.int(3)];
    case 4:
    case 5:
      return Array.from({ length: prng.int(20) }, () => randomValue(prng, depth + 1));
    default: {
      const value: Record<string, unknown> = {};
      const keys = prng.int(20);
      for (let key = 0; key < keys; key++)
        value[`k${key}${prng.int(1000)}`] = randomValue(prng, depth + 1);
      return value;
    }
  }
}

describe('RecordWriter', () => {
  it('writes MessagePack that msgpackr reads back exactly (seeded)', () => {
    const seed = seedFromEnv(4242);
    const prng = new Prng(seed);
    const writer = new RecordWriter(1 << 22);
    try {
      for (let round = 0; round < 400; round++) {
        const value = randomValue(prng, 0);
        const bytes = writer.encode(value);
        const back = unpackr.unpack(bytes);
        expect(back).toEqual(value);
        // The same value as msgpackr itself would carry it.
        expect(back).toEqual(unpackr.unpack(packr.pack(value)));
      }
    } catch (error) {
      throw new Error(`seed ${seed}: ${String(error)}`);
    }
  });

  it('writes place records (its fast path) exactly as the generic path would', () => {
    const prng = new Prng(seedFromEnv(77));
    // A small first buffer, so long ids and allocations make the fast path grow it.
    const writer = new RecordWriter(1 << 20);
    const number = (typical: () => number) =>
      prng.int(8) === 0 ? EDGE_NUMBERS[prng.int(EDGE_NUMBERS.length)] : typical();
    for (let round = 0; round < 2_000; round++) {
      const record: Record<string, unknown> = {
        type: 'place',
        at: number(() => 1_700_000_000_000 + prng.int(1 << 30)),
        orderId: randomString(prng, round % 50 === 0) || 'o',
        mode: number(() => prng.int(2)),
        policy: number(() => prng.int(2)),
        lat: number(() => prng.uniform(-90, 90)),
        lng: number(() => prng.uniform(-180, 180)),
        etaMinutes: number(() => prng.uniform(0, 120)),
        expiresAt: prng.int(2) === 0 ? 0 : 1_700_000_600_000,
        fingerprint: number(() => prng.int(1 << 30) - (1 << 29)),
        allocation: Array.from({ length: 3 * (1 + prng.int(round % 10 === 0 ? 300 : 5)) }, () =>
          number(() => prng.int(100_000)),
        ),
      };
      if (round % 7 === 0) delete record.allocation;
      const fast = writer.encode(record).slice();
      expect(unpackr.unpack(fast)).toEqual(record);
      // The same map inside an array goes through the generic path: after the array's
      // one-byte header, the bytes must be the same.
      const generic = writer.encode([record]).slice(1);
      expect(Buffer.from(fast).equals(Buffer.from(generic)), `round ${round}`).toBe(true);
    }
  });

  it('leaves out undefined values and refuses what MessagePack records never carry', () => {
    const writer = new RecordWriter(64);
    expect(unpackr.unpack(writer.encode({ a: 1, b: undefined }))).toEqual({ a: 1 });
    expect(() => writer.encode({ f: () => 1 })).toThrow(TypeError);
    expect(() => writer.encode('x'.repeat(100))).toThrow(RangeError);
    // A refused value leaves the writer usable.
    expect(unpackr.unpack(writer.encode([1, 'two']))).toEqual([1, 'two']);
  });
});

/**
 * PlaceRecordReader reads `place` records exactly as msgpackr reads them, or gives up: on
 * records RecordWriter writes (numbers at every form's boundary, long and non-ASCII ids, long
 * allocations), on the same records with keys reordered or missing, and on damaged bytes.
 */

import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Prng, seedFromEnv } from '../engine/testing/index.js';
import { PlaceRecordReader } from './record-reader.js';
import { RecordWriter } from './record-writer.js';
import { EDGE_NUMBERS } from './testing/records.js';

const unpackr = new Unpackr({ mapsAsObjects: true, int64AsType: 'number', useRecords: false });
/** msgpackr's own writer, for maps in other key orders (RecordWriter writes `place` in one). */
const packr = new Packr({ useRecords: false, variableMapSize: false, useFloat32: 0 });

/** The writer's boundary numbers, and the non-finite ones (float 64 for both readers). */
const NUMBERS = [...EDGE_NUMBERS, Number.NaN, Number.POSITIVE_INFINITY];

function number(prng: Prng): number {
  const pick = prng.int(3);
  if (pick === 0) return NUMBERS[prng.int(NUMBERS.length)];
  return pick === 1 ? prng.int(1 << 30) - (1 << 29) : prng.uniform(-1e6, 1e6);
}

function orderId(prng: Prng): string {
  const length = prng.int(10) === 0 ? prng.int(70_000) : 1 + prng.int(40);
  let text = '';
  for (let index = 0; index < length; index++) {
    text += prng.int(400) === 0 ? 'é' : String.fromCharCode(32 + prng.int(95));
  }
  return text;
}

function placeRecord(prng: Prng): Record<string, unknown> {
  const allocationLength = prng.int(20) === 0 ? prng.int(70_000) : 3 * prng.int(6);
  return {
    type: 'place',
    at: number(prng),
    orderId: orderId(prng),
    mode: number(prng),
    policy: number(prng),
    lat: number(prng),
    lng: number(prng),
    etaMinutes: number(prng),
    expiresAt: number(prng),
    fingerprint: number(prng),
    allocation: Array.from({ length: allocationLength }, () => number(prng)),
  };
}

/** The same values and the same keys in the same order (NaN equal to NaN). */
function same(actual: unknown, expected: unknown): boolean {
  return JSON.stringify(actual, replacer) === JSON.stringify(expected, replacer);
}

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? `n:${value}` : value;
}

describe('PlaceRecordReader', () => {
  it('reads written place records exactly as msgpackr does, or gives up (seeded)', () => {
    const seed = seedFromEnv(9090);
    const prng = new Prng(seed);
    const writer = new RecordWriter(1 << 22);
    const reader = new PlaceRecordReader();
    let read = 0;
    for (let round = 0; round < 600; round++) {
      const bytes = Uint8Array.from(writer.encode(placeRecord(prng)));
      const fast = reader.read(bytes, 0);
      const slow = unpackr.unpack(bytes);
      if (fast === undefined) continue;
      read++;
      expect(same(fast, slow), `seed ${seed} round ${round}`).toBe(true);
    }
    // Most records have an ASCII id and no NaN: the reader must take them.
    expect(read, `seed ${seed}`).toBeGreaterThan(200);
  });

  it('gives up on other records, keys out of order or missing, and extra bytes', () => {
    const writer = new RecordWriter(1 << 20);
    const reader = new PlaceRecordReader();
    const record: Record<string, unknown> = {
      type: 'place',
      at: 1_700_000_000_123,
      orderId: 'order-1',
      mode: 1,
      policy: 0,
      lat: 12.5,
      lng: 77.5,
      etaMinutes: 10,
      expiresAt: 0,
      fingerprint: -7,
      allocation: [0, 1, 2],
    };
    expect(same(reader.read(Uint8Array.from(writer.encode(record)), 0), record)).toBe(true);
    const { type, lat, allocation, ...rest } = record;
    const written = (value: unknown) => Uint8Array.from(writer.encode(value));
    const cases: Uint8Array[] = [
      written({ type, lat, ...rest }),
      written({ type, lat, ...rest, allocation: [0, 'x', 2] }),
      written({ ...record, type: 'cancel' }),
      written({ type: 'cancel', orderId: 'order-1', at: 5 }),
      // The same entries as a place record, in another key order (msgpackr's own writer).
      Uint8Array.from(packr.pack({ lat, type, ...rest, allocation })),
      Uint8Array.from(packr.pack({ type, ...rest, lat, allocation })),
      Uint8Array.from([...writer.encode(record), 0xc0]),
    ];
    for (const bytes of cases) expect(reader.read(bytes, 0)).toBeUndefined();
    // msgpackr's writer in RecordWriter's key order, but its map 16 header: not the writer's.
    expect(reader.read(Uint8Array.from(packr.pack(record)), 0)).toBeUndefined();
  });

  it('never reads damaged bytes differently from msgpackr (seeded)', () => {
    const seed = seedFromEnv(9292);
    const prng = new Prng(seed);
    const writer = new RecordWriter(1 << 20);
    const reader = new PlaceRecordReader();
    for (let round = 0; round < 3_000; round++) {
      const record: Record<string, unknown> = { ...placeRecord(prng), orderId: `order-${round}` };
      if ((record.allocation as number[]).length > 60) record.allocation = [1, 2, 3];
      const bytes = Uint8Array.from(writer.encode(record));
      const flips = 1 + prng.int(3);
      for (let flip = 0; flip < flips; flip++) bytes[prng.int(bytes.length)] ^= 1 << prng.int(8);
      const cut = prng.int(4) === 0 ? bytes.subarray(0, prng.int(bytes.length)) : bytes;
      const fast = reader.read(cut, 0);
      if (fast === undefined) continue;
      let slow: unknown;
      try {
        slow = unpackr.unpack(cut);
      } catch (error) {
        throw new Error(`seed ${seed} round ${round}: read what msgpackr refuses (${error})`);
      }
      expect(same(fast, slow), `seed ${seed} round ${round}`).toBe(true);
    }
  });
});

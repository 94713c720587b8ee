/**
 * BatchEncoder against the codec: for seeded random batches (ASCII and non-ASCII ids, ids
 * across the fixstr / str8 boundary, every option combination, counts across the fixarray,
 * array16, bin8 and bin16 boundaries), the bytes it writes are exactly the codec's encoding of
 * the reference args (placeOrdersArgs, availabilityManyArgs), and a frame joined from its
 * pieces is exactly the codec's frame. Replay a failure with SEED=<seed>.
 */

import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { WireCodec } from '../codec.js';
import type { WireRequest } from '../messages.js';
import { type AvailabilityQuery, availabilityManyArgs } from './availability-batch.js';
import { BatchEncoder, SKU_IDS_CACHED_MAX } from './batch-encoder.js';
import { type OrderOptions, type PlaceOrderInput, placeOrdersArgs } from './order-batch.js';
import { SkuRefs } from './sku-refs.js';

const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
const ROUNDS = 200;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABETS = ['abcdefghijklmnopqrstuvwxyz0123456789-_', 'ßçéñ€中文', '😀🚀'];

function idOf(random: () => number): string {
  const length = 1 + Math.floor(random() * (random() < 0.2 ? 40 : 20));
  const alphabet = random() < 0.8 ? ALPHABETS[0] : ALPHABETS[1 + Math.floor(random() * 2)];
  const units = [...alphabet];
  let id = '';
  while ([...id].length < length) id += units[Math.floor(random() * units.length)];
  // Ids are at most 64 bytes of UTF-8: trim whole code points until it fits.
  while (Buffer.byteLength(id) > 64) id = [...id].slice(0, -1).join('');
  return id;
}

function pick<T>(random: () => number, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)];
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('BatchEncoder', () => {
  it(`writes placeOrders exactly as the codec encodes the reference args (SEED=${SEED})`, () => {
    const random = prng(SEED);
    const codec = new WireCodec();
    const encoder = new BatchEncoder();
    for (let round = 0; round < ROUNDS; round++) {
      const count = pick(random, [1, 2, 15, 16, 17, 31, 32, 40, 300]);
      const orders: PlaceOrderInput[] = Array.from({ length: count }, () => ({
        orderId: idOf(random),
        location: { lat: (random() - 0.5) * 180, lng: (random() - 0.5) * 360 },
        lines: Array.from({ length: 1 + Math.floor(random() * 4) }, () => ({
          sku: idOf(random),
          qty: pick(random, [1, 127, 128, 65_536, 0x7fff_ffff]),
        })),
        mode: 'hold',
      }));
      const options: OrderOptions = {
        mode: pick(random, ['hold', 'commit'] as const),
        policy: pick(random, [undefined, 'single-dc', 'split'] as const),
        ttlSeconds: pick(random, [undefined, 1, 200, 86_400]),
        maxMinutes: pick(random, [undefined, 0.5, 30, 1440]),
      };
      let lines = 0;
      for (const order of orders) {
        for (const line of order.lines) encoder.isCarriedSku(line.sku);
        lines += order.lines.length;
      }
      const bytes = encoder.placeOrders(count, lines, options, (entry) => orders[entry]);
      const reference = codec.encodeValue(placeOrdersArgs(count, lines, options, (e) => orders[e]));
      expect(hex(bytes), `round ${round}`).toBe(hex(reference));
    }
  });

  it(`writes availabilityMany exactly as the codec encodes the reference args (SEED=${SEED})`, () => {
    const random = prng(SEED + 1);
    const codec = new WireCodec();
    const encoder = new BatchEncoder();
    for (let round = 0; round < ROUNDS; round++) {
      const count = pick(random, [1, 3, 16, 40]);
      const queries: AvailabilityQuery[] = Array.from({ length: count }, () => ({
        lat: (random() - 0.5) * 180,
        lng: (random() - 0.5) * 360,
        skus: Array.from({ length: 1 + Math.floor(random() * 30) }, () => idOf(random)),
      }));
      const maxMinutes = pick(random, [undefined, 12.5, 45]);
      const breakdown = random() < 0.5;
      // Some rounds encode SKUs it has not checked (the cache may have started again), some
      // ids it checked one by one, some lists it checked whole.
      const checks = random();
      for (const query of queries) {
        if (checks < 0.33) query.skus.forEach(encoder.isCarriedSku);
        else if (checks < 0.66) encoder.areCarriedSkus(query.skus);
      }
      const skus = queries.reduce((sum, query) => sum + query.skus.length, 0);
      const counts = new Int32Array(count);
      const bytes = encoder.availabilityMany(
        count,
        skus,
        maxMinutes,
        breakdown,
        (entry) => queries[entry],
        counts,
      );
      const reference = availabilityManyArgs(count, skus, { maxMinutes, breakdown }, (entry) => {
        return queries[entry];
      });
      expect(hex(bytes), `round ${round}`).toBe(hex(codec.encodeValue(reference.args)));
      expect([...counts]).toEqual([...reference.skuCounts]);
    }
  });

  it('joins a frame from envelopes and encoded args exactly as the codec frames it', () => {
    const codec = new WireCodec();
    const encoder = new BatchEncoder();
    const args = { versions: [2, 1] };
    for (const id of [1, 127, 128, 255, 256, 65_535, 65_536, 0xffff_ffff]) {
      const requests: WireRequest[] = [
        [id, 'hello', args],
        [id, 'placeOrders', args],
      ];
      const joined = Buffer.concat([
        encoder.frameHeader(2),
        codec.encodeValue(requests[0]),
        encoder.envelope(id, 'placeOrders'),
        codec.encodeValue(args),
      ]);
      expect(hex(joined)).toBe(hex(codec.encodeRequests(requests)));
    }
    expect(hex(encoder.frameHeader(1024))).toBe('dc0400');
  });

  it('keeps only valid SKU ids, and starts again when the cache is full', () => {
    const encoder = new BatchEncoder();
    expect(encoder.isCarriedSku('milk')).toBe(true);
    expect(encoder.isCarriedSku('milk')).toBe(true);
    for (const bad of ['', 'a'.repeat(65), 'tab\there', 42, null, '\ud800']) {
      expect(encoder.isCarriedSku(bad), String(bad)).toBe(false);
    }
    for (let index = 0; index <= SKU_IDS_CACHED_MAX; index++) encoder.isCarriedSku(`s-${index}`);
    // Still answers correctly after starting again.
    expect(encoder.isCarriedSku('milk')).toBe(true);
    expect(encoder.isCarriedSku('')).toBe(false);
  });

  it('checks a SKU list seen before again when it changed in place', () => {
    const codec = new WireCodec();
    const encoder = new BatchEncoder();
    const skus = ['milk', 'bread', 'eggs'];
    const query = { lat: 1, lng: 2, skus };
    const encode = () => {
      const counts = new Int32Array(1);
      return hex(encoder.availabilityMany(1, skus.length, undefined, true, () => query, counts));
    };
    const reference = () => {
      const args = availabilityManyArgs(
        1,
        skus.length,
        { maxMinutes: undefined, breakdown: true },
        () => query,
      );
      return hex(codec.encodeValue(args.args));
    };
    expect(encoder.areCarriedSkus(skus)).toBe(true);
    expect(encode()).toBe(reference());
    skus[1] = 'butter';
    expect(encode()).toBe(reference());
    expect(encoder.areCarriedSkus(skus)).toBe(true);
    skus.push('jam');
    expect(encoder.areCarriedSkus(skus)).toBe(true);
    expect(encode()).toBe(reference());
    skus[0] = 'bad\u0007id';
    expect(encoder.areCarriedSkus(skus)).toBe(false);
  });

  it('names SKUs by ref: defines each until the node confirmed it, and falls back when full', () => {
    const encoder = new BatchEncoder();
    const refs = new SkuRefs(4);
    const queries = [
      { lat: 1, lng: 2, skus: ['milk', 'eggs'] },
      { lat: 3, lng: 4, skus: ['eggs', 'tea'] },
    ];
    const encode = (batch: typeof queries, options = { maxMinutes: 30, breakdown: false }) => {
      const counts = new Int32Array(batch.length);
      const total = batch.reduce((sum, query) => sum + query.skus.length, 0);
      const bytes = encoder.availabilityMany(
        batch.length,
        total,
        options.maxMinutes,
        options.breakdown,
        (entry) => batch[entry],
        counts,
        refs,
      );
      const args = unpack(bytes) as Record<string, unknown>;
      const column = (name: string) => {
        const value = args[name] as Uint8Array | undefined;
        if (value === undefined) return undefined;
        const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
        return Array.from({ length: value.byteLength / 4 }, (_, at) => view.getInt32(at * 4, true));
      };
      return { args, refs: column('skuRefs'), defineRefs: column('defineRefs') };
    };
    const first = encode(queries);
    expect(first.refs).toEqual([0, 1, 1, 2]);
    expect(first.defineRefs).toEqual([0, 1, 2]);
    expect(first.args.defineSkus).toEqual(['milk', 'eggs', 'tea']);
    expect(first.args).toMatchObject({ queries: 2, maxMinutes: 30, breakdown: false });
    expect(first.args.skus).toBeUndefined();
    expect(Object.keys(first.args)).toHaveLength(9);
    expect([...encoder.defined!]).toEqual([0, 1, 2]);
    // Not confirmed yet: a second request defines them again.
    expect(encode(queries.slice(1)).defineRefs).toEqual([1, 2]);
    refs.confirm(Int32Array.of(0, 1, 2));
    const known = encode(queries, { maxMinutes: 30, breakdown: true });
    expect(known.refs).toEqual([0, 1, 1, 2]);
    expect(known.defineRefs).toBeUndefined();
    expect(known.args.defineSkus).toBeUndefined();
    expect(encoder.defined).toBeNull();
    expect(Object.keys(known.args)).toHaveLength(6);
    // A fourth id takes the last ref; a fifth does not fit: that request names its SKUs by id.
    expect(encode([{ lat: 1, lng: 2, skus: ['jam', 'milk'] }]).refs).toEqual([3, 0]);
    const full = encode([{ lat: 1, lng: 2, skus: ['milk', 'butter'] }]);
    expect(full.refs).toBeUndefined();
    expect(full.args.skus).toEqual(['milk', 'butter']);
    expect(encoder.defined).toBeNull();
    expect(refs.size).toBe(4);
  });
});

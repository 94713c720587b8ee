import { describe, expect, it } from 'vitest';
import { describeSeed, Prng, seedFromEnv } from '../engine/testing/index.js';
import { mergeResults } from './ws-processes.js';
import { createLatencyHistogram, encodeHistogram, recordLatencyUs } from './histogram.js';
import { takeOrderCapacity } from './node-launcher-args.js';
import { OP_TYPES, type WsRunResult } from './ws-runner.js';
import {
  buildDataset,
  makeRunId,
  OrderIds,
  OrderSource,
  orderMixDefault,
  placeOrderArgs,
  QueryPool,
  QuerySource,
  sortAscending,
} from './workload.js';

const seed = seedFromEnv(11);
const context = describeSeed(seed);
const dataset = buildDataset({ seed, dcs: 6, skus: 300, stockPerCell: 1_000 });

describe('load-test dataset', () => {
  it('is a pure function of the seed, prefixed, all active, without per-order limits', () => {
    expect(buildDataset(dataset.options)).toEqual(dataset);
    expect(dataset.dcs).toHaveLength(6);
    expect(dataset.skus).toHaveLength(300);
    for (const dc of dataset.dcs) {
      expect(dc.id.startsWith('lt-')).toBe(true);
      expect(dc.active).toBe(true);
      expect((dc.radiusKm === undefined) !== (dc.area === undefined)).toBe(true);
    }
    for (const sku of dataset.skus) expect(sku.maxPerOrder).toBe(0);
    expect(new Set(dataset.skus.map((sku) => sku.id)).size).toBe(300);
    expect(() => buildDataset({ ...dataset.options, stockPerCell: 2 ** 31 })).toThrow(RangeError);
  });
});

describe('order and query sources', () => {
  it('draws orders with distinct SKUs in index order and quantities in range', () => {
    const source = new OrderSource(dataset, orderMixDefault(), 3);
    for (let draw = 0; draw < 2_000; draw++) {
      const order = source.next();
      expect(order.skuIndexes, context).toHaveLength(3);
      expect(new Set(order.skuIndexes).size, context).toBe(3);
      expect(
        [...order.skuIndexes].sort((a, b) => a - b),
        context,
      ).toEqual(order.skuIndexes);
      for (const qty of order.quantities) expect(qty >= 1 && qty <= 2, context).toBe(true);
      expect(order.dcIndex >= 0 && order.dcIndex < 6, context).toBe(true);
    }
  });

  it('sorts draws in place as Array.prototype.sort does, duplicates included', () => {
    const prng = new Prng(seed, 3);
    for (let trial = 0; trial < 500; trial++) {
      const values = Array.from({ length: prng.int(12) }, () => prng.int(8) - 2);
      const expected = [...values].sort((a, b) => a - b);
      sortAscending(values);
      expect(values, context).toEqual(expected);
    }
  });

  it('repeats the same sequence for the same seed and stream, and differs across streams', () => {
    const take = (stream: number) => {
      const source = new OrderSource(dataset, orderMixDefault(), stream);
      return Array.from({ length: 50 }, () => structuredClone(source.next()));
    };
    expect(take(1)).toEqual(take(1));
    expect(take(1)).not.toEqual(take(2));
  });

  it('puts the hot SKU on every order at the first DC in the hot scenario', () => {
    const source = new OrderSource(dataset, { ...orderMixDefault(), hotSku: true }, 0);
    for (let draw = 0; draw < 500; draw++) {
      const order = source.next();
      expect(order.dcIndex).toBe(0);
      expect(order.skuIndexes[0]).toBe(0);
      expect(new Set(order.skuIndexes).size).toBe(3);
    }
  });

  it('follows Zipf popularity: the first SKU is drawn far more than the hundredth', () => {
    const source = new OrderSource(dataset, orderMixDefault(), 9);
    const counts = new Int32Array(300);
    for (let draw = 0; draw < 20_000; draw++) {
      for (const sku of source.next().skuIndexes) counts[sku]++;
    }
    expect(counts[0], context).toBeGreaterThan(10 * counts[99]);
  });

  it('builds engine orders at the DC location, and queries of distinct SKUs', () => {
    const draw = new OrderSource(dataset, orderMixDefault(), 0).next();
    const args = placeOrderArgs(dataset, draw, 'order-1', 'commit');
    expect(args.location).toEqual(dataset.dcs[draw.dcIndex].location);
    expect(args.lines.map((line) => line.sku)).toEqual(
      draw.skuIndexes.map((index) => dataset.skus[index].id),
    );
    expect(args.policy).toBe('single-dc');
    const query = new QuerySource(dataset, 20, 1, 0).next();
    expect(new Set(query.skus).size).toBe(20);
    expect(Number.isFinite(query.lat) && Number.isFinite(query.lng)).toBe(true);
  });

  it('pools the source queries, the first ones, in turn', () => {
    const expected = new QuerySource(dataset, 20, 1, 3);
    const firsts = Array.from({ length: 5 }, () => expected.next());
    const pool = new QueryPool(new QuerySource(dataset, 20, 1, 3), 5);
    const handed = Array.from({ length: 12 }, () => pool.next());
    expect(handed.slice(0, 5)).toEqual(firsts);
    expect(handed[5]).toBe(handed[0]);
    expect(handed[11]).toBe(handed[1]);
    expect(new Set(handed).size).toBe(5);
    expect(() => new QueryPool(expected, 0)).toThrow(RangeError);
  });

  it('pools totals-only queries when asked for no breakdown, the same queries otherwise', () => {
    const withBreakdown = new QueryPool(new QuerySource(dataset, 20, 1, 4), 3);
    const totalsOnly = new QueryPool(new QuerySource(dataset, 20, 1, 4), 3, false);
    for (let turn = 0; turn < 3; turn++) {
      const full = withBreakdown.next();
      expect(full.breakdown).toBeUndefined();
      expect(totalsOnly.next()).toEqual({ ...full, breakdown: false });
    }
  });

  it('makes unique order ids within the 64-byte limit', () => {
    const runId = makeRunId(Date.now(), () => 0.999_999);
    const ids = new Set<string>();
    for (const stream of [0, 1, 35, 36]) {
      const source = new OrderIds(runId, stream);
      for (let index = 0; index < 1_000; index++) ids.add(source.next());
    }
    expect(ids.size).toBe(4_000);
    for (const id of ids) expect(Buffer.byteLength(id)).toBeLessThanOrEqual(64);
    expect(() => new OrderIds('Bad-Id', 0)).toThrow(RangeError);
  });
});

describe('merging generator results', () => {
  function result(stream: number, latenciesUs: number[], measuredMs: number): WsRunResult {
    const ops = {} as WsRunResult['ops'];
    for (const op of OP_TYPES) {
      const histogram = createLatencyHistogram();
      if (op === 'order') for (const latency of latenciesUs) recordLatencyUs(histogram, latency);
      ops[op] = {
        count: op === 'order' ? latenciesUs.length : 0,
        errors: op === 'order' && stream === 1 ? { OUT_OF_STOCK: 2 } : {},
        histogram: encodeHistogram(histogram),
      };
    }
    return { stream, measuredMs, ops, unitsPlaced: 10 * stream, unitsFulfilled: stream };
  }

  it('adds counts, errors and units, merges histograms, and divides by the longest window', () => {
    const merged = mergeResults([
      result(0, [100, 200, 300], 1_000),
      result(1, [400, 500, 600, 700], 2_000),
    ]);
    expect(merged.measuredMs).toBe(2_000);
    expect(merged.ops.map((entry) => entry.op)).toEqual(['order']);
    const order = merged.ops[0];
    expect(order.row.count).toBe(7);
    expect(order.row.perSecond).toBe(3.5);
    expect(order.row.errors).toBe(2);
    expect(order.errors).toEqual({ OUT_OF_STOCK: 2 });
    expect(order.row.latency.p50).toBeCloseTo(0.4, 3);
    expect(order.row.latency.max).toBeCloseTo(0.7, 3);
    expect(merged.unitsPlaced).toBe(10);
    expect(merged.unitsFulfilled).toBe(1);
  });
});

describe('node launcher arguments', () => {
  it('takes --order-capacity out and passes every other flag through', () => {
    expect(takeOrderCapacity(['--port', '0', '--order-capacity', '1024', '--no-demo'])).toEqual({
      capacity: 1024,
      rest: ['--port', '0', '--no-demo'],
    });
    expect(takeOrderCapacity(['--order-capacity=64']).capacity).toBe(64);
    expect(takeOrderCapacity(['--threads', '2'])).toEqual({
      capacity: null,
      rest: ['--threads', '2'],
    });
    for (const bad of ['1000', '8', 'x', String(2 ** 27)]) {
      expect(() => takeOrderCapacity(['--order-capacity', bad]), bad).toThrow(/power of two/);
    }
    expect(() => takeOrderCapacity(['--order-capacity'])).toThrow(/power of two/);
  });
});

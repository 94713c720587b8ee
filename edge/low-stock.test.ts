/**
 * LowStockTracker over a real engine: the state at start comes from stock, a crossing alerts
 * once in each direction however the cell moves on either side, a threshold of 0 never
 * alerts, and a threshold lowered under a low cell recovers it on the cell's next change.
 */

import { beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import type { LowStockAlert } from '../protocol/messages.js';
import { CatalogueView } from './catalogue-view.js';
import { LowStockTracker } from './low-stock.js';

const HERE = { lat: 10, lng: 10 };
const BY = { actor: 'test' };

let engine: Engine;
let view: CatalogueView;

beforeEach(() => {
  let ticket = 0;
  engine = Engine.create(
    { dcCapacity: 4, skuCapacity: 16, orderCapacity: 1 << 12, dcsPerShard: 4 },
    { log: { writable: () => true, append: () => ++ticket } },
  );
  engine.upsertDc({ id: 'a', name: 'A', location: HERE, radiusKm: 5 }, BY);
  engine.upsertDc({ id: 'b', name: 'B', location: HERE, radiusKm: 5 }, BY);
  engine.upsertSku({ id: 'milk', name: 'Milk', lowStockThreshold: 10 }, BY);
  engine.upsertSku({ id: 'salt', name: 'Salt' }, BY);
  engine.receive('a', 'milk', 50, BY);
  engine.receive('b', 'milk', 3, BY);
  engine.receive('a', 'salt', 1, BY);
  view = new CatalogueView(4, 16);
  for (const record of engine.catalogueRecords()) view.apply(record);
});

const cellOf = (dc: string, sku: string) =>
  engine.getDc(dc)!.index * 16 + engine.getSku(sku)!.index;

function evaluate(tracker: LowStockTracker, ...cells: number[]): LowStockAlert[] {
  const alerts: LowStockAlert[] = [];
  tracker.evaluate(Int32Array.from(cells), alerts);
  return alerts;
}

describe('LowStockTracker', () => {
  it('starts from the stock, then alerts once per crossing', () => {
    const tracker = new LowStockTracker(engine, view, () => 7);
    // b has 3 milk (< 10), a has 50; salt has no threshold.
    expect(tracker.initialise()).toBe(1);
    expect(tracker.isLow(engine.getDc('b')!.index, engine.getSku('milk')!.index)).toBe(true);
    const milkA = cellOf('a', 'milk');
    engine.adjust('a', 'milk', 12, BY);
    expect(evaluate(tracker, milkA)).toEqual([]);
    engine.adjust('a', 'milk', 9, BY);
    expect(evaluate(tracker, milkA, cellOf('a', 'salt'))).toEqual([
      { dc: 'a', sku: 'milk', state: 'low', available: 9, threshold: 10, at: 7 },
    ]);
    engine.adjust('a', 'milk', 2, BY);
    expect(evaluate(tracker, milkA)).toEqual([]);
    engine.adjust('a', 'milk', 10, BY);
    expect(evaluate(tracker, milkA)).toEqual([
      { dc: 'a', sku: 'milk', state: 'ok', available: 10, threshold: 10, at: 7 },
    ]);
    expect(evaluate(tracker, milkA)).toEqual([]);
    expect(tracker.alerts).toBe(2);
    expect(tracker.lowCells).toBe(1);
  });

  it('counts held units as gone: a hold can make a cell low', () => {
    const tracker = new LowStockTracker(engine, view, () => 1);
    tracker.initialise();
    const placed = engine.placeOrder({
      orderId: 'o-1',
      location: HERE,
      lines: [{ sku: 'milk', qty: 45 }],
      mode: 'hold',
    });
    expect(placed.ok).toBe(true);
    expect(evaluate(tracker, cellOf('a', 'milk'))).toMatchObject([{ state: 'low', available: 5 }]);
  });

  it('never alerts at threshold 0, and recovers a low cell whose threshold was lowered', () => {
    const tracker = new LowStockTracker(engine, view, () => 1);
    tracker.initialise();
    engine.adjust('a', 'salt', 0, BY);
    expect(evaluate(tracker, cellOf('a', 'salt'))).toEqual([]);
    const lowered = engine.upsertSku({ id: 'milk', name: 'Milk', lowStockThreshold: 2 }, BY);
    expect(lowered.ok).toBe(true);
    if (lowered.ok) view.apply({ type: 'sku', at: 0, actor: 'test', sku: lowered.sku });
    engine.receive('b', 'milk', 1, BY);
    expect(evaluate(tracker, cellOf('b', 'milk'))).toMatchObject([
      { dc: 'b', state: 'ok', available: 4, threshold: 2 },
    ]);
  });
});

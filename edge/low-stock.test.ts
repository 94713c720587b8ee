/**
 * LowStockTracker over a real engine: the state at start comes from stock, a crossing alerts
 * once in each direction however the cell moves on either side, a threshold of 0 never
 * alerts, and a threshold lowered under a low cell recovers it on the cell's next change.
 * Only carried cells (on hand or reserved > 0) go low, and a sold-out cell stays low; a
 * worker's mirror lists in snapshots what the alerts say is low.
 */

import { beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { generateDemoNetwork } from '../engine/testing/index.js';
import type { LowStockAlert } from '../protocol/messages.js';
import { CatalogueView } from './catalogue-view.js';
import { CellReader, LowStockMirror, LowStockTracker } from './low-stock.js';

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

describe('which cells can be low', () => {
  const index = (dc: string, sku: string) =>
    [engine.getDc(dc)!.index, engine.getSku(sku)!.index] as const;
  const commit = (orderId: string, qty: number) => {
    const placed = engine.placeOrder({
      orderId,
      location: HERE,
      lines: [{ sku: 'bread', qty }],
      mode: 'commit',
    });
    expect(placed.ok, orderId).toBe(true);
  };

  beforeEach(() => {
    // Bread is stocked at a only; b never had any.
    const bread = engine.upsertSku({ id: 'bread', name: 'Bread', lowStockThreshold: 5 }, BY);
    if (bread.ok) view.apply({ type: 'sku', at: 0, actor: 'test', sku: bread.sku });
    engine.receive('a', 'bread', 20, BY);
  });

  it('leaves out cells a DC never stocked until their stock changes', () => {
    const tracker = new LowStockTracker(engine, view, () => 1);
    // b's milk (3 < 10) is low; b's bread, never stocked, is not.
    expect(tracker.initialise()).toBe(1);
    expect(tracker.isLow(...index('b', 'bread'))).toBe(false);
    // A first delivery below the threshold: b deals in bread now, and has too little.
    engine.receive('b', 'bread', 2, BY);
    expect(evaluate(tracker, cellOf('b', 'bread'))).toEqual([
      { dc: 'b', sku: 'bread', state: 'low', available: 2, threshold: 5, at: 1 },
    ]);
    // A count of 0 at a DC says it lists the SKU and has none: low too.
    engine.upsertSku({ id: 'salt', name: 'Salt', lowStockThreshold: 2 }, BY);
    const salt = engine.getSku('salt')!;
    view.apply({ type: 'sku', at: 0, actor: 'test', sku: salt });
    engine.adjust('b', 'salt', 0, BY);
    expect(evaluate(tracker, cellOf('b', 'salt'))).toMatchObject([
      { dc: 'b', sku: 'salt', state: 'low', available: 0 },
    ]);
    expect(tracker.lowCells).toBe(3);
  });

  it('keeps a sold-out cell low, the last unit picked included, until it is restocked', () => {
    const tracker = new LowStockTracker(engine, view, () => 1);
    tracker.initialise();
    const breadA = cellOf('a', 'bread');
    commit('o-1', 16);
    expect(evaluate(tracker, breadA)).toMatchObject([{ state: 'low', available: 4 }]);
    commit('o-2', 4);
    expect(evaluate(tracker, breadA)).toEqual([]);
    expect(engine.fulfil('o-1').ok).toBe(true);
    expect(engine.fulfil('o-2').ok).toBe(true);
    expect(engine.getStock('a', 'bread')).toMatchObject({ stock: { onHand: 0, reserved: 0 } });
    expect(evaluate(tracker, breadA)).toEqual([]);
    expect(tracker.isLow(...index('a', 'bread'))).toBe(true);
    engine.receive('a', 'bread', 3, BY);
    expect(evaluate(tracker, breadA)).toEqual([]);
    engine.receive('a', 'bread', 10, BY);
    expect(evaluate(tracker, breadA)).toMatchObject([{ state: 'ok', available: 13 }]);
  });

  it('counts a cell with units reserved and none on hand as carried, at start too', () => {
    commit('o-1', 5);
    engine.adjust('a', 'bread', 0, BY);
    expect(engine.getStock('a', 'bread')).toMatchObject({ stock: { onHand: 0, reserved: 5 } });
    const tracker = new LowStockTracker(engine, view, () => 1);
    // b's milk, and a's bread: nothing on hand, 5 units owed.
    expect(tracker.initialise()).toBe(2);
    expect(tracker.isLow(...index('a', 'bread'))).toBe(true);
    const mirror = new LowStockMirror(engine, new CellReader(engine, 4), view);
    expect(mirror.lists(...index('a', 'bread'), 0, 5)).toBe(true);
  });

  it('lists in a snapshot what the alerts say is low, sold out included, never a bare cell', () => {
    const tracker = new LowStockTracker(engine, view, () => 1);
    tracker.initialise();
    const mirror = new LowStockMirror(engine, new CellReader(engine, 4), view);
    expect(mirror.lists(...index('b', 'milk'), 3, 10)).toBe(true);
    expect(mirror.lists(...index('b', 'bread'), 0, 5)).toBe(false);
    // Sold out and picked in one tick, before the alert arrives: nothing on the cell says it
    // was carried, but the alert, from the cell's change, does.
    commit('o-1', 20);
    expect(engine.fulfil('o-1').ok).toBe(true);
    expect(mirror.lists(...index('a', 'bread'), 0, 5)).toBe(false);
    const alerts = evaluate(tracker, cellOf('a', 'bread'));
    expect(alerts).toMatchObject([{ dc: 'a', sku: 'bread', state: 'low', available: 0 }]);
    mirror.apply(alerts);
    expect(mirror.lists(...index('a', 'bread'), 0, 5)).toBe(true);
    engine.receive('a', 'bread', 9, BY);
    mirror.apply(evaluate(tracker, cellOf('a', 'bread')));
    expect(mirror.lists(...index('a', 'bread'), 9, 5)).toBe(false);
  });

  it('on the demo network, counts at start only the cells stocked below their threshold', () => {
    const network = generateDemoNetwork({ seed: 1, dcs: 60, skus: 5_000, metro: 'bengaluru' });
    let ticket = 0;
    const demo = Engine.create(
      { dcCapacity: 64, skuCapacity: 5_120, orderCapacity: 1 << 12, dcsPerShard: 64 },
      { log: { writable: () => true, append: () => ++ticket } },
    );
    for (const dc of network.dcs) expect(demo.upsertDc(dc, BY).ok).toBe(true);
    const thresholds = new Map<string, number>();
    for (const sku of network.skus) {
      expect(demo.upsertSku(sku, BY).ok).toBe(true);
      thresholds.set(sku.id, sku.lowStockThreshold ?? 0);
    }
    // As the node seeds it: a row of 0 units is a SKU the DC lists but has none of.
    let stockedBelow = 0;
    for (const row of network.stock) {
      if (row.qty <= 0) continue;
      demo.receive(row.dc, row.sku, row.qty, BY);
      if (row.qty < (thresholds.get(row.sku) ?? 0)) stockedBelow++;
    }
    const demoView = new CatalogueView(64, 5_120);
    for (const record of demo.catalogueRecords()) demoView.apply(record);
    const tracker = new LowStockTracker(demo, demoView, () => 1);
    expect(tracker.initialise()).toBe(stockedBelow);
    expect(tracker.lowCells).toBe(stockedBelow);
    expect(stockedBelow).toBeLessThan(network.dcs.length * network.skus.length);
  });
});

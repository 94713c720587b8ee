/**
 * The engine's bounded waits answer codes instead of hanging: a bucket lock held past the
 * configured wait refuses the operation with LOCK_TIMEOUT and changes nothing.
 */

import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { InvariantError } from './assert.js';
import { Engine } from './engine.js';
import { StockTable } from './stock/stock-table.js';
import { OrderTable } from './reservation/order-table.js';
import { encodeId, hashBytes } from './validate.js';

const HERE = { lat: 12.97, lng: 77.59 };
const ADMIN = { actor: 'test' };

function keyHash(orderId: string): number {
  const key = new Uint8Array(64);
  return hashBytes(key, encodeId(orderId, new TextEncoder(), key));
}

describe('verify', () => {
  it('stops at the first mutation after the counters and the orders disagree', () => {
    const engine = Engine.create({
      dcCapacity: 2,
      skuCapacity: 4,
      dcsPerShard: 2,
      orderCapacity: 1 << 10,
      verify: true,
    });
    engine.upsertDc({ id: 'dc', name: 'DC', location: HERE, radiusKm: 5 }, ADMIN);
    engine.upsertSku({ id: 'milk', name: 'Milk' }, ADMIN);
    engine.receive('dc', 'milk', 10, ADMIN);
    // A unit goes missing behind the engine's back (a bug elsewhere would look like this).
    const stock = new StockTable(engine.config, engine.shared().stock);
    stock.forceReserve(0, 0, 1);
    expect(() =>
      engine.placeOrder({
        orderId: 'o-1',
        location: HERE,
        lines: [{ sku: 'milk', qty: 2 }],
        mode: 'hold',
      }),
    ).toThrow(InvariantError);
    expect(engine.checkInvariants()[0]).toMatch(/counters reserve 3, orders hold 2/);
  });
});

describe('contention', () => {
  it('answers CONTENDED, taking nothing, when a counter keeps changing under the CAS', async () => {
    const engine = Engine.create({
      dcCapacity: 2,
      skuCapacity: 4,
      dcsPerShard: 2,
      orderCapacity: 1 << 12,
      casRetriesMax: 1,
    });
    engine.upsertDc({ id: 'dc', name: 'DC', location: HERE, radiusKm: 5 }, ADMIN);
    engine.upsertSku({ id: 'milk', name: 'Milk' }, ADMIN);
    engine.receive('dc', 'milk', 1_000_000, ADMIN);
    // Another thread moves the cell's available up and down without end (net zero), so a
    // compare-exchange with a single try almost always finds it changed.
    const shard = engine.shared().stock[0];
    const hammer = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const cells = new Int32Array(workerData.shard);
       const stop = new Int32Array(workerData.stop);
       parentPort.postMessage('running');
       while (Atomics.load(stop, 0) === 0) { Atomics.add(cells, 0, 1); Atomics.sub(cells, 0, 1); }`,
      { eval: true, workerData: { shard, stop: STOP.buffer } },
    );
    await new Promise((resolve) => hammer.once('message', resolve));
    const codes = new Map<string, number>();
    try {
      for (let index = 0; index < 400; index++) {
        const placed = engine.placeOrder({
          orderId: `c-${index}`,
          location: HERE,
          lines: [{ sku: 'milk', qty: 1 }],
          mode: 'commit',
        });
        const code = placed.ok ? 'ok' : placed.error.code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    } finally {
      Atomics.store(STOP, 0, 1);
      await hammer.terminate();
    }
    expect(codes.get('CONTENDED') ?? 0, JSON.stringify([...codes])).toBeGreaterThan(0);
    expect([...codes.keys()].every((code) => code === 'ok' || code === 'CONTENDED')).toBe(true);
    // Contended orders took nothing: the counters hold exactly the placed orders.
    expect(engine.checkInvariants()).toEqual([]);
    expect(engine.getStock('dc', 'milk')).toMatchObject({
      ok: true,
      stock: { available: 1_000_000 - (codes.get('ok') ?? 0) },
    });
  });
});

const STOP = new Int32Array(new SharedArrayBuffer(4));

describe('bounded waits', () => {
  it('answers LOCK_TIMEOUT for an order whose lock stays busy, and changes nothing', () => {
    const engine = Engine.create({
      dcCapacity: 2,
      skuCapacity: 4,
      dcsPerShard: 2,
      orderCapacity: 1 << 10,
      lockWaitMsMax: 20,
    });
    engine.upsertDc({ id: 'dc', name: 'DC', location: HERE, radiusKm: 5 }, ADMIN);
    engine.upsertSku({ id: 'milk', name: 'Milk' }, ADMIN);
    engine.receive('dc', 'milk', 10, ADMIN);
    const placed = engine.placeOrder({
      orderId: 'o-1',
      location: HERE,
      lines: [{ sku: 'milk', qty: 2 }],
      mode: 'hold',
    });
    expect(placed.ok).toBe(true);
    // Another "thread" holds the order's buckets (same shared memory, its own view).
    const shared = engine.shared();
    const other = new OrderTable(engine.config, shared.orders);
    expect(other.lockKey(keyHash('o-1'))).toBe(true);
    const started = performance.now();
    const cancelled = engine.cancel('o-1');
    const waited = performance.now() - started;
    expect(!cancelled.ok && cancelled.error.code).toBe('LOCK_TIMEOUT');
    expect(waited).toBeGreaterThanOrEqual(15);
    expect(engine.getStock('dc', 'milk')).toMatchObject({ ok: true, stock: { available: 8 } });
    // The same id placed again also waits its bound and is refused.
    const again = engine.placeOrder({
      orderId: 'o-1',
      location: HERE,
      lines: [{ sku: 'milk', qty: 2 }],
      mode: 'hold',
    });
    expect(!again.ok && again.error.code).toBe('LOCK_TIMEOUT');
    other.unlockKey(keyHash('o-1'));
    expect(engine.cancel('o-1')).toMatchObject({ ok: true, order: { status: 'cancelled' } });
    expect(engine.getStock('dc', 'milk')).toMatchObject({ ok: true, stock: { available: 10 } });
  });
});

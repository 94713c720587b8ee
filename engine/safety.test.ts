/**
 * The engine's bounded waits answer codes instead of hanging: a bucket lock held past the
 * configured wait refuses the operation with LOCK_TIMEOUT and changes nothing.
 */

import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../protocol/codes.js';
import { InvariantError } from './assert.js';
import { Engine } from './engine.js';
import { CONTENDED as CAS_CONTENDED, StockTable } from './stock/stock-table.js';
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
  it('answers CONTENDED, taking nothing, when a reservation runs out of retries', () => {
    const engine = Engine.create({
      dcCapacity: 2,
      skuCapacity: 4,
      dcsPerShard: 2,
      orderCapacity: 1 << 10,
      verify: true,
    });
    engine.upsertDc({ id: 'dc', name: 'DC', location: HERE, radiusKm: 5 }, ADMIN);
    engine.upsertSku({ id: 'milk', name: 'Milk' }, ADMIN);
    engine.upsertSku({ id: 'bread', name: 'Bread' }, ADMIN);
    engine.receive('dc', 'milk', 10, ADMIN);
    engine.receive('dc', 'bread', 10, ADMIN);
    // Another thread winning every compare-exchange on bread, the second line: what the
    // counters answer after their bounded retries. (The retry loop itself is plain.)
    const real = StockTable.prototype.tryReserve;
    const spy = vi.spyOn(StockTable.prototype, 'tryReserve').mockImplementation(function (
      this: StockTable,
      dc,
      sku,
      qty,
    ) {
      return sku === 1 ? CAS_CONTENDED : real.call(this, dc, sku, qty);
    });
    try {
      const placed = engine.placeOrder({
        orderId: 'o-1',
        location: HERE,
        lines: [
          { sku: 'milk', qty: 2 },
          { sku: 'bread', qty: 1 },
        ],
        mode: 'commit',
      });
      expect(!placed.ok && placed.error.code).toBe('CONTENDED');
      expect(ErrorCodes.CONTENDED.retryable).toBe(true);
    } finally {
      spy.mockRestore();
    }
    // All or nothing: the milk line's units went back.
    expect(engine.getStock('dc', 'milk')).toMatchObject({ ok: true, stock: { available: 10 } });
    expect(engine.getOrder('o-1')).toMatchObject({ ok: false, error: { code: 'ORDER_NOT_FOUND' } });
    // Retried once the race is over, it succeeds.
    expect(
      engine.placeOrder({
        orderId: 'o-1',
        location: HERE,
        lines: [
          { sku: 'milk', qty: 2 },
          { sku: 'bread', qty: 1 },
        ],
        mode: 'commit',
      }).ok,
    ).toBe(true);
  });
});

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

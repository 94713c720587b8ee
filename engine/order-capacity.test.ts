/**
 * The order table at its limits and with orders larger than a slot holds inline: the refusal
 * when live orders fill it or the overflow pool runs out, and exact round trips (answers,
 * replay, snapshot export and import) of orders with long ids and many allocation entries.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../protocol/codes.js';
import { OrderAnswers, RESULT_CREATED, RESULT_REFUSED } from './answers.js';
import { ID_BYTES_MAX, ORDER_OVERFLOW_BLOCKS_MIN } from './constants.js';
import { Engine, type EngineOptions } from './engine.js';
import type { LogRecord, OperationLog } from './log.js';
import type { EngineState } from './snapshot.js';
import type { OrderLineInput, OrderResult, PlaceOrderInput } from './types.js';

/** A snapshot written by the 400-byte slot layout, and what that engine answered. */
const FIXTURE = JSON.parse(
  readFileSync(new URL('./fixtures/snapshot-format1-slots400.json', import.meta.url), 'utf8'),
) as {
  clockNow: number;
  config: { dcCapacity: number; skuCapacity: number; dcsPerShard: number; orderCapacity: number };
  state: EngineState;
  stock: number[][];
  views: Record<string, unknown>;
};

const ADMIN = { actor: 'test' };
const HERE = { lat: 12.975, lng: 77.595 };
const SKUS = 24;
const DCS = 4;

class RecordingLog implements OperationLog {
  readonly records: LogRecord[] = [];
  writable(): boolean {
    return true;
  }
  append(record: LogRecord): number {
    this.records.push(structuredClone(record));
    return this.records.length;
  }
}

class ManualClock {
  now = 1_700_000_000_000;
  read = (): number => this.now;
}

/** DCs around HERE, all in range, and SKUs sku-0 .. sku-23; stock at each DC per `units`. */
function network(
  orderCapacity: number,
  units: (dc: number, sku: number) => number,
  options: EngineOptions = {},
): Engine {
  const engine = Engine.create(
    { dcCapacity: DCS, skuCapacity: 32, dcsPerShard: DCS, orderCapacity, verify: true },
    options,
  );
  for (let dc = 0; dc < DCS; dc++) {
    const location = { lat: HERE.lat + 0.001 * dc, lng: HERE.lng + 0.001 * dc };
    const upserted = engine.upsertDc(
      { id: `dc-${dc}`, name: `DC ${dc}`, location, radiusKm: 5 },
      ADMIN,
    );
    expect(upserted.ok).toBe(true);
  }
  for (let sku = 0; sku < SKUS; sku++) {
    expect(engine.upsertSku({ id: `sku-${sku}`, name: `SKU ${sku}` }, ADMIN).ok).toBe(true);
    for (let dc = 0; dc < DCS; dc++) {
      const qty = units(dc, sku);
      if (qty > 0) expect(engine.receive(`dc-${dc}`, `sku-${sku}`, qty, ADMIN).ok).toBe(true);
    }
  }
  return engine;
}

function lines(count: number, qty = 1, first = 0): OrderLineInput[] {
  return Array.from({ length: count }, (_, line) => ({ sku: `sku-${first + line}`, qty }));
}

function ok(result: OrderResult) {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result;
}

function stockOf(engine: Engine): number[][] {
  return Array.from({ length: engine.dcCount }, (_, dc) => Array.from(engine.exportStockOfDc(dc)));
}

/** A 64-byte id (no entry fits inline), unique by `n`. */
function longId(n: number): string {
  return `${n}-`.padEnd(ID_BYTES_MAX, 'x');
}

describe('order table capacity', () => {
  it('fills with live orders to the refusal, which takes nothing and is not retryable', () => {
    const engine = network(1024, (dc) => (dc === 0 ? 1_000_000 : 0));
    const answers = new OrderAnswers(1, 32);
    const request = {
      orderId: '',
      lat: HERE.lat,
      lng: HERE.lng,
      mode: 'commit' as const,
      policy: undefined,
      ttlSeconds: undefined,
      maxMinutes: undefined,
      skus: ['sku-0'],
      qty: [1],
      lineStart: 0,
      lineCount: 1,
    };
    let placed = 0;
    let refusal: { code: string; message: string } | undefined;
    for (let n = 0; n < 1100 && refusal === undefined; n++) {
      request.orderId = `live-${n}`;
      answers.reset();
      engine.placeOrderInto(request, answers);
      if (answers.result[0] === RESULT_CREATED) placed++;
      else refusal = answers.errors[0];
    }
    expect(refusal?.code).toBe('CAPACITY_EXHAUSTED');
    expect(refusal?.message).toMatch(/live orders/);
    // A retry cannot succeed until orders finish: the code says so.
    expect(ErrorCodes.CAPACITY_EXHAUSTED.retryable).toBe(false);
    expect(placed).toBeGreaterThan(0.85 * 1024);
    expect(placed).toBeLessThanOrEqual(1024);
    expect(engine.getStock('dc-0', 'sku-0')).toMatchObject({
      ok: true,
      stock: { available: 1_000_000 - placed, reserved: placed },
    });
    // Picked orders become evictable idempotency records: the refused id now fits.
    for (let n = 0; n < placed; n++) ok(engine.fulfil(`live-${n}`));
    answers.reset();
    engine.placeOrderInto(request, answers);
    expect(answers.result[0]).toBe(RESULT_CREATED);
    expect(engine.checkInvariants()).toEqual([]);
  });

  it('refuses an order whose entries the overflow pool cannot hold, and only that one', () => {
    const engine = network(1024, () => 1_000_000);
    // A 64-byte id holds no entry inline: 8 lines need 2 blocks of 7 from a pool of 1024.
    let placed = 0;
    let refused: OrderResult | undefined;
    for (let n = 0; n < 600 && refused === undefined; n++) {
      const result = engine.placeOrder({
        orderId: longId(n),
        location: HERE,
        lines: lines(8),
        mode: 'hold',
      });
      if (result.ok) placed++;
      else refused = result;
    }
    expect(placed).toBe(ORDER_OVERFLOW_BLOCKS_MIN / 2);
    expect(refused?.ok === false && refused.error.code).toBe('CAPACITY_EXHAUSTED');
    expect(refused?.ok === false && refused.error.message).toMatch(/overflow pool/);
    const before = stockOf(engine);
    expect(
      engine.placeOrder({ orderId: longId(999), location: HERE, lines: lines(8), mode: 'hold' }).ok,
    ).toBe(false);
    expect(stockOf(engine)).toEqual(before);
    // An order that fits its slot still goes in.
    ok(engine.placeOrder({ orderId: 'small', location: HERE, lines: lines(5), mode: 'hold' }));
    // Held orders giving back entries (partial confirms, 8 entries to 1) return a block each.
    ok(engine.confirm(longId(0), [{ sku: 'sku-0', qty: 1 }]));
    expect(
      engine.placeOrder({ orderId: longId(998), location: HERE, lines: lines(8), mode: 'hold' }).ok,
    ).toBe(false);
    ok(engine.confirm(longId(1), [{ sku: 'sku-0', qty: 1 }]));
    ok(engine.placeOrder({ orderId: longId(998), location: HERE, lines: lines(8), mode: 'hold' }));
    expect(engine.checkInvariants()).toEqual([]);
  });
});

describe('orders larger than a slot holds inline', () => {
  /**
   * Long ids, many lines, split allocations across DCs, and changes that grow and shrink; the
   * workload the fixture's engine (the previous layout) ran, at the same times.
   */
  function workload(engine: Engine, clock: ManualClock): void {
    const place = (input: Omit<PlaceOrderInput, 'location'>) => {
      const placed = ok(engine.placeOrder({ location: HERE, ...input }));
      // The answer lists every entry, in order, from inline room and chain alike.
      expect(placed.order.allocation).toEqual(ok(engine.getOrder(input.orderId)).order.allocation);
      return placed;
    };
    const big = place({ orderId: longId(1), lines: lines(14, 7), mode: 'hold', policy: 'split' });
    expect(big.order.allocation.length).toBeGreaterThan(14);
    place({ orderId: longId(2), lines: lines(12, 2, 4), mode: 'commit' });
    place({ orderId: UUID_LIKE, lines: lines(9, 1, 10), mode: 'hold' });
    place({ orderId: 'ab', lines: lines(7), mode: 'hold', ttlSeconds: 5 });
    place({ orderId: 'cd', lines: lines(16, 1, 2), mode: 'hold' });
    clock.now += 1_000;
    // A partial confirm drops most entries; a change shrinks one basket and grows another.
    ok(engine.confirm(longId(1), [{ sku: 'sku-3', qty: 2 }]));
    ok(engine.changeOrder('cd', lines(3, 2, 20)));
    ok(engine.changeOrder(UUID_LIKE, lines(22, 1, 1)));
    const spread = place({
      orderId: longId(3),
      lines: lines(10, 6),
      mode: 'hold',
      policy: 'split',
    });
    expect(spread.order.allocation.length).toBeGreaterThan(10);
    ok(engine.cancel(longId(2)));
    clock.now += 10_000;
    expect(engine.expireDue()).toBe(1);
  }

  const UUID_LIKE = `u-${'9'.repeat(34)}`;
  const IDS = [longId(1), longId(2), longId(3), UUID_LIKE, 'ab', 'cd'];
  // Stock spread thin, so a split order takes several DCs per line.
  const thin = (_dc: number, sku: number) => 4 + (sku % 3);

  function everything(engine: Engine): unknown {
    const views = Object.fromEntries(IDS.map((id) => [id, ok(engine.getOrder(id)).order]));
    return { views, orders: engine.exportState().orders, stock: stockOf(engine) };
  }

  it('round-trips through answers, replay and snapshot export and import exactly', () => {
    const clock = new ManualClock();
    const log = new RecordingLog();
    const live = network(256, thin, { clock: clock.read, log });
    workload(live, clock);
    const expected = everything(live);
    expect(live.checkInvariants()).toEqual([]);
    // The previous layout ran the same workload: the same answers, slots and fields.
    expect(expected).toEqual({
      views: FIXTURE.views,
      orders: FIXTURE.state.orders,
      stock: FIXTURE.stock,
    });

    const replayed = Engine.create(live.config, { clock: clock.read });
    for (const record of log.records) replayed.applyRecord(record);
    expect(everything(replayed)).toEqual(expected);
    expect(replayed.checkInvariants()).toEqual([]);

    const copy = Engine.create(live.config, { clock: clock.read });
    copy.importState(structuredClone(live.exportState()));
    for (let dc = 0; dc < live.dcCount; dc++) copy.importStockOfDc(dc, live.exportStockOfDc(dc));
    expect(everything(copy)).toEqual(expected);
    expect(copy.checkInvariants()).toEqual([]);
  });

  it('loads a snapshot the previous layout wrote, with the answers it gave', () => {
    const clock = new ManualClock();
    clock.now = FIXTURE.clockNow;
    const copy = Engine.create({ ...FIXTURE.config, verify: true }, { clock: clock.read });
    copy.importState(structuredClone(FIXTURE.state));
    for (const [dc, cells] of FIXTURE.stock.entries()) {
      copy.importStockOfDc(dc, Int32Array.from(cells));
    }
    expect(copy.checkInvariants()).toEqual([]);
    expect(everything(copy)).toEqual({
      views: FIXTURE.views,
      orders: FIXTURE.state.orders,
      stock: FIXTURE.stock,
    });
    // And it goes on from there: the held orders can still be cancelled.
    ok(copy.cancel(UUID_LIKE));
    ok(copy.cancel('cd'));
    expect(copy.checkInvariants()).toEqual([]);
  });

  it('keeps a slot whose evicted order had a chain consistent for its next order', () => {
    const clock = new ManualClock();
    const log = new RecordingLog();
    // 16 slots: one bucket pair, so every new order past 16 evicts a finished one.
    const engine = network(16, () => 1_000_000, { clock: clock.read, log });
    for (let n = 0; n < 60; n++) {
      clock.now += 1_000;
      const id = n % 2 === 0 ? longId(n) : `s${n}`;
      const count = 1 + ((n * 7) % 19);
      ok(engine.placeOrder({ orderId: id, location: HERE, lines: lines(count), mode: 'hold' }));
      ok(engine.cancel(id));
    }
    expect(engine.exportState().orders).toHaveLength(16);
    expect(ok(engine.getOrder('s59')).order.allocation).toHaveLength(1 + ((59 * 7) % 19));
    expect(engine.checkInvariants()).toEqual([]);
    const replayed = Engine.create(engine.config);
    for (const record of log.records) replayed.applyRecord(record);
    expect(replayed.exportState()).toEqual(engine.exportState());
    expect(replayed.checkInvariants()).toEqual([]);
  });
});

describe('answers built for the wire', () => {
  it('carry every entry of an order with a long id and many lines', () => {
    const engine = network(256, () => 1_000);
    const answers = new OrderAnswers(2, 64);
    const skus = lines(12).map((line) => line.sku);
    engine.placeOrderInto(
      {
        orderId: longId(5),
        lat: HERE.lat,
        lng: HERE.lng,
        mode: 'hold',
        policy: undefined,
        ttlSeconds: undefined,
        maxMinutes: undefined,
        skus,
        qty: new Int32Array(12).fill(2),
        lineStart: 0,
        lineCount: 12,
      },
      answers,
    );
    expect(answers.result[0]).toBe(RESULT_CREATED);
    expect(answers.allocationCount[0]).toBe(12);
    for (let entry = 0; entry < 12; entry++) {
      expect(answers.allocationSku[entry]).toBe(entry);
      expect(answers.allocationLine[entry]).toBe(entry);
      expect(answers.allocationQty[entry]).toBe(2);
    }
    engine.cancelInto(longId(5), answers);
    expect(answers.result[1]).not.toBe(RESULT_REFUSED);
    expect(answers.allocationCount[1]).toBe(12);
    expect(answers.allocationLine[12]).toBe(-1);
  });
});

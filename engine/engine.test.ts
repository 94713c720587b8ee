import { describe, expect, it } from 'vitest';
import { isRegisteredCode } from '../protocol/index.js';
import { Engine, type EngineOptions, type EngineState } from './engine.js';
import { SnapshotImportError } from './failure.js';
import type { LogRecord, OperationLog } from './log.js';
import type { OrderResult, PlaceOrderInput } from './types.js';

const ADMIN = { actor: 'test', reason: 'fixture' };
const CUSTOMER = { lat: 12.975, lng: 77.595 };

class RecordingLog implements OperationLog {
  readonly records: LogRecord[] = [];
  open = true;
  writable(): boolean {
    return this.open;
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

function network(options: EngineOptions = {}, dcsPerShard = 4): Engine {
  const engine = Engine.create(
    { dcCapacity: 8, skuCapacity: 64, dcsPerShard, orderCapacity: 1024, verify: true },
    options,
  );
  const dcs = [
    {
      id: 'dc-near',
      name: 'Near',
      location: { lat: 12.97, lng: 77.59 },
      radiusKm: 5,
      prepMinutes: 5,
      speedKmh: 20,
    },
    {
      id: 'dc-mid',
      name: 'Mid',
      location: { lat: 12.99, lng: 77.61 },
      radiusKm: 8,
      prepMinutes: 5,
      speedKmh: 20,
    },
    { id: 'dc-far', name: 'Far', location: { lat: 13.5, lng: 78.0 }, radiusKm: 3 },
  ];
  for (const dc of dcs) expect(engine.upsertDc(dc, ADMIN).ok).toBe(true);
  for (const id of ['milk', 'bread', 'eggs', 'tea']) {
    expect(
      engine.upsertSku({ id, name: id, category: id === 'tea' ? 'beverages' : 'dairy' }, ADMIN).ok,
    ).toBe(true);
  }
  expect(engine.upsertSku({ id: 'console', name: 'Console', maxPerOrder: 2 }, ADMIN).ok).toBe(true);
  return engine;
}

function stock(engine: Engine, dc: string, sku: string, qty: number): void {
  const result = engine.receive(dc, sku, qty, ADMIN);
  expect(result.ok).toBe(true);
}

function available(engine: Engine, dc: string, sku: string): number {
  const result = engine.getStock(dc, sku);
  if (!result.ok) throw new Error(result.error.code);
  return result.stock.available;
}

function order(overrides: Partial<PlaceOrderInput> = {}): PlaceOrderInput {
  return {
    orderId: 'o-1',
    location: CUSTOMER,
    lines: [{ sku: 'milk', qty: 2 }],
    mode: 'hold',
    ...overrides,
  };
}

function ok(result: OrderResult) {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result;
}

function code(result: { ok: boolean; error?: { code: string } }): string | undefined {
  return result.ok ? undefined : result.error?.code;
}

describe('catalogue', () => {
  it('assigns dense indexes and updates in place', () => {
    const engine = network();
    expect(engine.getDc('dc-near')?.index).toBe(0);
    expect(engine.getSku('tea')?.index).toBe(3);
    const update = engine.upsertSku({ id: 'tea', name: 'Green tea', category: 'beverages' }, ADMIN);
    expect(update.ok && !update.created && update.sku.index === 3).toBe(true);
    expect(engine.getSku('tea')?.name).toBe('Green tea');
  });

  it('refuses bad DCs and SKUs without changing anything', () => {
    const engine = network();
    const before = engine.dcCount;
    expect(
      code(engine.upsertDc({ id: '', name: 'x', location: CUSTOMER, radiusKm: 1 }, ADMIN)),
    ).toBe('BAD_ID');
    expect(
      code(
        engine.upsertDc({ id: 'x', name: 'x', location: { lat: 91, lng: 0 }, radiusKm: 1 }, ADMIN),
      ),
    ).toBe('BAD_LOCATION');
    expect(code(engine.upsertDc({ id: 'x', name: 'x', location: CUSTOMER }, ADMIN))).toBe(
      'BAD_AREA',
    );
    const open = {
      type: 'Polygon' as const,
      coordinates: [
        [
          [77.5, 12.9],
          [77.6, 12.9],
          [77.6, 13.0],
        ],
      ],
    };
    expect(
      code(engine.upsertDc({ id: 'x', name: 'x', location: CUSTOMER, area: open }, ADMIN)),
    ).toBe('BAD_AREA');
    expect(
      code(
        engine.upsertDc({ id: 'x', name: 'x', location: CUSTOMER, radiusKm: Number.NaN }, ADMIN),
      ),
    ).toBe('BAD_AREA');
    expect(code(engine.upsertSku({ id: 'y', name: 'y', maxPerOrder: -1 }, ADMIN))).toBe(
      'BAD_FIELD',
    );
    expect(engine.dcCount).toBe(before);
  });

  it('refuses past the configured capacity', () => {
    const engine = network();
    for (let dc = engine.dcCount; dc < 8; dc++) {
      expect(
        engine.upsertDc({ id: `dc-${dc}`, name: 'x', location: CUSTOMER, radiusKm: 1 }, ADMIN).ok,
      ).toBe(true);
    }
    expect(
      code(engine.upsertDc({ id: 'one-more', name: 'x', location: CUSTOMER, radiusKm: 1 }, ADMIN)),
    ).toBe('CAPACITY_EXHAUSTED');
  });
});

describe('stock operations', () => {
  it('receives, and a count below what is reserved reports the shortfall', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 10);
    ok(engine.placeOrder(order({ lines: [{ sku: 'milk', qty: 8 }] })));
    const counted = engine.adjust('dc-near', 'milk', 5, ADMIN);
    expect(counted.ok && counted.stock).toMatchObject({
      onHand: 5,
      available: 0,
      reserved: 8,
      shortfall: 3,
    });
    // Nothing can be reserved while short; cancelling the order restores a truthful count.
    expect(
      code(engine.placeOrder(order({ orderId: 'o-2', lines: [{ sku: 'milk', qty: 1 }] }))),
    ).toBe('OUT_OF_STOCK');
    ok(engine.cancel('o-1'));
    expect(engine.getStock('dc-near', 'milk')).toMatchObject({
      ok: true,
      stock: { onHand: 5, available: 5 },
    });
    expect(engine.checkInvariants()).toEqual([]);
  });

  it('refuses bad stock input', () => {
    const engine = network();
    expect(code(engine.receive('dc-near', 'milk', 0, ADMIN))).toBe('BAD_QUANTITY');
    expect(code(engine.receive('dc-near', 'milk', 1.5, ADMIN))).toBe('BAD_QUANTITY');
    expect(code(engine.receive('dc-near', 'milk', 2 ** 31, ADMIN))).toBe('BAD_QUANTITY');
    expect(code(engine.receive('nope', 'milk', 1, ADMIN))).toBe('UNKNOWN_DC');
    expect(code(engine.receive('dc-near', 'nope', 1, ADMIN))).toBe('UNKNOWN_SKU');
    expect(code(engine.adjust('dc-near', 'milk', -1, ADMIN))).toBe('BAD_QUANTITY');
    stock(engine, 'dc-near', 'milk', 2 ** 31 - 2);
    expect(code(engine.receive('dc-near', 'milk', 5, ADMIN))).toBe('BAD_QUANTITY');
    expect(available(engine, 'dc-near', 'milk')).toBe(2 ** 31 - 2);
  });
});

describe('availability', () => {
  it('sums the DCs in range, nearest ETA first, and leaves out DCs too far', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 3);
    stock(engine, 'dc-mid', 'milk', 4);
    stock(engine, 'dc-far', 'milk', 100);
    const result = engine.availability(CUSTOMER, ['milk', 'bread', 'ghost']);
    if (!result.ok) throw new Error(result.error.code);
    expect(result.skus.milk.available).toBe(7);
    expect(result.skus.milk.dcs.map((entry) => entry.dc)).toEqual(['dc-near', 'dc-mid']);
    expect(result.skus.milk.etaMinutes).toBe(result.skus.milk.dcs[0].etaMinutes);
    expect(result.skus.bread).toMatchObject({ available: 0, etaMinutes: null, dcs: [] });
    expect(result.skus.ghost).toMatchObject({ available: 0, unknown: true });
  });

  it('leaves out the per-DC breakdown when asked, with the same totals', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 3);
    stock(engine, 'dc-mid', 'milk', 4);
    const full = engine.availability(CUSTOMER, ['milk']);
    const compact = engine.availability(CUSTOMER, ['milk'], undefined, false);
    if (!full.ok || !compact.ok) throw new Error('refused');
    expect(compact.skus.milk).toEqual({ ...full.skus.milk, dcs: [] });
    expect(full.skus.milk.dcs).toHaveLength(2);
  });

  it('answers alike whether the DCs in range share a stock shard or not', () => {
    // Four DCs to a shard puts every DC in one array; one to a shard gives each its own.
    const answers = [4, 1].map((dcsPerShard) => {
      const engine = network({}, dcsPerShard);
      stock(engine, 'dc-near', 'milk', 3);
      stock(engine, 'dc-mid', 'milk', 4);
      stock(engine, 'dc-mid', 'eggs', 6);
      stock(engine, 'dc-far', 'tea', 9);
      const result = engine.availability(CUSTOMER, ['milk', 'eggs', 'tea', 'ghost']);
      if (!result.ok) throw new Error(result.error.code);
      return result;
    });
    expect(answers[1]).toEqual(answers[0]);
    const { skus } = answers[1];
    expect(skus.milk.available).toBe(7);
    expect(skus.milk.dcs.map((entry) => [entry.dc, entry.available])).toEqual([
      ['dc-near', 3],
      ['dc-mid', 4],
    ]);
    // The ETA is that of the nearest DC with units, not of the nearest DC.
    expect(skus.eggs.dcs.map((entry) => [entry.dc, entry.available])).toEqual([['dc-mid', 6]]);
    expect(skus.eggs.etaMinutes).toBe(skus.eggs.dcs[0].etaMinutes);
    expect(skus.eggs.etaMinutes).toBeGreaterThan(skus.milk.etaMinutes!);
    expect(skus.tea).toMatchObject({ available: 0, etaMinutes: null });
    expect(skus.ghost).toMatchObject({ available: 0, unknown: true });
  });

  it('narrows to the delivery window', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 3);
    stock(engine, 'dc-mid', 'milk', 4);
    const result = engine.availability(CUSTOMER, ['milk'], 10);
    expect(result.ok && result.skus.milk.available).toBe(3);
  });

  it('reflects holds at once', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 3);
    ok(engine.placeOrder(order({ lines: [{ sku: 'milk', qty: 2 }] })));
    const result = engine.availability(CUSTOMER, ['milk']);
    expect(result.ok && result.skus.milk.available).toBe(1);
  });

  it('browses SKUs in stock nearby, by category, with a cursor', () => {
    const engine = network();
    for (const sku of ['milk', 'bread', 'eggs', 'tea']) stock(engine, 'dc-near', sku, 2);
    const first = engine.browse({ location: CUSTOMER, category: 'dairy', limit: 2 });
    if (!first.ok) throw new Error(first.error.code);
    expect(first.items.map((item) => item.sku)).toEqual(['milk', 'bread']);
    const second = engine.browse({
      location: CUSTOMER,
      category: 'dairy',
      limit: 2,
      cursor: first.nextCursor!,
    });
    expect(second.ok && second.items.map((item) => item.sku)).toEqual(['eggs']);
    expect(second.ok && second.nextCursor).toBe(null);
    expect(code(engine.browse({ location: CUSTOMER, cursor: 'abc' }))).toBe('BAD_FIELD');
  });

  it('refuses bad queries', () => {
    const engine = network();
    expect(code(engine.availability({ lat: Number.NaN, lng: 0 }, ['milk']))).toBe('BAD_LOCATION');
    expect(code(engine.availability(CUSTOMER, 'milk' as never))).toBe('BAD_REQUEST');
    // No SKUs is a question with an empty answer (the wire allows 0..500).
    expect(engine.availability(CUSTOMER, [])).toEqual({ ok: true, skus: {}, dcsInRange: 2 });
    expect(code(engine.availability(CUSTOMER, new Array(501).fill('milk')))).toBe('TOO_MANY_SKUS');
  });
});

describe('orders', () => {
  it('single-dc takes every line from the nearest DC that has them all', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    stock(engine, 'dc-mid', 'milk', 5);
    stock(engine, 'dc-mid', 'bread', 5);
    const placed = ok(
      engine.placeOrder(
        order({
          lines: [
            { sku: 'milk', qty: 2 },
            { sku: 'bread', qty: 1 },
          ],
        }),
      ),
    );
    expect(placed.order.allocation.every((line) => line.dc === 'dc-mid')).toBe(true);
    expect(placed.order.status).toBe('held');
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
    expect(available(engine, 'dc-mid', 'milk')).toBe(3);
  });

  it('split fills lines nearest first across DCs', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 2);
    stock(engine, 'dc-mid', 'milk', 5);
    const placed = ok(
      engine.placeOrder(order({ lines: [{ sku: 'milk', qty: 4 }], policy: 'split' })),
    );
    expect(placed.order.allocation).toEqual([
      { sku: 'milk', dc: 'dc-near', qty: 2 },
      { sku: 'milk', dc: 'dc-mid', qty: 2 },
    ]);
  });

  it('is all or nothing and explains the refusal per line', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    stock(engine, 'dc-near', 'bread', 1);
    const refused = engine.placeOrder(
      order({
        lines: [
          { sku: 'milk', qty: 2 },
          { sku: 'bread', qty: 3 },
        ],
      }),
    );
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error.code).toBe('OUT_OF_STOCK');
    expect(refused.error.lines).toEqual([
      { sku: 'bread', code: 'OUT_OF_STOCK', requested: 3, available: 1 },
    ]);
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
    expect(code(engine.getOrder('o-1'))).toBe('ORDER_NOT_FOUND');
  });

  it('says when the lines are nearby but in no single DC', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 1);
    stock(engine, 'dc-mid', 'bread', 1);
    const lines = [
      { sku: 'milk', qty: 1 },
      { sku: 'bread', qty: 1 },
    ];
    expect(code(engine.placeOrder(order({ lines })))).toBe('NOT_IN_ONE_DC');
    expect(ok(engine.placeOrder(order({ lines, policy: 'split' }))).order.allocation).toHaveLength(
      2,
    );
  });

  it('refuses a location no DC serves', () => {
    const engine = network();
    expect(code(engine.placeOrder(order({ location: { lat: 0, lng: 0 } })))).toBe('NO_DC_IN_RANGE');
  });

  it('refuses bad input with codes and changes nothing', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    const cases: [Partial<PlaceOrderInput>, string][] = [
      [{ orderId: '' }, 'BAD_ORDER_ID'],
      [{ orderId: 'x'.repeat(65) }, 'BAD_ORDER_ID'],
      [{ location: { lat: Number.NaN, lng: 1 } }, 'BAD_LOCATION'],
      [{ lines: [] }, 'EMPTY_ORDER'],
      [{ lines: [{ sku: 'milk', qty: 0 }] }, 'BAD_QUANTITY'],
      [{ lines: [{ sku: 'milk', qty: -1 }] }, 'BAD_QUANTITY'],
      [{ lines: [{ sku: 'milk', qty: 1.5 }] }, 'BAD_QUANTITY'],
      [{ lines: [{ sku: 'milk', qty: 2 ** 31 }] }, 'BAD_QUANTITY'],
      [{ lines: [{ sku: 'ghost', qty: 1 }] }, 'UNKNOWN_SKU'],
      [
        {
          lines: [
            { sku: 'milk', qty: 1 },
            { sku: 'milk', qty: 1 },
          ],
        },
        'DUPLICATE_LINE',
      ],
      [{ lines: new Array(33).fill({ sku: 'milk', qty: 1 }) }, 'TOO_MANY_LINES'],
      [{ lines: [{ sku: 'console', qty: 3 }] }, 'OVER_LIMIT'],
      [{ mode: 'maybe' as 'hold' }, 'BAD_MODE'],
      [{ policy: 'random' as 'split' }, 'BAD_POLICY'],
      [{ ttlSeconds: 0 }, 'BAD_TTL'],
    ];
    for (const [overrides, expected] of cases) {
      expect(
        code(engine.placeOrder(order(overrides))),
        JSON.stringify(overrides).slice(0, 80),
      ).toBe(expected);
    }
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
    expect(engine.checkInvariants()).toEqual([]);
  });

  it('answers a retried order id with the first order and never reserves twice', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    const first = ok(engine.placeOrder(order()));
    const again = ok(engine.placeOrder(order()));
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.order).toEqual(first.order);
    expect(available(engine, 'dc-near', 'milk')).toBe(3);
    expect(code(engine.placeOrder(order({ lines: [{ sku: 'milk', qty: 3 }] })))).toBe(
      'ORDER_ID_REUSED',
    );
  });

  it('a dry run answers the same question and takes nothing', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    const check = engine.checkBasket(order({ lines: [{ sku: 'milk', qty: 5 }] }));
    expect(check.ok && check.allocation).toEqual([{ sku: 'milk', dc: 'dc-near', qty: 5 }]);
    expect(code(engine.checkBasket(order({ lines: [{ sku: 'milk', qty: 6 }] })))).toBe(
      'OUT_OF_STOCK',
    );
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
  });
});

describe('order lifecycle', () => {
  it('confirms in full, then fulfils: on-hand leaves the building', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    ok(engine.placeOrder(order()));
    expect(ok(engine.confirm('o-1')).order.status).toBe('confirmed');
    expect(ok(engine.confirm('o-1')).order.status).toBe('confirmed');
    expect(ok(engine.fulfil('o-1')).order.status).toBe('fulfilled');
    expect(engine.getStock('dc-near', 'milk')).toMatchObject({
      stock: { onHand: 3, available: 3 },
    });
    expect(code(engine.cancel('o-1'))).toBe('INVALID_STATE');
    expect(engine.checkInvariants()).toEqual([]);
  });

  it('confirms in part and releases the rest', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    stock(engine, 'dc-near', 'bread', 5);
    ok(
      engine.placeOrder(
        order({
          lines: [
            { sku: 'milk', qty: 4 },
            { sku: 'bread', qty: 2 },
          ],
        }),
      ),
    );
    const confirmed = ok(engine.confirm('o-1', [{ sku: 'milk', qty: 1 }]));
    expect(confirmed.order.allocation).toEqual([{ sku: 'milk', dc: 'dc-near', qty: 1 }]);
    expect(available(engine, 'dc-near', 'milk')).toBe(4);
    expect(available(engine, 'dc-near', 'bread')).toBe(5);
    expect(engine.checkInvariants()).toEqual([]);
  });

  it('refuses a partial confirm of more than is held', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    ok(engine.placeOrder(order()));
    expect(code(engine.confirm('o-1', [{ sku: 'milk', qty: 3 }]))).toBe('BAD_QUANTITY');
    expect(code(engine.confirm('o-1', [{ sku: 'bread', qty: 1 }]))).toBe('BAD_FIELD');
    expect(ok(engine.getOrder('o-1')).order.status).toBe('held');
  });

  it('cancels a hold and releases its units', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    ok(engine.placeOrder(order()));
    expect(ok(engine.cancel('o-1')).order.status).toBe('cancelled');
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
    expect(ok(engine.cancel('o-1')).order.status).toBe('cancelled');
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
  });

  it('expires holds at their deadline, and extend moves the deadline', () => {
    const clock = new ManualClock();
    const engine = network({ clock: clock.read });
    stock(engine, 'dc-near', 'milk', 5);
    const held = ok(engine.placeOrder(order({ ttlSeconds: 60 })));
    expect(held.order.expiresAt).toBe(clock.now + 60_000);
    clock.now += 30_000;
    expect(ok(engine.extend('o-1', 60)).order.expiresAt).toBe(clock.now + 60_000);
    clock.now += 59_000;
    expect(engine.expireDue()).toBe(0);
    clock.now += 1_000;
    expect(engine.expireDue()).toBe(1);
    expect(ok(engine.getOrder('o-1')).order.status).toBe('expired');
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
    expect(code(engine.confirm('o-1'))).toBe('INVALID_STATE');
  });

  it('expires lazily when an order is touched after its deadline', () => {
    const clock = new ManualClock();
    const engine = network({ clock: clock.read });
    stock(engine, 'dc-near', 'milk', 5);
    ok(engine.placeOrder(order({ ttlSeconds: 1 })));
    clock.now += 1_000;
    const confirm = engine.confirm('o-1');
    expect(confirm.ok ? 'ok' : confirm.error).toMatchObject({
      code: 'INVALID_STATE',
      status: 'expired',
    });
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
  });

  it('changes a held basket in place: the own hold never blocks the new quantities', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 3);
    stock(engine, 'dc-near', 'bread', 2);
    ok(engine.placeOrder(order({ lines: [{ sku: 'milk', qty: 3 }] })));
    expect(available(engine, 'dc-near', 'milk')).toBe(0);
    const changed = ok(
      engine.changeOrder('o-1', [
        { sku: 'milk', qty: 2 },
        { sku: 'bread', qty: 2 },
      ]),
    );
    expect(changed.order.allocation).toEqual([
      { sku: 'milk', dc: 'dc-near', qty: 2 },
      { sku: 'bread', dc: 'dc-near', qty: 2 },
    ]);
    expect(available(engine, 'dc-near', 'milk')).toBe(1);
    expect(available(engine, 'dc-near', 'bread')).toBe(0);
    // A change that cannot be filled leaves the hold as it was.
    expect(code(engine.changeOrder('o-1', [{ sku: 'milk', qty: 4 }]))).toBe('OUT_OF_STOCK');
    expect(ok(engine.getOrder('o-1')).order.allocation).toEqual(changed.order.allocation);
    expect(engine.checkInvariants()).toEqual([]);
  });

  it('commit orders are confirmed at once', () => {
    const engine = network();
    stock(engine, 'dc-near', 'milk', 5);
    const placed = ok(engine.placeOrder(order({ mode: 'commit' })));
    expect(placed.order.status).toBe('confirmed');
    expect(placed.order.expiresAt).toBeUndefined();
    expect(code(engine.extend('o-1', 30))).toBe('INVALID_STATE');
  });

  it('refuses writes when the log is read-only, changing nothing', () => {
    const log = new RecordingLog();
    const engine = network({ log });
    stock(engine, 'dc-near', 'milk', 5);
    log.open = false;
    expect(code(engine.placeOrder(order()))).toBe('READ_ONLY');
    expect(code(engine.receive('dc-near', 'milk', 1, ADMIN))).toBe('READ_ONLY');
    expect(available(engine, 'dc-near', 'milk')).toBe(5);
  });
});

describe('order table capacity', () => {
  function tiny(): Engine {
    const engine = Engine.create({
      dcCapacity: 1,
      skuCapacity: 1,
      dcsPerShard: 1,
      orderCapacity: 1024,
    });
    engine.upsertDc({ id: 'dc', name: 'dc', location: CUSTOMER, radiusKm: 5 }, ADMIN);
    engine.upsertSku({ id: 'milk', name: 'milk' }, ADMIN);
    stock(engine, 'dc', 'milk', 1_000_000);
    return engine;
  }

  it('holds live orders up to most of its capacity, then refuses without taking stock', () => {
    const engine = tiny();
    let placed = 0;
    let firstRefusal = -1;
    for (let n = 0; n < 1400; n++) {
      const result = engine.placeOrder(order({ orderId: `live-${n}` }));
      if (result.ok) placed++;
      else {
        expect(result.error.code).toBe('CAPACITY_EXHAUSTED');
        if (firstRefusal < 0) firstRefusal = placed;
      }
    }
    // Two-choice buckets fill evenly: far beyond the ~40 % where one choice overflows.
    expect(firstRefusal).toBeGreaterThan(0.85 * 1024);
    expect(placed).toBeLessThanOrEqual(1024);
    expect(available(engine, 'dc', 'milk')).toBe(1_000_000 - placed * 2);
    expect(engine.checkInvariants()).toEqual([]);
  });

  it('evicts the oldest finished orders to make room, never live ones', () => {
    const clock = new ManualClock();
    const engine = Engine.create(
      { dcCapacity: 1, skuCapacity: 1, dcsPerShard: 1, orderCapacity: 64 },
      { clock: clock.read },
    );
    engine.upsertDc({ id: 'dc', name: 'dc', location: CUSTOMER, radiusKm: 5 }, ADMIN);
    engine.upsertSku({ id: 'milk', name: 'milk' }, ADMIN);
    stock(engine, 'dc', 'milk', 1_000_000);
    ok(engine.placeOrder(order({ orderId: 'keep' })));
    for (let n = 0; n < 500; n++) {
      clock.now += 1;
      ok(engine.placeOrder(order({ orderId: `done-${n}` })));
      ok(engine.cancel(`done-${n}`));
    }
    expect(ok(engine.getOrder('keep')).order.status).toBe('held');
    expect(code(engine.getOrder('done-0'))).toBe('ORDER_NOT_FOUND');
    expect(ok(engine.getOrder('done-499')).order.status).toBe('cancelled');
    expect(engine.checkInvariants()).toEqual([]);
  });
});

describe('replay and snapshots', () => {
  function workload(engine: Engine, clock: ManualClock): void {
    stock(engine, 'dc-near', 'milk', 10);
    stock(engine, 'dc-mid', 'milk', 10);
    stock(engine, 'dc-mid', 'bread', 10);
    ok(
      engine.placeOrder(
        order({ orderId: 'a', lines: [{ sku: 'milk', qty: 12 }], policy: 'split' }),
      ),
    );
    ok(
      engine.placeOrder(order({ orderId: 'b', lines: [{ sku: 'bread', qty: 2 }], mode: 'commit' })),
    );
    ok(engine.placeOrder(order({ orderId: 'c', lines: [{ sku: 'milk', qty: 1 }], ttlSeconds: 5 })));
    ok(engine.confirm('a', [{ sku: 'milk', qty: 11 }]));
    ok(engine.fulfil('b'));
    ok(engine.placeOrder(order({ orderId: 'd', lines: [{ sku: 'bread', qty: 1 }] })));
    ok(
      engine.changeOrder('d', [
        { sku: 'bread', qty: 3 },
        { sku: 'milk', qty: 1 },
      ]),
    );
    engine.adjust('dc-mid', 'bread', 4, ADMIN);
    clock.now += 10_000;
    engine.expireDue();
  }

  function fingerprint(engine: Engine): unknown {
    const state = engine.exportState();
    const stockOf = Array.from({ length: engine.dcCount }, (_, dc) =>
      Array.from(engine.exportStockOfDc(dc)),
    );
    return { orders: state.orders, dcs: state.dcs, skus: state.skus, stockOf };
  }

  it('replaying the log rebuilds the live state exactly', () => {
    const clock = new ManualClock();
    const log = new RecordingLog();
    const live = network({ clock: clock.read, log });
    workload(live, clock);
    const replayed = Engine.create(live.config);
    for (const record of log.records) replayed.applyRecord(record);
    expect(fingerprint(replayed)).toEqual(fingerprint(live));
    expect(replayed.checkInvariants()).toEqual([]);
  });

  it('an exported state imports into a fresh engine', () => {
    const clock = new ManualClock();
    const live = network({ clock: clock.read });
    workload(live, clock);
    const copy = Engine.create(live.config, { clock: clock.read });
    copy.importState(structuredClone(live.exportState()));
    for (let dc = 0; dc < live.dcCount; dc++) copy.importStockOfDc(dc, live.exportStockOfDc(dc));
    expect(fingerprint(copy)).toEqual(fingerprint(live));
    expect(ok(copy.getOrder('a')).order).toEqual(ok(live.getOrder('a')).order);
  });

  it('a state it cannot import is refused with a registered code', () => {
    const live = network();
    const state = live.exportState();
    const refusals: [EngineState, string][] = [
      [{ ...state, format: 2 as 1 }, 'DATA_VERSION_MISMATCH'],
      [{ ...state, capacities: { ...state.capacities, orderCapacity: 2048 } }, 'CONFIG_MISMATCH'],
      [{ ...state, capacities: { ...state.capacities, dcCapacity: 16 } }, 'CONFIG_TOO_SMALL'],
    ];
    for (const [refused, code] of refusals) {
      const copy = Engine.create(live.config);
      let thrown: unknown = null;
      try {
        copy.importState(structuredClone(refused));
      } catch (error) {
        thrown = error;
      }
      expect(thrown, code).toBeInstanceOf(SnapshotImportError);
      expect((thrown as SnapshotImportError).code).toBe(code);
      expect(isRegisteredCode(code)).toBe(true);
    }
  });
});

describe('observer', () => {
  it('hears every changed cell and order event of live changes', () => {
    const cells: string[] = [];
    const events: string[] = [];
    const clock = new ManualClock();
    const engine = network({
      clock: clock.read,
      observer: {
        stockChanged: (dc, sku) => cells.push(`${dc}/${sku}`),
        orderEvent: (event) => events.push(`${event.type}:${event.orderId}:${event.status}`),
      },
    });
    stock(engine, 'dc-near', 'milk', 5);
    expect(cells).toEqual(['0/0']);
    ok(engine.placeOrder(order({ ttlSeconds: 1 })));
    ok(engine.placeOrder(order({ orderId: 'o-2', lines: [{ sku: 'milk', qty: 1 }] })));
    ok(engine.confirm('o-2'));
    clock.now += 1_000;
    engine.expireDue();
    expect(events).toEqual([
      'placed:o-1:held',
      'placed:o-2:held',
      'confirmed:o-2:confirmed',
      'expired:o-1:expired',
    ]);
    expect(cells).toEqual(['0/0', '0/0', '0/0', '0/0']);
    // Refusals change nothing and say nothing.
    engine.placeOrder(order({ orderId: 'o-3', lines: [{ sku: 'milk', qty: 99 }] }));
    expect(events).toHaveLength(4);
  });
});

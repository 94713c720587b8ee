/**
 * The SDK's protocol v2 against a real node: `placeOrders` and `availabilityMany` views, and
 * per-call placeOrder and availability coalesced into batch requests, checked against what
 * the node's engine holds (read directly over its shared memory).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AvailabilityQuery,
  InventoryClient,
  InventoryError,
  type PlaceOrderInput,
} from '../protocol/client/index.js';
import { startTestNode, type TestNode } from './testing/harness.js';

const HERE = { lat: 51.5072, lng: -0.1276 };
const NEAR = { lat: 51.515, lng: -0.1 };
/** Open sea: no DC of the test network delivers there. */
const NOWHERE = { lat: 0, lng: 0 };

let test: TestNode;
const clients: InventoryClient[] = [];

async function connect(key: string): Promise<InventoryClient> {
  const client = await InventoryClient.connect(test.node.wsUrl, {
    apiKey: key,
    timeoutMs: 10_000,
    reconnect: false,
  });
  clients.push(client);
  return client;
}

function order(
  orderId: string,
  lines: { sku: string; qty: number }[],
  extra: Partial<PlaceOrderInput> = {},
): PlaceOrderInput {
  return { orderId, location: HERE, lines, mode: 'hold', ttlSeconds: 600, ...extra };
}

beforeAll(async () => {
  test = await startTestNode();
  const admin = await connect(test.keys.admin);
  await admin.upsertDc({ id: 'b-ldn-1', name: 'London 1', location: HERE, radiusKm: 4 });
  await admin.upsertDc({ id: 'b-ldn-2', name: 'London 2', location: NEAR, radiusKm: 6 });
  for (const id of ['b-tea', 'b-jam', 'b-scone', 'b-cream']) {
    await admin.upsertSku({ id, name: id });
  }
  await admin.receive({ dc: 'b-ldn-1', sku: 'b-tea', qty: 50 });
  await admin.receive({ dc: 'b-ldn-2', sku: 'b-tea', qty: 20 });
  await admin.receive({ dc: 'b-ldn-2', sku: 'b-jam', qty: 10 });
  await admin.receive({ dc: 'b-ldn-1', sku: 'b-scone', qty: 5 });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await test?.stop();
});

describe('placeOrders against the node', () => {
  it('answers created, exists and refused in one batch, with allocations and DC ids', async () => {
    const orderer = await connect(test.keys.orderer);
    expect(orderer.protocolVersion).toBe(2);
    const first = await orderer.placeOrders([order('pb-0', [{ sku: 'b-tea', qty: 1 }])]);
    expect(first.result(0)).toBe('created');
    const orders = [
      order('pb-1', [
        { sku: 'b-tea', qty: 3 },
        { sku: 'b-scone', qty: 2 },
      ]),
      order('pb-0', [{ sku: 'b-tea', qty: 1 }]),
      order('pb-2', [{ sku: 'b-jam', qty: 1_000 }]),
      order('pb-3', [{ sku: 'b-nope', qty: 1 }]),
      order('pb-4', [{ sku: 'b-jam', qty: 4 }], { mode: 'commit', ttlSeconds: undefined }),
      order(
        'pb-5',
        [
          { sku: 'b-tea', qty: 2 },
          { sku: 'b-jam', qty: 1 },
        ],
        { policy: 'split' },
      ),
      { ...order('pb-6', []), lines: [] },
    ];
    const batch = await orderer.placeOrders(orders);
    expect(Array.from({ length: batch.count }, (_, i) => batch.result(i))).toEqual([
      'created',
      'exists',
      'refused',
      'refused',
      'created',
      'created',
      'refused',
    ]);
    expect(batch.refusedCount).toBe(3);
    expect(batch.order(0)).toMatchObject({
      orderId: 'pb-1',
      status: 'held',
      mode: 'hold',
      policy: 'single-dc',
      allocation: [
        { sku: 'b-tea', dc: 'b-ldn-1', qty: 3 },
        { sku: 'b-scone', dc: 'b-ldn-1', qty: 2 },
      ],
    });
    expect(batch.expiresAt(0)).toBeGreaterThan(Date.now());
    // Each answer agrees with what getOrder answers for the same order.
    const looked = await orderer.getOrder({ orderId: 'pb-1' });
    expect(batch.orderResult(0)).toEqual({ created: true, order: looked.order });
    expect(batch.orderResult(1)).toEqual({
      created: false,
      order: (await orderer.getOrder({ orderId: 'pb-0' })).order,
    });
    const refused = batch.error(2)!;
    expect(refused).toBeInstanceOf(InventoryError);
    expect(refused.code).toBe('OUT_OF_STOCK');
    expect(refused.lines?.[0]).toMatchObject({ sku: 'b-jam', requested: 1_000, available: 10 });
    expect(batch.error(3)).toMatchObject({ code: 'UNKNOWN_SKU' });
    expect(batch.error(6)).toMatchObject({ code: 'EMPTY_ORDER' });
    expect(batch.status(4)).toBe('confirmed');
    expect(batch.expiresAt(4)).toBeUndefined();
    expect(batch.order(4)?.allocation).toEqual([{ sku: 'b-jam', dc: 'b-ldn-2', qty: 4 }]);
    expect(batch.order(5)).toMatchObject({ policy: 'split' });
    const split = batch.order(5)!.allocation;
    expect(split.find((entry) => entry.sku === 'b-jam')).toEqual({
      sku: 'b-jam',
      dc: 'b-ldn-2',
      qty: 1,
    });
    expect(split.filter((entry) => entry.sku === 'b-tea').reduce((n, e) => n + e.qty, 0)).toBe(2);
    // The engine holds exactly what the answers say.
    expect(test.node.engine.getStock('b-ldn-2', 'b-jam')).toMatchObject({
      ok: true,
      stock: { onHand: 10, reserved: 5, available: 5 },
    });

    // The same batch again: what was placed answers exists, refusals are evaluated afresh.
    const again = await orderer.placeOrders(orders);
    expect(Array.from({ length: again.count }, (_, i) => again.result(i))).toEqual([
      'exists',
      'exists',
      'refused',
      'refused',
      'exists',
      'exists',
      'refused',
    ]);
    expect(again.order(0)).toEqual(batch.order(0));
    expect(test.node.engine.getStock('b-ldn-2', 'b-jam')).toMatchObject({
      ok: true,
      stock: { reserved: 5 },
    });
  });

  it('coalesces per-call placeOrder and rejects only the refused call', async () => {
    const orderer = await connect(test.keys.orderer);
    const calls = [
      orderer.placeOrder(order('pc-1', [{ sku: 'b-tea', qty: 1 }])),
      orderer.placeOrder(order('pc-2', [{ sku: 'b-scone', qty: 999 }])),
      orderer.placeOrder(order('pc-3', [{ sku: 'b-tea', qty: 1 }], { mode: 'commit' })),
      orderer.placeOrder({ ...order('pc-4', [{ sku: 'b-tea', qty: 0 }]) }),
    ];
    const [one, two, three, four] = await Promise.allSettled(calls);
    expect(one).toMatchObject({ status: 'fulfilled', value: { created: true } });
    if (one.status === 'fulfilled') {
      expect(one.value).toEqual({
        created: true,
        order: (await orderer.getOrder({ orderId: 'pc-1' })).order,
      });
    }
    expect(two).toMatchObject({ status: 'rejected', reason: { code: 'OUT_OF_STOCK' } });
    expect(three).toMatchObject({ status: 'fulfilled', value: { order: { status: 'confirmed' } } });
    // A quantity the columns do not carry went alone, and the node's validator refused it.
    expect(four).toMatchObject({
      status: 'rejected',
      reason: { code: 'BAD_QUANTITY', details: { field: 'lines[0].qty' } },
    });
  });

  it('answers an order changed since it was placed with every SKU named', async () => {
    const orderer = await connect(test.keys.orderer);
    const original = order('pch-1', [{ sku: 'b-tea', qty: 1 }]);
    await orderer.placeOrder(original);
    await orderer.changeOrder({ orderId: 'pch-1', lines: [{ sku: 'b-jam', qty: 1 }] });
    // Two calls of one turn share a placeOrders request; the node cannot name the changed
    // order's line, so the SDK answers that call from getOrder.
    const [retried, other] = await Promise.all([
      orderer.placeOrder(original),
      orderer.placeOrder(order('pch-2', [{ sku: 'b-tea', qty: 1 }])),
    ]);
    expect(retried.created).toBe(false);
    expect(retried.order.allocation).toEqual([{ sku: 'b-jam', dc: 'b-ldn-2', qty: 1 }]);
    expect(retried).toEqual(await orderer.getOrder({ orderId: 'pch-1' }));
    expect(other.created).toBe(true);
    const alone = await orderer.placeOrder(original);
    expect(alone.order.allocation).toEqual([{ sku: 'b-jam', dc: 'b-ldn-2', qty: 1 }]);
    // In a view, the line the node could not name reads as ''.
    const batch = await orderer.placeOrders([original]);
    expect(batch.result(0)).toBe('exists');
    expect(batch.allocationComplete(0)).toBe(false);
    expect(batch.allocationDc(batch.allocationStart(0))).toBe('b-ldn-2');
  });
});

describe('availabilityMany against the node', () => {
  it('agrees with per-call availability and the engine on the same data', async () => {
    const reader = await connect(test.keys.reader);
    const queries: AvailabilityQuery[] = [
      { ...HERE, skus: ['b-tea', 'b-jam', 'b-unknown', 'b-scone', 'b-cream'] },
      { ...NEAR, skus: ['b-jam'] },
      { ...NOWHERE, skus: ['b-tea', 'b-unknown'] },
      { ...HERE, skus: ['b-tea'], maxMinutes: 1 },
    ];
    const [view, ...singles] = await Promise.all([
      reader.availabilityMany(queries),
      ...queries.map((query) => reader.availability({ ...query, skus: [...query.skus] })),
    ]);
    expect(view.count).toBe(4);
    for (let query = 0; query < queries.length; query++) {
      expect(view.skus(query)).toEqual(singles[query].skus);
      const { lat, lng, skus, maxMinutes } = queries[query];
      const engine = test.node.engine.availability({ lat, lng }, [...skus], maxMinutes);
      expect(engine.ok).toBe(true);
      if (engine.ok) expect(view.skus(query)).toEqual(engine.skus);
    }
    expect(view.dcCount(0)).toBe(2);
    expect([view.dc(0, 0), view.dc(0, 1)].sort()).toEqual(['b-ldn-1', 'b-ldn-2']);
    expect(view.available(0, 2)).toBe(-1);
    expect(view.etaMinutes(0, 2)).toBeNull();
    expect(view.available(0, 4)).toBe(0);
    const tea = view.available(0, 0);
    let perDc = 0;
    for (let dc = 0; dc < view.dcCount(0); dc++) perDc += view.perDc(0, 0, dc);
    expect(perDc).toBe(tea);
    // No DC serves the open sea: no DC, known SKUs 0, unknown -1.
    expect(view.dcCount(2)).toBe(0);
    expect(view.available(2, 0)).toBe(0);
    expect(view.available(2, 1)).toBe(-1);
    // A one-minute window reaches no DC either.
    expect(view.dcCount(3)).toBe(0);
    expect(view.error(0)).toBeUndefined();
  });

  it('keeps what a result read while later answers arrive on the same connection', async () => {
    // Columns are read in place from the frame they came in (a view when aligned, else a
    // copy): a kept result must not see the bytes of later answers, on this connection or
    // from the same socket reads. Answers of varied sizes put columns at varied offsets.
    const reader = await connect(test.keys.reader);
    const skus = ['b-tea', 'b-jam', 'b-scone', 'b-cream', 'b-unknown'];
    const places = [HERE, NEAR, NOWHERE];
    type View = Awaited<ReturnType<InventoryClient['availabilityMany']>>;
    const kept: { view: View; read: unknown }[] = [];
    const readAll = (view: View) =>
      Array.from({ length: view.count }, (_, query) => view.skus(query));
    for (let round = 0; round < 24; round++) {
      const queries: AvailabilityQuery[] = [];
      for (let query = 0; query <= round % 5; query++) {
        const place = places[(round + query) % places.length];
        queries.push({ ...place, skus: skus.slice(0, 1 + ((round * 7 + query) % skus.length)) });
      }
      const views = await Promise.all([
        reader.availabilityMany(queries),
        reader.availabilityMany(queries.slice(0, 1), { breakdown: round % 2 === 0 }),
      ]);
      for (const view of views) kept.push({ view, read: readAll(view) });
    }
    expect(kept).toHaveLength(48);
    for (const { view, read } of kept) expect(readAll(view)).toEqual(read);
    // And what was read is what the node answers.
    const first = { ...HERE, skus: skus.slice(0, 1) };
    expect(kept[0].read).toEqual(readAll(await reader.availabilityMany([first])));
  });

  it('answers without the breakdown, and refuses a bad location per query', async () => {
    const reader = await connect(test.keys.reader);
    const view = await reader.availabilityMany(
      [
        { ...HERE, skus: ['b-tea'] },
        { lat: 91, lng: 0, skus: ['b-tea'] },
        { ...HERE, skus: [] },
      ],
      { breakdown: false },
    );
    expect(view.breakdown).toBe(false);
    expect(view.available(0, 0)).toBeGreaterThan(0);
    expect(view.skus(0)['b-tea'].dcs).toEqual([]);
    expect(view.error(1)).toMatchObject({ code: 'BAD_LOCATION' });
    expect(view.dcCount(1)).toBe(0);
    expect(view.available(1, 0)).toBe(-1);
    expect(view.skuCount(2)).toBe(0);
    expect(view.dcCount(2)).toBe(2);
    // Sent alone, a query of no SKUs is answered in columns too, and read back as objects.
    await expect(reader.availability({ ...HERE, skus: [] })).resolves.toEqual({
      skus: {},
      dcsInRange: 2,
    });
  });
});

describe('connecting', () => {
  it('fails with NOT_FOUND, not retryable, on a wrong WebSocket path', async () => {
    const url = test.node.wsUrl.replace('/v1/ws', '/v2/ws');
    const error = await InventoryClient.connect(url, { apiKey: test.keys.reader }).catch((e) => e);
    expect(error).toBeInstanceOf(InventoryError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', retryable: false });
  });
});

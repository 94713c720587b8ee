import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryClient, InventoryError } from '../protocol/client/index.js';
import { startTestNode, type TestNode } from './testing/harness.js';

const HERE = { lat: 51.5072, lng: -0.1276 };

let test: TestNode;
const clients: InventoryClient[] = [];

async function connect(key: string, reconnect: false | object = false): Promise<InventoryClient> {
  const client = await InventoryClient.connect(test.node.wsUrl, {
    apiKey: key,
    timeoutMs: 10_000,
    reconnect,
  });
  clients.push(client);
  return client;
}

async function refusal(promise: Promise<unknown>): Promise<InventoryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(InventoryError);
    return error as InventoryError;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  test = await startTestNode();
  const admin = await connect(test.keys.admin);
  await admin.upsertDc({ id: 'ldn-1', name: 'London 1', location: HERE, radiusKm: 4 });
  await admin.upsertSku({ id: 'tea', name: 'Tea', category: 'drinks' });
  await admin.upsertSku({ id: 'hot', name: 'Flash sale item', category: 'deals' });
  await admin.receive({ dc: 'ldn-1', sku: 'tea', qty: 100 });
  await admin.receive({ dc: 'ldn-1', sku: 'hot', qty: 500 });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await test?.stop();
});

describe('SDK operations', () => {
  it('handshakes and reports the role and limits', async () => {
    const reader = await connect(test.keys.reader);
    expect(reader.server).toMatchObject({ version: 2, role: 'reader' });
    expect(reader.server.limits.requestsPerFrameMax).toBe(1024);
    const pong = await reader.ping();
    expect(Math.abs(pong.now - Date.now())).toBeLessThan(5_000);
  });

  it('runs every operation', async () => {
    const admin = await connect(test.keys.admin);
    const orderer = await connect(test.keys.orderer);
    const reader = await connect(test.keys.reader);
    const dc = await admin.upsertDc({ id: 'ldn-2', name: 'London 2', location: HERE, radiusKm: 2 });
    expect(dc).toMatchObject({ created: true, dc: { id: 'ldn-2', radiusKm: 2 } });
    const sku = await admin.upsertSku({ id: 'scone', name: 'Scone', maxPerOrder: 10 });
    expect(sku).toMatchObject({ created: true, sku: { id: 'scone', maxPerOrder: 10 } });
    expect((await admin.receive({ dc: 'ldn-2', sku: 'scone', qty: 30 })).stock.onHand).toBe(30);
    expect((await admin.adjust({ dc: 'ldn-2', sku: 'scone', onHand: 20 })).stock.onHand).toBe(20);
    expect((await reader.getStock({ dc: 'ldn-2', sku: 'scone' })).stock.available).toBe(20);

    const seen = await reader.availability({ ...HERE, skus: ['scone', 'tea'] });
    expect(seen.skus.scone.available).toBe(20);
    expect(seen.skus.tea.dcs[0].dc).toBe('ldn-1');
    // An ordinary object keyed in the order asked (built in dictionary mode, see
    // protocol/client/availability-batch.ts), however the SKUs are ordered.
    expect(Object.getPrototypeOf(seen.skus)).toBe(Object.prototype);
    expect(Object.hasOwn(seen.skus, 'scone')).toBe(true);
    expect(Object.keys(seen.skus)).toEqual(['scone', 'tea']);
    const reversed = await reader.availability({ ...HERE, skus: ['tea', 'scone'] });
    expect(Object.keys(reversed.skus)).toEqual(['tea', 'scone']);
    expect(JSON.parse(JSON.stringify(reversed.skus))).toEqual({
      tea: seen.skus.tea,
      scone: seen.skus.scone,
    });
    const browse = await reader.browse({ ...HERE, category: 'drinks' });
    expect(browse.items.map((item) => item.sku)).toEqual(['tea']);

    const basket = { orderId: 'sdk-1', location: HERE, mode: 'hold' as const, ttlSeconds: 60 };
    const check = await orderer.checkBasket({ ...basket, lines: [{ sku: 'scone', qty: 2 }] });
    expect(check.allocation).toEqual([{ sku: 'scone', dc: 'ldn-2', qty: 2 }]);
    const placed = await orderer.placeOrder({ ...basket, lines: [{ sku: 'scone', qty: 2 }] });
    expect(placed).toMatchObject({ created: true, order: { status: 'held' } });
    const extended = await orderer.extend({ orderId: 'sdk-1', ttlSeconds: 600 });
    expect(extended.order.expiresAt).toBeGreaterThan(placed.order.expiresAt!);
    const changed = await orderer.changeOrder({
      orderId: 'sdk-1',
      lines: [{ sku: 'scone', qty: 5 }],
    });
    expect(changed.order.allocation).toEqual([{ sku: 'scone', dc: 'ldn-2', qty: 5 }]);
    expect((await orderer.confirm({ orderId: 'sdk-1' })).order.status).toBe('confirmed');
    expect((await orderer.fulfil({ orderId: 'sdk-1' })).order.status).toBe('fulfilled');
    expect((await reader.getOrder({ orderId: 'sdk-1' })).order.status).toBe('fulfilled');
    expect((await reader.getStock({ dc: 'ldn-2', sku: 'scone' })).stock.onHand).toBe(15);

    await orderer.placeOrder({ ...basket, orderId: 'sdk-2', lines: [{ sku: 'tea', qty: 1 }] });
    expect((await orderer.cancel({ orderId: 'sdk-2' })).order.status).toBe('cancelled');
  });

  it('refuses business errors with their code and per-line detail', async () => {
    const orderer = await connect(test.keys.orderer);
    const error = await refusal(
      orderer.placeOrder({
        orderId: 'sdk-oos',
        location: HERE,
        mode: 'commit',
        lines: [{ sku: 'tea', qty: 10_000 }],
      }),
    );
    expect(error.code).toBe('OUT_OF_STOCK');
    expect(error.lines?.[0]).toMatchObject({ sku: 'tea', requested: 10_000 });
    expect((await refusal(orderer.getOrder({ orderId: 'missing' }))).code).toBe('ORDER_NOT_FOUND');
  });
});

/** A full collection, on demand (the flag exposes `gc` to contexts made after it). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('SDK memory', () => {
  it('keeps no answer alive once its caller has let go of it', async () => {
    const orderer = await connect(test.keys.orderer);
    /** One turn of coalesced calls of both kinds (one chunk per op); only weak refs leave. */
    const turn = async (n: number): Promise<WeakRef<object>[]> => {
      const queries = Array.from({ length: 8 }, () =>
        orderer.availability({ ...HERE, skus: ['tea', 'hot'] }),
      );
      const orders = Array.from({ length: 4 }, (_, entry) =>
        orderer.placeOrder({
          orderId: `memory-${n}-${entry}`,
          location: HERE,
          lines: [{ sku: 'tea', qty: 1 }],
          mode: 'hold',
        }),
      );
      const settled = await Promise.all([...queries, ...orders]);
      return settled.map((answer) => new WeakRef(answer));
    };
    const answers: WeakRef<object>[] = [];
    for (let n = 0; n < 20; n++) answers.push(...(await turn(n)));
    expect(answers).toHaveLength(240);
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    const alive = answers.filter((answer) => answer.deref() !== undefined).length;
    expect(alive).toBe(0);
  });
});

describe('SDK memory with a full window', () => {
  it('lets go of answers while the window holds the rest of the calls back', async () => {
    const client = await InventoryClient.connect(test.node.wsUrl, {
      apiKey: test.keys.reader,
      timeoutMs: 10_000,
      reconnect: false,
      inFlightMax: 8,
    });
    clients.push(client);
    const pending = Array.from({ length: 1_200 }, () => client.ping());
    /** The first 600 answers, weakly, once they are in; the other 600 are still queued. */
    const firstHalf = async (): Promise<WeakRef<object>[]> =>
      (await Promise.all(pending.slice(0, 600))).map((answer) => new WeakRef(answer));
    const answers = await firstHalf();
    expect(client.queued).toBeGreaterThan(0);
    // The caller's own list still holds the promises: drop them before collecting.
    pending.splice(0, 600);
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    const alive = answers.filter((answer) => answer.deref() !== undefined).length;
    expect(alive).toBe(0);
    await Promise.all(pending);
  });
});

describe('SDK auth', () => {
  it('refuses an unknown key at connect', async () => {
    const error = await refusal(
      InventoryClient.connect(test.node.wsUrl, {
        apiKey: 'wrong-key-000000000000',
        reconnect: false,
      }),
    );
    expect(error.code).toBe('UNAUTHORIZED');
  });

  it("refuses each op above the key's role with FORBIDDEN, keeping the connection", async () => {
    const reader = await connect(test.keys.reader);
    const orderer = await connect(test.keys.orderer);
    const order = { orderId: 'sdk-auth', location: HERE, mode: 'hold' as const, lines: [] };
    const readerRefusals = [
      reader.placeOrder(order),
      reader.checkBasket(order),
      reader.confirm({ orderId: 'x' }),
      reader.cancel({ orderId: 'x' }),
      reader.extend({ orderId: 'x', ttlSeconds: 5 }),
      reader.changeOrder({ orderId: 'x', lines: [] }),
      reader.fulfil({ orderId: 'x' }),
      reader.receive({ dc: 'ldn-1', sku: 'tea', qty: 1 }),
      reader.adjust({ dc: 'ldn-1', sku: 'tea', onHand: 1 }),
      reader.upsertDc({ id: 'x', name: 'x', location: HERE, radiusKm: 1 }),
      reader.upsertSku({ id: 'x', name: 'x' }),
    ];
    const ordererRefusals = [
      orderer.receive({ dc: 'ldn-1', sku: 'tea', qty: 1 }),
      orderer.adjust({ dc: 'ldn-1', sku: 'tea', onHand: 1 }),
      orderer.upsertDc({ id: 'x', name: 'x', location: HERE, radiusKm: 1 }),
      orderer.upsertSku({ id: 'x', name: 'x' }),
    ];
    const outcomes = await Promise.allSettled([...readerRefusals, ...ordererRefusals]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toBeInstanceOf(InventoryError);
        expect((outcome.reason as InventoryError).code).toBe('FORBIDDEN');
      }
    }
    expect((await reader.getStock({ dc: 'ldn-1', sku: 'tea' })).stock.onHand).toBe(100);
    expect((await orderer.getOrder({ orderId: 'sdk-1' })).order.orderId).toBe('sdk-1');
  });
});

describe('SDK contention', () => {
  it('sells exactly the stock of a hot SKU to 20 connections racing for it', async () => {
    const buyers = await Promise.all(Array.from({ length: 20 }, () => connect(test.keys.orderer)));
    let sold = 0;
    let refused = 0;
    await Promise.all(
      buyers.map(async (buyer, index) => {
        for (let attempt = 0; attempt < 1_000; attempt++) {
          try {
            await buyer.placeOrder({
              orderId: `hot-${index}-${attempt}`,
              location: HERE,
              mode: 'commit',
              lines: [{ sku: 'hot', qty: 1 }],
            });
            sold++;
          } catch (error) {
            expect((error as InventoryError).code).toBe('OUT_OF_STOCK');
            refused++;
            return;
          }
        }
      }),
    );
    expect(sold).toBe(500);
    expect(refused).toBe(20);
    const stock = test.node.engine.getStock('ldn-1', 'hot');
    expect(stock).toMatchObject({ ok: true, stock: { onHand: 500, available: 0, reserved: 500 } });
  });
});

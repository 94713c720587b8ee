/**
 * `availabilityMany` by SKU refs (PROTOCOL.md, "SKU refs") on a real node: raw frames for what
 * the node accepts and refuses, and the SDK, which sends refs once hello offers a table,
 * checked against the engine and against a reconnect (a new connection starts a new table).
 */

import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WireCodec } from '../protocol/codec.js';
import { InventoryClient } from '../protocol/client/index.js';
import { i32Column, f64Column } from '../protocol/columns.js';
import { SKU_REFS_MAX, SKUS_PER_BATCH_MAX } from '../protocol/limits.js';
import { MessageKinds, type WireMessage } from '../protocol/messages.js';
import { startTestNode, type TestNode } from './testing/harness.js';

const HERE = { lat: 51.5072, lng: -0.1276 };
const SKUS = ['r-tea', 'r-jam', 'r-scone'];
/** Nine SKUs for orders of nine lines: a batch of them has more lines than a query batch SKUs. */
const BULK_SKUS = Array.from({ length: 9 }, (_, at) => `r-bulk-${at}`);

let test: TestNode;
const clients: InventoryClient[] = [];

beforeAll(async () => {
  test = await startTestNode();
  const admin = await InventoryClient.connect(test.node.wsUrl, {
    apiKey: test.keys.admin,
    reconnect: false,
  });
  clients.push(admin);
  await admin.upsertDc({ id: 'r-ldn', name: 'London', location: HERE, radiusKm: 4 });
  for (const id of SKUS) await admin.upsertSku({ id, name: id });
  await admin.receive({ dc: 'r-ldn', sku: 'r-tea', qty: 50 });
  await admin.receive({ dc: 'r-ldn', sku: 'r-scone', qty: 5 });
  for (const id of BULK_SKUS) {
    await admin.upsertSku({ id, name: id });
    await admin.receive({ dc: 'r-ldn', sku: id, qty: 10_000 });
  }
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await test?.stop();
});

/** A version-2 WebSocket speaking raw frames; `send` resolves with the answers by id. */
async function rawConnection(key = test.keys.reader) {
  const codec = new WireCodec();
  const socket = new WebSocket(test.node.wsUrl, {
    headers: { authorization: `Bearer ${key}` },
    perMessageDeflate: false,
  });
  const answers = new Map<number, WireMessage>();
  socket.on('message', (data: Buffer) => {
    const decoded = codec.decodeMessageFrame(data);
    if (decoded.ok) for (const message of decoded.messages) answers.set(message[0], message);
  });
  await new Promise((done, fail) => {
    socket.once('open', done);
    socket.once('error', fail);
  });
  let nextId = 1;
  const send = async (requests: [string, Record<string, unknown>][]) => {
    const ids = requests.map(() => nextId++);
    socket.send(codec.encodeValue(requests.map(([op, args], at) => [ids[at], op, args])));
    const deadline = Date.now() + 10_000;
    while (!ids.every((id) => answers.has(id)) && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 5));
    }
    return ids.map((id) => answers.get(id)!);
  };
  const [hello] = await send([['hello', { versions: [2] }]]);
  return { send, hello, close: () => socket.close() };
}

/** `availabilityMany` args of one query at HERE naming its SKUs by `refs`. */
function byRefs(refs: number[], defines: [number, string][] = []): Record<string, unknown> {
  const args: Record<string, unknown> = {
    queries: 1,
    lat: f64Column(Float64Array.of(HERE.lat), 1),
    lng: f64Column(Float64Array.of(HERE.lng), 1),
    skuCounts: i32Column(Int32Array.of(refs.length), 1),
    skuRefs: i32Column(Int32Array.from(refs), refs.length),
  };
  if (defines.length > 0) {
    args.defineRefs = i32Column(Int32Array.from(defines.map(([ref]) => ref)), defines.length);
    args.defineSkus = defines.map(([, id]) => id);
  }
  return args;
}

function availableOf(message: WireMessage): number[] {
  expect(message[1]).toBe(MessageKinds.OK);
  const body = message[2] as { available: Uint8Array };
  const bytes = body.available;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / 4 }, (_, at) => view.getInt32(at * 4, true));
}

describe('availabilityMany by SKU refs, raw frames', () => {
  it('offers the table in hello, defines refs once and answers later requests by ref', async () => {
    const raw = await rawConnection();
    try {
      expect(raw.hello[2]).toMatchObject({ version: 2, limits: { skuRefsMax: SKU_REFS_MAX } });
      const [first, second] = await raw.send([
        [
          'availabilityMany',
          byRefs(
            [0, 1, 2, 9],
            [
              [0, 'r-tea'],
              [1, 'r-jam'],
              [2, 'r-scone'],
              [9, 'r-none'],
            ],
          ),
        ],
        ['availabilityMany', byRefs([2, 0, 9])],
      ]);
      expect(availableOf(first)).toEqual([50, 0, 5, -1]);
      expect(availableOf(second)).toEqual([5, 50, -1]);
      // The same answer as by id.
      const [byId] = await raw.send([
        [
          'availabilityMany',
          {
            ...byRefs([]),
            skuRefs: undefined,
            skuCounts: i32Column(Int32Array.of(3), 1),
            skus: ['r-scone', 'r-tea', 'r-none'],
          },
        ],
      ]);
      expect(availableOf(byId)).toEqual([5, 50, -1]);
    } finally {
      raw.close();
    }
  });

  it('refuses an undefined ref, a renamed ref and a mix of ids and refs, changing nothing', async () => {
    const raw = await rawConnection();
    try {
      const [undefinedRef, after, mixed] = await raw.send([
        ['availabilityMany', byRefs([0, 3], [[0, 'r-tea']])],
        ['availabilityMany', byRefs([0])],
        ['availabilityMany', { ...byRefs([0]), skus: ['r-tea'] }],
      ]);
      expect(undefinedRef[1]).toBe(MessageKinds.ERROR);
      expect(undefinedRef[2]).toMatchObject({ code: 'BAD_FIELD', field: 'skuRefs[1]' });
      // The refused request's definition of ref 0 was not kept.
      expect(after[2]).toMatchObject({ code: 'BAD_FIELD', field: 'skuRefs[0]' });
      expect(mixed[2]).toMatchObject({ code: 'BAD_FIELD', field: 'skus' });
      const [defined, renamed, still] = await raw.send([
        ['availabilityMany', byRefs([0], [[0, 'r-tea']])],
        ['availabilityMany', byRefs([0], [[0, 'r-jam']])],
        ['availabilityMany', byRefs([0])],
      ]);
      expect(availableOf(defined)).toEqual([50]);
      expect(renamed[2]).toMatchObject({ code: 'BAD_FIELD', field: 'defineRefs[0]' });
      expect(availableOf(still)).toEqual([50]);
      const [outOfRange] = await raw.send([['availabilityMany', byRefs([SKU_REFS_MAX])]]);
      expect(outOfRange[2]).toMatchObject({ code: 'BAD_FIELD', field: 'skuRefs[0]' });
    } finally {
      raw.close();
    }
  });

  it('keeps a table per connection', async () => {
    const one = await rawConnection();
    const two = await rawConnection();
    try {
      await one.send([['availabilityMany', byRefs([0], [[0, 'r-tea']])]]);
      const [unknownThere] = await two.send([['availabilityMany', byRefs([0])]]);
      expect(unknownThere[2]).toMatchObject({ code: 'BAD_FIELD', field: 'skuRefs[0]' });
    } finally {
      one.close();
      two.close();
    }
  });
});

describe('the SDK by SKU refs', () => {
  it('answers as the engine does, and starts a new table on a new connection', async () => {
    const reader = await InventoryClient.connect(test.node.wsUrl, {
      apiKey: test.keys.reader,
      reconnect: { retries: 5, baseDelayMs: 10, maxDelayMs: 50 },
    });
    clients.push(reader);
    const session = (reader as unknown as { session: { skuRefs: { size: number } | null } })
      .session;
    const queries = [
      { ...HERE, skus: ['r-tea', 'r-jam', 'r-unknown'] },
      { ...HERE, skus: ['r-scone', 'r-tea'] },
    ];
    const check = async () => {
      const [view, single] = await Promise.all([
        reader.availabilityMany(queries),
        reader.availability({ ...HERE, skus: ['r-unknown', 'r-scone'] }),
      ]);
      for (let query = 0; query < queries.length; query++) {
        const engine = test.node.engine.availability(HERE, queries[query].skus);
        expect(engine.ok && view.skus(query)).toEqual(engine.ok && engine.skus);
      }
      const engine = test.node.engine.availability(HERE, ['r-unknown', 'r-scone']);
      expect(single.skus).toEqual(engine.ok && engine.skus);
    };
    await check();
    await check();
    expect(session.skuRefs?.size).toBe(4);
    // The connection drops; the SDK reconnects, with a new table, and names its SKUs again.
    const first = session.skuRefs;
    (reader as unknown as { session: { socket: WebSocket } }).session.socket.terminate();
    const deadline = Date.now() + 10_000;
    while (reader.state === 'open' && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 5));
    }
    while (reader.state !== 'open' && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 5));
    }
    expect(reader.state).toBe('open');
    expect(session.skuRefs).not.toBe(first);
    await check();
    expect(session.skuRefs?.size).toBe(4);
  });

  it('places orders by ref: the same answers, refusals naming the SKU, nothing placed for a bad ref', async () => {
    const orderer = await InventoryClient.connect(test.node.wsUrl, {
      apiKey: test.keys.orderer,
      reconnect: false,
    });
    clients.push(orderer);
    const session = (orderer as unknown as { session: { skuRefs: { size: number } | null } })
      .session;
    const order = (orderId: string, lines: { sku: string; qty: number }[]) => ({
      orderId,
      location: HERE,
      lines,
      mode: 'hold' as const,
    });
    const batch = await orderer.placeOrders([
      order('ref-o1', [
        { sku: 'r-tea', qty: 2 },
        { sku: 'r-scone', qty: 1 },
      ]),
      order('ref-o2', [{ sku: 'r-none', qty: 1 }]),
      order('ref-o3', [{ sku: 'r-scone', qty: 99 }]),
    ]);
    expect(session.skuRefs?.size).toBe(3);
    expect(batch.result(0)).toBe('created');
    expect(batch.order(0)?.allocation).toEqual([
      { sku: 'r-tea', dc: 'r-ldn', qty: 2 },
      { sku: 'r-scone', dc: 'r-ldn', qty: 1 },
    ]);
    expect(batch.error(1)).toMatchObject({ code: 'UNKNOWN_SKU' });
    expect(batch.error(1)?.lines?.[0]).toMatchObject({ sku: 'r-none' });
    expect(batch.error(2)).toMatchObject({ code: 'OUT_OF_STOCK' });
    expect(batch.error(2)?.lines?.[0]).toMatchObject({ sku: 'r-scone', requested: 99 });
    // Placed again (now by refs the node holds): the first answer again, nothing taken twice.
    const again = await orderer.placeOrders([
      order('ref-o1', [
        { sku: 'r-tea', qty: 2 },
        { sku: 'r-scone', qty: 1 },
      ]),
    ]);
    expect(again.result(0)).toBe('exists');
    expect(test.node.engine.getStock('r-ldn', 'r-tea')).toMatchObject({
      ok: true,
      stock: { reserved: 2 },
    });
    // A raw request with a ref the connection never defined places nothing.
    const raw = await rawConnection(test.keys.orderer);
    try {
      const [refused] = await raw.send([
        [
          'placeOrders',
          {
            orders: 1,
            orderIds: ['ref-o4'],
            lat: f64Column(Float64Array.of(HERE.lat), 1),
            lng: f64Column(Float64Array.of(HERE.lng), 1),
            lineCounts: i32Column(Int32Array.of(1), 1),
            skuRefs: i32Column(Int32Array.of(7), 1),
            qty: i32Column(Int32Array.of(1), 1),
            mode: 'hold',
          },
        ],
      ]);
      expect(refused[2]).toMatchObject({ code: 'BAD_FIELD', field: 'skuRefs[0]' });
      const lookup = await orderer.getOrder({ orderId: 'ref-o4' }).catch((error) => error);
      expect(lookup).toMatchObject({ code: 'ORDER_NOT_FOUND' });
    } finally {
      raw.close();
    }
  });

  it('places a batch by ref with more lines than an availabilityMany may have SKUs', async () => {
    const orderer = await InventoryClient.connect(test.node.wsUrl, {
      apiKey: test.keys.orderer,
      reconnect: false,
    });
    clients.push(orderer);
    const lines = BULK_SKUS.map((sku) => ({ sku, qty: 1 }));
    const orders = Array.from({ length: 1_000 }, (_, at) => ({
      orderId: `ref-bulk-${at}`,
      location: HERE,
      lines,
      mode: 'hold' as const,
    }));
    expect(orders.length * lines.length).toBeGreaterThan(SKUS_PER_BATCH_MAX);
    const batch = await orderer.placeOrders(orders);
    expect(batch.refusedCount).toBe(0);
    expect(batch.order(999)?.allocation.map((line) => line.sku)).toEqual(BULK_SKUS);
  });
});

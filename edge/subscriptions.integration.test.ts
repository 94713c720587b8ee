/**
 * Subscriptions on a real node (two worker threads, real LMDB log, SDK clients over
 * WebSocket): availability pushes caused by other clients' orders within 100 ms, low-stock
 * alerts once per crossing, the order event stream in lifecycle order (expiry from the main
 * thread included), roles and limits, and availability subscribers that stop reading: skipped
 * ahead, while the node keeps answering everyone else (an order stream subscriber that stops
 * reading: order-stream.integration.test.ts).
 */

import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDemoNetwork } from '../engine/testing/index.js';
import { WireCodec } from '../protocol/codec.js';
import { InventoryClient, type OrderEventsUpdate } from '../protocol/client/index.js';
import { type LowStockAlert, MessageKinds, type WireMessage } from '../protocol/messages.js';
import { http, startTestNode, TEST_DEMO, type TestNode } from './testing/harness.js';

/** Oslo: far from the demo network, so only this file's DCs serve it. */
const HERE = { lat: 59.9139, lng: 10.7522 };
const DELIVERY_MS_MAX = 100;

let test: TestNode;
const clients: InventoryClient[] = [];

async function connect(node: TestNode, key: string): Promise<InventoryClient> {
  const client = await InventoryClient.connect(node.node.wsUrl, {
    apiKey: key,
    timeoutMs: 10_000,
    reconnect: false,
  });
  clients.push(client);
  return client;
}

/** Waits for `predicate`, polling; fails after `timeoutMs`. */
async function waitFor(predicate: () => boolean, timeoutMs = 5_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

beforeAll(async () => {
  test = await startTestNode();
  const admin = await connect(test, test.keys.admin);
  await admin.upsertDc({ id: 'osl-1', name: 'Oslo 1', location: HERE, radiusKm: 5 });
  await admin.upsertDc({ id: 'osl-2', name: 'Oslo 2', location: HERE, radiusKm: 5 });
  await admin.upsertSku({ id: 'brunost', name: 'Brunost' });
  await admin.upsertSku({ id: 'lefse', name: 'Lefse', lowStockThreshold: 5 });
  await admin.upsertSku({ id: 'kaffe', name: 'Kaffe' });
  await admin.receive({ dc: 'osl-1', sku: 'brunost', qty: 1_000 });
  await admin.receive({ dc: 'osl-2', sku: 'brunost', qty: 50 });
  await admin.receive({ dc: 'osl-1', sku: 'lefse', qty: 20 });
  await admin.receive({ dc: 'osl-1', sku: 'kaffe', qty: 10_000 });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await test?.stop();
});

describe('availability subscriptions', () => {
  it("pushes another client's order within 100 ms, whichever thread served it", async () => {
    const reader = await connect(test, test.keys.reader);
    const subscription = reader.subscribeAvailability({ ...HERE, skus: ['brunost', 'kaffe'] });
    const snapshot = await subscription.next();
    expect(snapshot.value).toMatchObject({
      snapshot: true,
      skus: { brunost: { available: 1_050 }, kaffe: { available: 10_000 } },
    });
    expect(snapshot.value?.skus.brunost.etaMinutes).toBeGreaterThan(0);
    // Eight connections: the kernel spreads them over both worker threads.
    const orderers = await Promise.all(
      Array.from({ length: 8 }, () => connect(test, test.keys.orderer)),
    );
    let expected = 1_050;
    const latencies: number[] = [];
    for (let index = 0; index < orderers.length; index++) {
      const started = performance.now();
      const placing = orderers[index].placeOrder({
        orderId: `avail-${index}`,
        location: HERE,
        lines: [{ sku: 'brunost', qty: 3 }],
        mode: 'hold',
      });
      expected -= 3;
      for (;;) {
        const update = await subscription.next();
        expect(update.value?.snapshot).toBe(false);
        // Only what changed is pushed: kaffe never moves here.
        expect(update.value?.skus.kaffe).toBeUndefined();
        if (update.value?.skus.brunost?.available === expected) break;
      }
      latencies.push(performance.now() - started);
      await placing;
    }
    expect(Math.max(...latencies), `latencies ${latencies.join(', ')} ms`).toBeLessThan(
      DELIVERY_MS_MAX,
    );
    await subscription.return();
  });

  it('watches a DC set, sums it, and coalesces a burst into few pushes', async () => {
    const reader = await connect(test, test.keys.reader);
    const admin = await connect(test, test.keys.admin);
    const subscription = reader.subscribeAvailability({ dcs: ['osl-2'], skus: ['brunost'] });
    const first = await subscription.next();
    expect(first.value?.skus.brunost).toEqual({ available: 50, etaMinutes: null });
    await Promise.all(
      Array.from({ length: 40 }, () => admin.receive({ dc: 'osl-2', sku: 'brunost', qty: 1 })),
    );
    const updates: number[] = [];
    while (updates.at(-1) !== 90) {
      const update = await subscription.next();
      updates.push(update.value!.skus.brunost.available);
    }
    // 40 changes, at most one push per 20 ms tick: far fewer pushes than changes.
    expect(updates.length).toBeLessThan(40);
    await subscription.return();
  });

  it('refuses unknown SKUs, the order stream to readers, and too many subscriptions', async () => {
    const reader = await connect(test, test.keys.reader);
    const unknown = reader.subscribeAvailability({ ...HERE, skus: ['nope'] });
    await expect(unknown.next()).rejects.toMatchObject({ code: 'UNKNOWN_SKU' });
    await expect(reader.subscribeOrders().next()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const limit = reader.server.limits.subscriptionsMax;
    const many = Array.from({ length: limit }, () =>
      reader.subscribeAvailability({ ...HERE, skus: ['kaffe'] }),
    );
    await Promise.all(many.map((subscription) => subscription.next()));
    const over = reader.subscribeAvailability({ ...HERE, skus: ['kaffe'] });
    await expect(over.next()).rejects.toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS' });
    await many[0].return();
    const again = reader.subscribeAvailability({ ...HERE, skus: ['kaffe'] });
    await expect(again.next()).resolves.toMatchObject({ value: { snapshot: true } });
    await Promise.all([...many, again].map((subscription) => subscription.return()));
  });
});

describe('low-stock alerts', () => {
  it('counts only cells their DC carries: never-stocked cells are not low', async () => {
    // The demo network as the node seeds it: rows of 0 units are not received.
    const network = generateDemoNetwork({ ...TEST_DEMO, metro: 'bengaluru' });
    const thresholds = new Map(network.skus.map((sku) => [sku.id, sku.lowStockThreshold ?? 0]));
    const stockedBelow = network.stock.filter(
      (row) => row.qty > 0 && row.qty < (thresholds.get(row.sku) ?? 0),
    );
    const reader = await connect(test, test.keys.reader);
    const everything = reader.subscribeLowStock();
    const snapshot = (await everything.next()).value;
    await everything.return();
    expect(snapshot?.truncated).toBe(false);
    const alerts: LowStockAlert[] = snapshot?.alerts ?? [];
    const listed = alerts.map((alert) => `${alert.dc}/${alert.sku}`).sort();
    expect(listed).toEqual(stockedBelow.map((row) => `${row.dc}/${row.sku}`).sort());
    const metrics = await http(test.node.port, '/metrics', { key: test.keys.reader });
    expect(metrics.text).toContain(`\ninventory_low_stock_cells ${stockedBelow.length}\n`);
  });

  it('alerts once when a cell crosses below its threshold and once when it recovers', async () => {
    const reader = await connect(test, test.keys.reader);
    const orderer = await connect(test, test.keys.orderer);
    const admin = await connect(test, test.keys.admin);
    // No other DC ever stocked lefse: none of them is low.
    const everywhere = reader.subscribeLowStock({ skus: ['lefse'] });
    const lowElsewhere: LowStockAlert[] = (await everywhere.next()).value?.alerts ?? [];
    expect(lowElsewhere).toEqual([]);
    await everywhere.return();
    const subscription = reader.subscribeLowStock({ skus: ['lefse'], dcs: ['osl-1'] });
    const snapshot = await subscription.next();
    expect(snapshot.value).toMatchObject({ snapshot: true, alerts: [], truncated: false });
    const alerts: { state: string; available: number }[] = [];
    const reading = (async () => {
      for await (const update of subscription) alerts.push(...update.alerts);
    })();
    const order = (id: string, qty: number) =>
      orderer.placeOrder({
        orderId: id,
        location: HERE,
        lines: [{ sku: 'lefse', qty }],
        mode: 'commit',
      });
    // 20 → 12 → 7: above the threshold of 5, nothing.
    await order('ls-1', 8);
    await order('ls-2', 5);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(alerts).toEqual([]);
    // 7 → 4 → 2 → 1: one crossing, one alert.
    await order('ls-3', 3);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await order('ls-4', 2);
    await order('ls-5', 1);
    await waitFor(() => alerts.length >= 1, 2_000, 'the low alert');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ dc: 'osl-1', sku: 'lefse', state: 'low', threshold: 5 });
    expect(alerts[0].available).toBeLessThan(5);
    // 1 → 3 still low; → 9 recovered: one alert; → 19 still fine.
    await admin.receive({ dc: 'osl-1', sku: 'lefse', qty: 2 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    await admin.receive({ dc: 'osl-1', sku: 'lefse', qty: 6 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    await admin.receive({ dc: 'osl-1', sku: 'lefse', qty: 10 });
    await waitFor(() => alerts.length >= 2, 2_000, 'the recovery');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alerts.map((alert) => alert.state)).toEqual(['low', 'ok']);
    expect(alerts[1].available).toBe(9);
    // A new subscriber sees the current state in its snapshot.
    await order('ls-6', 16);
    await waitFor(() => alerts.length >= 3, 2_000, 'the second low alert');
    const late = reader.subscribeLowStock({ skus: ['lefse', 'kaffe'], dcs: ['osl-1'] });
    const lateSnapshot = await late.next();
    expect(lateSnapshot.value?.alerts).toEqual([
      expect.objectContaining({ dc: 'osl-1', sku: 'lefse', state: 'low', available: 3 }),
    ]);
    await late.return();
    await subscription.return();
    await reading;
  });
});

describe('the order event stream', () => {
  it('delivers each order lifecycle in order, across connections and threads', async () => {
    const listener = await connect(test, test.keys.orderer);
    const subscription = listener.subscribeOrders();
    const snapshot = (await subscription.next()).value as OrderEventsUpdate;
    expect(snapshot).toMatchObject({ snapshot: true, events: [], missed: 0 });
    const events: OrderEventsUpdate['events'] = [];
    const reading = (async () => {
      for await (const update of subscription) {
        expect(update.missed).toBe(0);
        events.push(...update.events);
      }
    })();
    const actors = await Promise.all(
      Array.from({ length: 6 }, () => connect(test, test.keys.orderer)),
    );
    const expected = new Map<string, string[]>();
    const lifecycle = async (index: number) => {
      const orderId = `life-${index}`;
      const [a, b, c] = [0, 1, 2].map((step) => actors[(index + step) % actors.length]);
      const base = { orderId, location: HERE, lines: [{ sku: 'kaffe', qty: 1 }] };
      await a.placeOrder({ ...base, mode: 'hold', ttlSeconds: 60 });
      if (index % 3 === 0) {
        await b.extend({ orderId, ttlSeconds: 120 });
        await c.changeOrder({ orderId, lines: [{ sku: 'kaffe', qty: 2 }] });
        await a.cancel({ orderId });
        expected.set(orderId, ['placed', 'extended', 'changed', 'cancelled']);
      } else {
        await b.confirm({ orderId });
        await c.fulfil({ orderId });
        expected.set(orderId, ['placed', 'confirmed', 'fulfilled']);
      }
    };
    await Promise.all(Array.from({ length: 24 }, (_, index) => lifecycle(index)));
    // A hold that expires: its event comes from the main thread's sweep.
    await actors[0].placeOrder({
      orderId: 'life-expiring',
      location: HERE,
      lines: [{ sku: 'kaffe', qty: 1 }],
      mode: 'hold',
      ttlSeconds: 1,
    });
    expected.set('life-expiring', ['placed', 'expired']);
    const total = [...expected.values()].reduce((sum, types) => sum + types.length, 0);
    await waitFor(() => events.length >= total, 5_000, 'every order event');
    const seen = new Map<string, string[]>();
    for (const event of events) {
      if (!expected.has(event.orderId)) continue;
      seen.set(event.orderId, [...(seen.get(event.orderId) ?? []), event.type]);
    }
    expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(expected));
    const seqs = events.map((event) => event.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs[0]).toBeGreaterThanOrEqual(snapshot.seq!);
    const expired = events.find(
      (event) => event.orderId === 'life-expiring' && event.type === 'expired',
    );
    expect(expired?.status).toBe('expired');
    await subscription.return();
    await reading;
  });
});

// Subscribers that stop reading, on a node with a small subscriber buffer and no fsync wait.

interface RawClient {
  socket: WebSocket;
  messages: WireMessage[];
  closeCode: number | null;
  send(requests: unknown[]): void;
}

async function rawClient(node: TestNode, key: string): Promise<RawClient> {
  const codec = new WireCodec();
  const socket = new WebSocket(node.node.wsUrl, {
    headers: { authorization: `Bearer ${key}` },
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  const client: RawClient = {
    socket,
    messages: [],
    closeCode: null,
    send: (requests) => socket.send(codec.encodeValue(requests)),
  };
  socket.on('message', (data: Buffer) => {
    const decoded = codec.decodeMessageFrame(data);
    if (decoded.ok) client.messages.push(...decoded.messages);
  });
  socket.on('close', (code: number) => {
    client.closeCode = code;
  });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return client;
}

/** The socket's TCP stream: pausing it stops reading, so the node's buffer fills. */
function tcp(client: RawClient): { pause(): void; resume(): void } {
  return (client.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
}

async function scrape(node: TestNode): Promise<string> {
  const answer = await http(node.node.port, '/metrics', { key: node.keys.reader });
  expect(answer.status).toBe(200);
  return answer.text;
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('subscribers that stop reading', () => {
  let slow: TestNode;

  beforeAll(async () => {
    slow = await startTestNode({ fsync: 'none', subscriberBufferBytesMax: 64 * 1024 });
    const admin = await connect(slow, slow.keys.admin);
    await admin.upsertDc({ id: 'osl-1', name: 'Oslo 1', location: HERE, radiusKm: 5 });
    await admin.upsertSku({ id: 'kaffe', name: 'Kaffe' });
    await admin.receive({ dc: 'osl-1', sku: 'kaffe', qty: 1_000_000_000 });
  });

  afterAll(async () => {
    await slow?.stop();
  });

  it('skips availability pushes for a paused subscriber, then sends the latest values', {
    timeout: 60_000,
  }, async () => {
    const admin = await connect(slow, slow.keys.admin);
    const skus = slow.node.engine
      .catalogueRecords()
      .flatMap((record) => (record.type === 'sku' ? [record.sku.id] : []));
    expect(skus.length).toBeGreaterThan(50);
    const paused = await rawClient(slow, slow.keys.reader);
    const subscriptions = 64;
    paused.send([
      [1, 'hello', { versions: [1] }],
      ...Array.from({ length: subscriptions }, (_, index) => [
        index + 2,
        'subscribe',
        { kind: 'availability', ...HERE, skus },
      ]),
    ]);
    await waitFor(() => paused.messages.length === subscriptions + 1, 5_000, 'the snapshots');
    tcp(paused).pause();
    // Every round changes every SKU at the DC and lets a tick pass, so each tick pushes ~64 ×
    // 60 levels (~150 KB): the kernel's ~4 MB of socket buffers fill in about 30 rounds.
    const before = metric(await scrape(slow), 'inventory_pushes_skipped_total');
    let rounds = 0;
    while (rounds < 600) {
      rounds++;
      await Promise.all(skus.map((sku) => admin.receive({ dc: 'osl-1', sku, qty: 1 })));
      await new Promise((resolve) => setTimeout(resolve, 25));
      if (rounds % 10 === 0) {
        const skipped = metric(await scrape(slow), 'inventory_pushes_skipped_total');
        if (skipped > before) break;
      }
    }
    expect(metric(await scrape(slow), 'inventory_pushes_skipped_total')).toBeGreaterThan(before);
    // The node still answers everyone else.
    const other = await connect(slow, slow.keys.reader);
    await expect(other.ping()).resolves.toMatchObject({ now: expect.any(Number) });
    const finalLevel = (await admin.getStock({ dc: 'osl-1', sku: skus[0] })).stock.available;
    paused.messages.length = 0;
    tcp(paused).resume();
    const latestOf = (sub: number): number | undefined => {
      let latest: number | undefined;
      for (const [id, kind, body] of paused.messages) {
        if (kind !== MessageKinds.PUSH || id !== sub) continue;
        const level = (body as { skus: Record<string, { available: number }> }).skus[skus[0]];
        if (level !== undefined) latest = level.available;
      }
      return latest;
    };
    await waitFor(() => latestOf(2) === finalLevel, 10_000, 'the latest value after resuming');
    expect(paused.closeCode).toBeNull();
    paused.socket.close();
  });
});

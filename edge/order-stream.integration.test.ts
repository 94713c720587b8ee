/**
 * The resumable order event stream on real nodes (two worker threads, a real LMDB log, SDK
 * clients over WebSocket through a TCP proxy the test can cut):
 * - a subscription from an old sequence replays from the log and continues live, with no gap
 *   and no duplicate at the seam, while orders are being placed;
 * - a consumer whose connection is cut again and again, and whose node is restarted under
 *   load, receives every order event of the log exactly once, in log order (checked against
 *   the log itself after the run);
 * - retention: a sequence compacted out of the log is EVENTS_TRIMMED with the oldest held, a
 *   sequence past the log's end is refused;
 * - a subscriber that stops reading falls back to the log and, once it reads again, gets
 *   every event it missed, while the node keeps serving others.
 */

import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  InventoryClient,
  type InventoryError,
  type OrderEventsUpdate,
} from '../protocol/client/index.js';
import { WireCodec } from '../protocol/codec.js';
import { MessageKinds, type OrderEventView, type WireMessage } from '../protocol/messages.js';
import { LogReader } from '../wal/index.js';
import { LOG_DIR_NAME } from './node.js';
import { orderEventOf } from './order-event-tail.js';
import { makeDataDir, startTestNode, type TestNode } from './testing/harness.js';

/** Reykjavík: far from the demo network, so only this file's DC serves it. */
const HERE = { lat: 64.1466, lng: -21.9426 };
const RUN_MS_MAX = 60_000;

const nodes: TestNode[] = [];
const clients: InventoryClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

async function started(options: Parameters<typeof startTestNode>[0] = {}): Promise<TestNode> {
  const node = await startTestNode({ fsync: 'none', ...options });
  nodes.push(node);
  return node;
}

async function connect(url: string, key: string, reconnect = false): Promise<InventoryClient> {
  const client = await InventoryClient.connect(url, {
    apiKey: key,
    timeoutMs: 10_000,
    reconnect: reconnect ? { retries: 1_000, baseDelayMs: 20, maxDelayMs: 200 } : false,
  });
  clients.push(client);
  return client;
}

async function provision(node: TestNode): Promise<void> {
  const admin = await connect(node.node.wsUrl, node.keys.admin);
  await admin.upsertDc({ id: 'rey-1', name: 'Reykjavík 1', location: HERE, radiusKm: 5 });
  await admin.upsertSku({ id: 'skyr', name: 'Skyr' });
  await admin.receive({ dc: 'rey-1', sku: 'skyr', qty: 1_000_000_000 });
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Reads a subscription into `events` until it ends; the promise settles then. */
function collect(
  subscription: AsyncIterable<OrderEventsUpdate>,
  events: OrderEventView[],
): Promise<void> {
  return (async () => {
    for await (const update of subscription) {
      expect(update.missed).toBe(0);
      events.push(...update.events);
    }
  })();
}

/** Every order event in a stopped node's log from `from` on, as the stream derives them. */
async function eventsInLog(dataDir: string, from: number): Promise<OrderEventView[]> {
  const reader = LogReader.open(join(dataDir, LOG_DIR_NAME), 'none');
  try {
    const out: OrderEventView[] = [];
    const last = reader.lastLsn() ?? 0;
    const start = Math.max(from, reader.firstLsn() ?? 1);
    reader.read(start, last, Number.MAX_SAFE_INTEGER, (lsn, record) => {
      const event = orderEventOf(record);
      if (event === null) return;
      const orderId = (record as { orderId: string }).orderId;
      out.push({ seq: lsn, type: event.type, orderId, status: event.status, at: record.at });
    });
    return out;
  } finally {
    await reader.close();
  }
}

/** A TCP proxy to a node whose connections the test can cut, and whose target can move. */
class CuttableProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(public targetPort: number) {
    this.server = createServer((client) => {
      const upstream = tcpConnect(this.targetPort, '127.0.0.1');
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Resets every connection through the proxy. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('the order event stream resumes from the log', () => {
  it('replays from an old sequence, then continues live: no gap, no duplicate', async () => {
    const node = await started();
    await provision(node);
    const orderer = await connect(node.node.wsUrl, node.keys.orderer);
    const line = [{ sku: 'skyr', qty: 1 }];
    const place = (orderId: string) =>
      orderer.placeOrder({ orderId, location: HERE, lines: line, mode: 'commit' });
    for (let index = 0; index < 300; index++) await place(`early-${index}`);
    const listener = await connect(node.node.wsUrl, node.keys.orderer);
    // From the first sequence there is: the whole history, then live.
    const subscription = listener.subscribeOrders({ fromSequence: 1 });
    const snapshot = (await subscription.next()).value as OrderEventsUpdate;
    expect(snapshot).toMatchObject({ snapshot: true, seq: 1 });
    const events: OrderEventView[] = [];
    const reading = collect(subscription, events);
    // Orders placed while the replay runs: the seam falls somewhere among them.
    await Promise.all(Array.from({ length: 300 }, (_, index) => place(`late-${index}`)));
    await waitFor(() => events.length >= 600, 10_000, 'every event');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const seqs = events.map((event) => event.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const ids = events.map((event) => event.orderId);
    expect(ids.filter((id) => id.startsWith('early-'))).toHaveLength(300);
    expect(ids.filter((id) => id.startsWith('late-'))).toHaveLength(300);
    expect(events.every((event) => event.type === 'placed' && event.status === 'confirmed')).toBe(
      true,
    );
    // A second subscriber from the middle gets exactly the tail.
    const middle = events[300].seq;
    const other = await connect(node.node.wsUrl, node.keys.orderer);
    const tail = other.subscribeOrders({ fromSequence: middle });
    await tail.next();
    const tailEvents: OrderEventView[] = [];
    const tailReading = collect(tail, tailEvents);
    await waitFor(() => tailEvents.length >= 300, 10_000, 'the tail');
    expect(tailEvents.map((event) => event.seq)).toEqual(seqs.slice(300));
    await subscription.return();
    await tail.return();
    await Promise.all([reading, tailReading]);
  }, 60_000);

  it('delivers every event exactly once, in log order, through cuts and a node restart', async () => {
    const dataDir = makeDataDir();
    let node = await started({ dataDir });
    await provision(node);
    const proxy = new CuttableProxy(node.node.port);
    await proxy.listen();
    const viaProxy = `ws://127.0.0.1:${proxy.port}/v1/ws`;
    const keys = node.keys;
    const listener = await connect(viaProxy, keys.orderer, true);
    const subscription = listener.subscribeOrders();
    const first = (await subscription.next()).value as OrderEventsUpdate;
    const events: OrderEventView[] = [];
    const reading = collect(subscription, events);
    // The load: orders placed directly (not through the proxy), acknowledged or not.
    let stopLoad = false;
    const acked = new Set<string>();
    let orderer = await connect(node.node.wsUrl, keys.orderer);
    const load = (async () => {
      let index = 0;
      const deadline = Date.now() + RUN_MS_MAX;
      while (!stopLoad && Date.now() < deadline) {
        const batch = Array.from({ length: 50 }, () => `run-${index++}`);
        await Promise.all(
          batch.map(async (orderId) => {
            try {
              await orderer.placeOrder({
                orderId,
                location: HERE,
                lines: [{ sku: 'skyr', qty: 1 }],
                mode: 'hold',
                ttlSeconds: 600,
              });
              acked.add(orderId);
              if (index % 3 === 0) await orderer.confirm({ orderId });
            } catch {
              // Refused while the node restarts: not acknowledged, so not expected.
            }
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    // Cut the consumer's connection again and again.
    for (let cut = 0; cut < 8; cut++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      proxy.cut();
    }
    // Restart the node under load, on the same data; the proxy follows it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await node.stop(true);
    node = await started({ dataDir, demo: null });
    proxy.targetPort = node.node.port;
    proxy.cut();
    orderer = await connect(node.node.wsUrl, keys.orderer);
    for (let cut = 0; cut < 4; cut++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      proxy.cut();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    stopLoad = true;
    await load;
    expect(acked.size).toBeGreaterThan(200);
    await waitFor(
      () => acked.size > 0 && [...acked].every((id) => events.some((e) => e.orderId === id)),
      20_000,
      'an event for every acknowledged order',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await subscription.return();
    await reading;
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await proxy.close();
    await node.stop(true);
    // Everything in the log from where the stream started is what the consumer must get.
    const expected = await eventsInLog(dataDir, first.seq!);
    expect(events.length).toBe(expected.length);
    expect(events).toEqual(expected);
  }, 120_000);

  it('says which sequences it no longer holds, and refuses ones it never wrote', async () => {
    const node = await started({
      snapshotEveryRecords: 40,
      snapshotCheckMs: 20,
      eventRetentionRecords: 30,
    });
    await provision(node);
    const orderer = await connect(node.node.wsUrl, node.keys.orderer);
    const listener = await connect(node.node.wsUrl, node.keys.orderer);
    // Snapshots and compaction run in the background as the log grows: place orders and probe
    // until the first records are gone.
    let oldest = 1;
    let placed = 0;
    const deadline = Date.now() + 40_000;
    while (oldest === 1 && Date.now() < deadline) {
      for (const end = placed + 50; placed < end; placed++) {
        await orderer.placeOrder({
          orderId: `trim-${placed}`,
          location: HERE,
          lines: [{ sku: 'skyr', qty: 1 }],
          mode: 'commit',
        });
      }
      try {
        const probe = listener.subscribeOrders({ fromSequence: 1 });
        await probe.next();
        await probe.return();
        await new Promise((resolve) => setTimeout(resolve, 100));
      } catch (error) {
        expect(error).toMatchObject({ code: 'EVENTS_TRIMMED' });
        oldest = (error as InventoryError).details.oldest as number;
      }
    }
    expect(oldest).toBeGreaterThan(1);
    const from = listener.subscribeOrders({ fromSequence: oldest });
    const snapshot = (await from.next()).value as OrderEventsUpdate;
    expect(snapshot.seq).toBe(oldest);
    const update = (await from.next()).value as OrderEventsUpdate;
    expect(update.events[0].seq).toBeGreaterThanOrEqual(oldest);
    await from.return();
    const ahead = listener.subscribeOrders({ fromSequence: 1e12 });
    await expect(ahead.next()).rejects.toMatchObject({ code: 'BAD_FIELD' });
  }, 60_000);

  it('lets a subscriber that stopped reading catch up from the log when it reads again', async () => {
    const node = await started({ subscriberBufferBytesMax: 64 * 1024 });
    await provision(node);
    const codec = new WireCodec();
    const socket = new WebSocket(node.node.wsUrl, {
      headers: { authorization: `Bearer ${node.keys.orderer}` },
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
    });
    const messages: WireMessage[] = [];
    socket.on('message', (data: Buffer) => {
      const decoded = codec.decodeMessageFrame(data);
      if (decoded.ok) messages.push(...decoded.messages);
    });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send(
      codec.encodeValue([
        [1, 'hello', { versions: [1] }],
        [2, 'subscribe', { kind: 'orders' }],
      ]),
    );
    await waitFor(() => messages.length === 2, 5_000, 'the subscribe answer');
    const stream = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    stream.pause();
    const orderer = await connect(node.node.wsUrl, node.keys.orderer);
    // Long ids make big events: ~4 MB of socket buffers fill in ~30 k of them.
    const id = (index: number) => `paused-${String(index).padStart(56, '0')}`;
    const total = 60_000;
    for (let placed = 0; placed < total; placed += 2_000) {
      await Promise.all(
        Array.from({ length: 2_000 }, (_, offset) =>
          orderer.placeOrder({
            orderId: id(placed + offset),
            location: HERE,
            lines: [{ sku: 'skyr', qty: 1 }],
            mode: 'commit',
          }),
        ),
      );
    }
    await expect(orderer.ping()).resolves.toBeDefined();
    stream.resume();
    const received = () =>
      messages
        .filter(([, kind]) => kind === MessageKinds.PUSH)
        .flatMap(([, , body]) => (body as { events: OrderEventView[] }).events);
    await waitFor(() => received().length >= total, 30_000, 'every event after resuming');
    const seqs = received().map((event) => event.seq);
    expect(new Set(seqs).size).toBe(total);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(received().map((event) => event.orderId)).toEqual(
      Array.from({ length: total }, (_, index) => id(index)),
    );
    socket.close();
  }, 120_000);
});

/**
 * The consistency claims of PROTOCOL.md ("Consistency"), each checked on a real node (two
 * worker threads, a real LMDB log). To hold durability back, another process takes LMDB's
 * write lock on the node's log for a while, as a stalled disk would: the node's writer
 * cannot commit until it lets go.
 *
 * - An ok answer to a change comes only once the change is durable; an order look-up from
 *   another connection waits for it too; a stock read does not (it is a live snapshot and may
 *   show the change before it is durable); an order event appears only once it is durable.
 * - A frame runs in order, each request seeing the earlier ones, and its answers leave together.
 * - Racing changes to one order serialise: exactly one of a fulfil and a cancel wins, and a
 *   restarted node recovers exactly the acknowledged outcome.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { InventoryClient, type OrderEventsUpdate } from '../protocol/client/index.js';
import { WireCodec } from '../protocol/codec.js';
import { MessageKinds, type OrderEventView, type WireMessage } from '../protocol/messages.js';
import { LOG_DIR_NAME } from './node.js';
import { startTestNode, type TestNode } from './testing/harness.js';

/** Santiago: far from the demo network, so only this file's DC serves it. */
const HERE = { lat: -33.4489, lng: -70.6693 };
const HOLD_MS = 1_500;
const codec = new WireCodec();

let test: TestNode;
const clients: InventoryClient[] = [];

async function connect(key: string): Promise<InventoryClient> {
  const client = await InventoryClient.connect(test.node.wsUrl, {
    apiKey: key,
    timeoutMs: 20_000,
    reconnect: false,
  });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  test = await startTestNode({ fsync: 'fsync' });
  const admin = await connect(test.keys.admin);
  await admin.upsertDc({ id: 'scl-1', name: 'Santiago 1', location: HERE, radiusKm: 5 });
  await admin.upsertSku({ id: 'mote', name: 'Mote con huesillo' });
  await admin.upsertSku({ id: 'pebre', name: 'Pebre' });
  await admin.receive({ dc: 'scl-1', sku: 'mote', qty: 10 });
  await admin.receive({ dc: 'scl-1', sku: 'pebre', qty: 1_000 });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await test?.stop();
});

/**
 * Holds LMDB's write lock on `dir` from another process for `ms`: resolves once it holds it,
 * with a promise of its end: the time (Date.now() in the holder) at which it stopped waiting,
 * before it let the lock go, so nothing behind the lock can have happened earlier.
 */
async function holdWriteLock(dir: string, ms: number): Promise<{ released: Promise<number> }> {
  const script = `
    import { open } from 'lmdb';
    const env = open({ path: process.argv[1], maxDbs: 16, overlappingSync: false,
      useWritemap: false, compression: false, cache: false, encoding: 'binary' });
    env.transactionSync(() => {
      process.stdout.write('holding\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]));
      process.stdout.write('releasing ' + Date.now() + '\\n');
    });
    await env.close();
  `;
  const child: ChildProcess = spawn(
    process.execPath,
    ['--input-type=module', '-e', script, dir, String(ms)],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const released = new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => {
      const at = /releasing (\d+)/.exec(output);
      if (code === 0 && at !== null) resolve(Number(at[1]));
      else reject(new Error(`lock holder exited ${code}: ${output}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited ${code} early`)));
  });
  return { released };
}

describe('consistency', () => {
  it('answers a change once durable; look-ups wait for it, stock reads do not', async () => {
    const orderer = await connect(test.keys.orderer);
    const reader = await connect(test.keys.reader);
    const watcher = await connect(test.keys.orderer);
    const events: OrderEventView[] = [];
    const stream = watcher.subscribeOrders();
    await stream.next();
    const collecting = (async () => {
      for await (const update of stream as AsyncIterable<OrderEventsUpdate>) {
        events.push(...update.events);
      }
    })();
    const before = (await reader.availability({ ...HERE, skus: ['mote'] })).skus.mote.available;
    const { released } = await holdWriteLock(join(test.dataDir, LOG_DIR_NAME), HOLD_MS);
    const heldAt = Date.now();
    let answeredAt = 0;
    const placing = orderer
      .placeOrder({
        orderId: 'stalled-1',
        location: HERE,
        lines: [{ sku: 'mote', qty: 3 }],
        mode: 'hold',
      })
      .then((answer) => {
        answeredAt = Date.now();
        return answer;
      });
    await new Promise((resolve) => setTimeout(resolve, 200));
    // A stock read is a live snapshot: it counts the hold before the hold is durable.
    const during = await reader.availability({ ...HERE, skus: ['mote'] });
    expect(during.skus.mote.available).toBe(before - 3);
    expect(Date.now() - heldAt).toBeLessThan(HOLD_MS);
    expect(answeredAt).toBe(0);
    // A look-up of the order waits until it is durable.
    let lookedUpAt = 0;
    const lookingUp = reader.getOrder({ orderId: 'stalled-1' }).then((answer) => {
      lookedUpAt = Date.now();
      return answer;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lookedUpAt).toBe(0);
    expect(events.filter((event) => event.orderId === 'stalled-1')).toEqual([]);
    // The holder's own clock reading before it let go: the same system clock as ours.
    const releasedAt = await released;
    const [placed, looked] = await Promise.all([placing, lookingUp]);
    expect(placed.order.status).toBe('held');
    expect(looked.order.status).toBe('held');
    // Both were answered only after the lock holder let go (1 ms of rounding slack).
    expect(answeredAt).toBeGreaterThanOrEqual(releasedAt - 1);
    expect(lookedUpAt).toBeGreaterThanOrEqual(releasedAt - 1);
    expect(answeredAt - heldAt).toBeGreaterThanOrEqual(HOLD_MS - 100);
    const deadline = Date.now() + 5_000;
    while (!events.some((event) => event.orderId === 'stalled-1') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(events.filter((event) => event.orderId === 'stalled-1')).toMatchObject([
      { type: 'placed', status: 'held' },
    ]);
    await orderer.cancel({ orderId: 'stalled-1' });
    await stream.return();
    await collecting;
  }, 30_000);

  it('runs a frame in order and sends its answers together', async () => {
    const socket = new WebSocket(test.node.wsUrl, {
      headers: { authorization: `Bearer ${test.keys.orderer}` },
      perMessageDeflate: false,
    });
    const frames: WireMessage[][] = [];
    socket.on('message', (data: Buffer) => {
      const decoded = codec.decodeMessageFrame(data);
      if (decoded.ok) frames.push(decoded.messages);
    });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send(codec.encodeValue([[1, 'hello', { versions: [1] }]]));
    const wait = async (count: number) => {
      const deadline = Date.now() + 10_000;
      while (frames.length < count && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(frames.length).toBe(count);
    };
    await wait(1);
    const query = { ...HERE, skus: ['pebre'] };
    const take = { orderId: 'frame-1', location: HERE, lines: [{ sku: 'pebre', qty: 1_000 }] };
    socket.send(
      codec.encodeValue([
        [2, 'availability', query],
        [3, 'placeOrder', { ...take, mode: 'hold' }],
        [4, 'availability', query],
        [5, 'placeOrder', { ...take, orderId: 'frame-2', mode: 'hold' }],
        [6, 'cancel', { orderId: 'frame-1' }],
        [7, 'availability', query],
      ]),
    );
    await wait(2);
    // One frame with every answer, in request order, each seeing the ones before.
    const answers = frames[1];
    expect(answers.map(([id, kind]) => [id, kind])).toEqual(
      [2, 3, 4, 5, 6, 7].map((id) => [id, id === 5 ? MessageKinds.ERROR : MessageKinds.OK]),
    );
    const level = (index: number) =>
      (answers[index][2] as { skus: { pebre: { available: number } } }).skus.pebre.available;
    expect([level(0), level(2), level(5)]).toEqual([1_000, 0, 1_000]);
    expect(answers[3][2]).toMatchObject({ code: 'OUT_OF_STOCK' });
    socket.close();
  });

  it('lets exactly one of a racing fulfil and cancel win, and recovers that outcome', async () => {
    const admin = await connect(test.keys.admin);
    await admin.receive({ dc: 'scl-1', sku: 'mote', qty: 200 });
    const orderer = await connect(test.keys.orderer);
    const [one, two] = [await connect(test.keys.orderer), await connect(test.keys.orderer)];
    const ids = Array.from({ length: 60 }, (_, index) => `race-${index}`);
    for (const orderId of ids) {
      await orderer.placeOrder({
        orderId,
        location: HERE,
        lines: [{ sku: 'mote', qty: 1 }],
        mode: 'commit',
      });
    }
    const reader = await connect(test.keys.reader);
    const stock = async () => (await reader.getStock({ dc: 'scl-1', sku: 'mote' })).stock;
    const before = await stock();
    // A confirmed order can be fulfilled (its units leave) or cancelled (they go back), not
    // both: the two race from two connections, in both orders of sending.
    const outcomes = await Promise.all(
      ids.map(async (orderId, index) => {
        const [first, second] = index % 2 === 0 ? [one, two] : [two, one];
        const settled = await Promise.allSettled([
          first.fulfil({ orderId }),
          second.cancel({ orderId }),
        ]);
        return settled.map((result) =>
          result.status === 'fulfilled' ? 'ok' : (result.reason as { code: string }).code,
        );
      }),
    );
    const winners = new Map<string, string>();
    for (const [index, [fulfilled, cancelled]] of outcomes.entries()) {
      // Exactly one wins; the other finds the order in a state that no longer allows it.
      expect([fulfilled, cancelled].sort()).toEqual(['INVALID_STATE', 'ok']);
      winners.set(ids[index], fulfilled === 'ok' ? 'fulfilled' : 'cancelled');
    }
    const fulfilledCount = [...winners.values()].filter((status) => status === 'fulfilled').length;
    const live = await stock();
    // Fulfilled orders took their unit away; cancelled ones gave it back; none stays reserved.
    expect(live.onHand).toBe(before.onHand - fulfilledCount);
    expect(live.reserved).toBe(before.reserved - ids.length);
    await Promise.all(clients.splice(0).map((client) => client.close()));
    const dataDir = test.dataDir;
    await test.stop(true);
    test = await startTestNode({ fsync: 'fsync', dataDir, demo: null });
    const after = await connect(test.keys.reader);
    for (const [orderId, status] of winners) {
      expect((await after.getOrder({ orderId })).order.status).toBe(status);
    }
    const recovered = (await after.getStock({ dc: 'scl-1', sku: 'mote' })).stock;
    expect(recovered).toEqual(live);
  }, 60_000);
});

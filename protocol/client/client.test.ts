/**
 * InventoryClient against a small real uWebSockets.js peer on 127.0.0.1 that speaks wire
 * protocol v1 (a test double of the node, scripted per test): handshake and auth, batching,
 * pipelining with out-of-order answers, typed errors, timeouts, aborts, backpressure,
 * reconnects that resend only what is safe, notices, pushes and graceful close.
 */

import uWS from 'uWebSockets.js';
import { afterEach, describe, expect, it } from 'vitest';
import { WireCodec } from '../codec.js';
import { FRAME_BYTES_MAX, REQUESTS_PER_FRAME_MAX } from '../limits.js';
import { MessageKinds, type WireMessage, type WireRequest } from '../messages.js';
import { InventoryClient } from './client.js';
import { ConnectionLostError, InventoryError } from './errors.js';

type Socket = uWS.WebSocket<{ id: number }>;

/** What the fake does with one request: answer now, or leave it for the test to answer. */
type Reply = { kind: 0 | 1; body: unknown } | 'hold';

interface FakeNode {
  url: string;
  /** Every frame received, in order, per connection number. */
  frames: { connection: number; requests: WireRequest[] }[];
  /** Requests left unanswered ('hold'), with the socket they came on. */
  held: { socket: Socket; request: WireRequest }[];
  sockets: Set<Socket>;
  connections: number;
  handle: (request: WireRequest, connection: number) => Reply;
  helloLimits: Record<string, number>;
  /** Answer hello with PROTOCOL_VERSION and close, as a node that speaks no common version. */
  refuseHello: boolean;
  send(socket: Socket, messages: WireMessage[]): void;
  answerHeld(order?: 'fifo' | 'reverse'): void;
  dropAll(): void;
  stopListening(): void;
  stop(): void;
}

const HELLO_LIMITS = {
  frameBytesMax: FRAME_BYTES_MAX,
  requestsPerFrameMax: REQUESTS_PER_FRAME_MAX,
  inFlightMax: 4096,
  linesPerOrderMax: 32,
  skusPerRequestMax: 500,
};

function echo(request: WireRequest): Reply {
  return { kind: 0, body: { op: request[1], args: request[2] } };
}

const stops: (() => void)[] = [];
afterEach(() => {
  while (stops.length > 0) stops.pop()!();
});

async function startFakeNode(): Promise<FakeNode> {
  const codec = new WireCodec();
  const app = uWS.App();
  let listenSocket: uWS.us_listen_socket | false = false;
  const node: FakeNode = {
    url: '',
    frames: [],
    held: [],
    sockets: new Set(),
    connections: 0,
    handle: (request) => echo(request),
    helloLimits: { ...HELLO_LIMITS },
    refuseHello: false,
    send(socket, messages) {
      if (node.sockets.has(socket)) socket.send(codec.encodeMessages(messages), true);
    },
    answerHeld(order = 'fifo') {
      const held = order === 'fifo' ? node.held : [...node.held].reverse();
      node.held = [];
      for (const { socket, request } of held) {
        node.send(socket, [[request[0], MessageKinds.OK, { op: request[1], args: request[2] }]]);
      }
    },
    dropAll() {
      for (const socket of [...node.sockets]) socket.close();
    },
    stopListening() {
      if (listenSocket) uWS.us_listen_socket_close(listenSocket);
      listenSocket = false;
    },
    stop() {
      node.stopListening();
      node.dropAll();
    },
  };
  app.ws<{ id: number }>('/v1/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: FRAME_BYTES_MAX,
    idleTimeout: 0,
    upgrade: (res, req, context) => {
      if (req.getHeader('authorization') !== 'Bearer good') {
        res.writeStatus('401 Unauthorized').end('unknown key');
        return;
      }
      res.upgrade(
        { id: ++node.connections },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (socket) => {
      node.sockets.add(socket);
    },
    message: (socket, message) => answerFrame(node, codec, socket, message),
    close: (socket) => {
      node.sockets.delete(socket);
    },
  });
  await new Promise<void>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token) => {
      if (!token) reject(new Error('listen failed'));
      listenSocket = token;
      resolve();
    });
  });
  if (!listenSocket) throw new Error('listen failed');
  node.url = `ws://127.0.0.1:${uWS.us_socket_local_port(listenSocket)}/v1/ws`;
  stops.push(() => node.stop());
  return node;
}

/** The fake's message handler: records the frame and answers per `node.handle`. */
function answerFrame(node: FakeNode, codec: WireCodec, socket: Socket, message: ArrayBuffer) {
  const decoded = codec.decodeRequestFrame(message);
  if (!decoded.ok) {
    socket.end(decoded.closeCode, decoded.code);
    return;
  }
  const connection = socket.getUserData().id;
  node.frames.push({ connection, requests: decoded.requests });
  const hello = decoded.requests.find((request) => request[1] === 'hello');
  if (hello !== undefined && node.refuseHello) {
    const body = { code: 'PROTOCOL_VERSION', message: 'this node speaks version 9' };
    socket.send(codec.encodeMessages([[hello[0], MessageKinds.ERROR, body]]), true);
    socket.end(1008, 'PROTOCOL_VERSION');
    return;
  }
  const answers: WireMessage[] = [];
  for (const request of decoded.requests) {
    const reply =
      request[1] === 'hello'
        ? ({ kind: 0, body: helloBody(node) } as const)
        : node.handle(request, connection);
    if (reply === 'hold') node.held.push({ socket, request });
    else answers.push([request[0], reply.kind, reply.body]);
  }
  if (answers.length > 0) socket.send(codec.encodeMessages(answers), true);
}

function helloBody(node: FakeNode) {
  return { version: 1, node: 'fake', role: 'admin', limits: node.helloLimits };
}

async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function connect(
  node: FakeNode,
  options: Partial<Parameters<typeof InventoryClient.connect>[1]> = {},
) {
  const client = await InventoryClient.connect(node.url, { apiKey: 'good', ...options });
  stops.push(() => void client.close());
  return client;
}

/** Frames after each connection's hello frame. */
function requestFrames(node: FakeNode) {
  return node.frames.filter((frame) => frame.requests.some((request) => request[1] !== 'hello'));
}

const ORDER = {
  orderId: 'o-1',
  location: { lat: 1, lng: 2 },
  lines: [{ sku: 'milk', qty: 1 }],
  mode: 'hold' as const,
};

describe('handshake', () => {
  it('says hello first and exposes the answer', async () => {
    const node = await startFakeNode();
    const client = await connect(node);
    expect(client.server).toMatchObject({ version: 1, node: 'fake', role: 'admin' });
    expect(client.state).toBe('open');
    expect(node.frames[0].requests).toEqual([[expect.any(Number), 'hello', { versions: [1] }]]);
  });

  it('refuses an unknown key with UNAUTHORIZED', async () => {
    const node = await startFakeNode();
    const error = await InventoryClient.connect(node.url, { apiKey: 'bad' }).catch((e) => e);
    expect(error).toBeInstanceOf(InventoryError);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
  });

  it('fails with CONNECT_FAILED when nothing listens', async () => {
    const node = await startFakeNode();
    node.stopListening();
    const error = await InventoryClient.connect(node.url, { apiKey: 'good' }).catch((e) => e);
    expect(error).toMatchObject({ code: 'CONNECT_FAILED' });
  });

  it('fails with PROTOCOL_VERSION when the node refuses the hello', async () => {
    const node = await startFakeNode();
    node.refuseHello = true;
    const error = await InventoryClient.connect(node.url, { apiKey: 'good' }).catch((e) => e);
    expect(error).toMatchObject({ code: 'PROTOCOL_VERSION' });
  });

  it('validates its options', async () => {
    await expect(InventoryClient.connect('ws://127.0.0.1:1', { apiKey: '' })).rejects.toThrow(
      TypeError,
    );
    await expect(
      InventoryClient.connect('ws://127.0.0.1:1', { apiKey: 'k', timeoutMs: 0 }),
    ).rejects.toThrow(RangeError);
  });
});

describe('batching and pipelining', () => {
  it('sends calls made in one tick as one frame and matches answers by id', async () => {
    const node = await startFakeNode();
    const client = await connect(node);
    const calls = [];
    for (let index = 0; index < 300; index++) {
      calls.push(client.getOrder({ orderId: `o-${index}` }));
    }
    const results = (await Promise.all(calls)) as unknown as { args: { orderId: string } }[];
    expect(requestFrames(node)).toHaveLength(1);
    expect(requestFrames(node)[0].requests).toHaveLength(300);
    expect(results.map((result) => result.args.orderId)).toEqual(calls.map((_, i) => `o-${i}`));
  });

  it('collects calls made in promise continuations of the same turn', async () => {
    const node = await startFakeNode();
    const client = await connect(node);
    const first = Array.from({ length: 10 }, (_, index) =>
      client.getOrder({ orderId: `a${index}` }),
    );
    // Each answer's continuation issues a follow-up: they should share a frame too.
    const second = first.map((call, index) =>
      call.then(() => client.getOrder({ orderId: `b${index}` })),
    );
    await Promise.all(second);
    expect(requestFrames(node).map((frame) => frame.requests.length)).toEqual([10, 10]);
  });

  it('splits at the node frame limit; unbatched sends one frame per call', async () => {
    const node = await startFakeNode();
    node.helloLimits = { ...HELLO_LIMITS, requestsPerFrameMax: 50 };
    const client = await connect(node);
    await Promise.all(Array.from({ length: 120 }, () => client.ping()));
    expect(requestFrames(node).map((frame) => frame.requests.length)).toEqual([50, 50, 20]);

    const unbatched = await connect(node, { batch: false });
    node.frames.length = 0;
    await Promise.all(Array.from({ length: 5 }, () => unbatched.ping()));
    expect(requestFrames(node).map((frame) => frame.requests.length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('resolves each call with its own answer when answers come out of order', async () => {
    const node = await startFakeNode();
    node.handle = () => 'hold';
    const client = await connect(node);
    const calls = Array.from({ length: 20 }, (_, index) =>
      client.getStock({ dc: `d${index}`, sku: 's' }),
    );
    await waitFor(() => node.held.length === 20);
    node.answerHeld('reverse');
    const results = (await Promise.all(calls)) as unknown as { args: { dc: string } }[];
    expect(results.map((result) => result.args.dc)).toEqual(calls.map((_, i) => `d${i}`));
    expect(client.inFlight).toBe(0);
  });
});

describe('errors', () => {
  it('rejects with the node code, status, lines and details', async () => {
    const node = await startFakeNode();
    const lines = [{ sku: 'milk', code: 'OUT_OF_STOCK', requested: 5, available: 2 }];
    node.handle = () => ({
      kind: 1,
      body: { code: 'OUT_OF_STOCK', message: 'not enough', lines, nearest: 'dc-2' },
    });
    const client = await connect(node);
    const error = await client.placeOrder(ORDER).catch((e) => e);
    expect(error).toBeInstanceOf(InventoryError);
    expect(error).toMatchObject({
      code: 'OUT_OF_STOCK',
      status: 409,
      retryable: true,
      lines,
      details: { nearest: 'dc-2' },
      maybeApplied: false,
      message: 'not enough',
    });
  });

  it('times out a call that gets no answer, and keeps its slot until the late answer', async () => {
    const node = await startFakeNode();
    node.handle = () => 'hold';
    const client = await connect(node, { timeoutMs: 5000 });
    const started = Date.now();
    const [order, read] = await Promise.all([
      client.placeOrder(ORDER, { timeoutMs: 80 }).catch((e) => e),
      client.availability({ lat: 1, lng: 2, skus: ['a'] }, { timeoutMs: 80 }).catch((e) => e),
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(order).toMatchObject({ code: 'TIMEOUT', maybeApplied: true });
    expect(read).toMatchObject({ code: 'TIMEOUT', maybeApplied: false });
    expect(client.inFlight).toBe(2);
    node.answerHeld();
    await waitFor(() => client.inFlight === 0);
  });

  it('aborts before sending and while in flight', async () => {
    const node = await startFakeNode();
    node.handle = () => 'hold';
    const client = await connect(node);
    const early = new AbortController();
    early.abort();
    await expect(client.ping({ signal: early.signal })).rejects.toMatchObject({
      code: 'ABORTED',
      maybeApplied: false,
    });
    const late = new AbortController();
    const call = client.cancel({ orderId: 'o-1' }, { signal: late.signal });
    await waitFor(() => node.held.length === 1);
    late.abort();
    await expect(call).rejects.toMatchObject({ code: 'ABORTED', maybeApplied: true });
    // Aborting a queued call takes it out before it is sent.
    const queued = new AbortController();
    const never = client.ping({ signal: queued.signal });
    queued.abort();
    await expect(never).rejects.toMatchObject({ code: 'ABORTED', maybeApplied: false });
    await new Promise((resolve) => setImmediate(resolve));
    expect(node.held.length).toBe(1);
  });

  it('holds calls beyond the in-flight window and refuses past the queue bound', async () => {
    const node = await startFakeNode();
    node.handle = () => 'hold';
    const client = await connect(node, { inFlightMax: 2, queueMax: 3 });
    const calls = Array.from({ length: 3 }, () => client.ping());
    await waitFor(() => node.held.length === 2);
    // Two in flight fill the window; one waits. Two more fill the queue; the next is refused.
    calls.push(client.ping(), client.ping());
    expect(client.inFlight).toBe(2);
    expect(client.queued).toBe(3);
    await expect(client.ping()).rejects.toMatchObject({ code: 'TOO_MANY_IN_FLIGHT' });
    // Each answer opens the window for the next queued call.
    while (node.held.length > 0) {
      node.answerHeld();
      await waitFor(() => node.held.length > 0 || (client.queued === 0 && client.inFlight === 0));
    }
    await Promise.all(calls);
    const largest = Math.max(...requestFrames(node).map((frame) => frame.requests.length));
    expect(largest).toBeLessThanOrEqual(2);
    expect(requestFrames(node).reduce((sum, frame) => sum + frame.requests.length, 0)).toBe(5);
  });

  it('refuses a single request over the frame limit without sending it', async () => {
    const node = await startFakeNode();
    node.helloLimits = { ...HELLO_LIMITS, frameBytesMax: 4096 };
    const client = await connect(node);
    const big = client.upsertSku({ id: 's', name: 'x'.repeat(5000) });
    const small = client.ping();
    await expect(big).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' });
    await expect(small).resolves.toBeDefined();
    expect(requestFrames(node).flatMap((frame) => frame.requests.map((r) => r[1]))).toEqual([
      'ping',
    ]);
  });
});

describe('reconnect', () => {
  it('resends safe calls after a lost connection and fails unsafe ones', async () => {
    const node = await startFakeNode();
    node.handle = (_request, connection) => (connection === 1 ? 'hold' : { kind: 0, body: {} });
    let draws = 0;
    const client = await connect(node, {
      reconnect: { retries: 5, baseDelayMs: 10, maxDelayMs: 40 },
      random: () => {
        draws++;
        return 0.5;
      },
    });
    const order = client.placeOrder(ORDER);
    const read = client.getOrder({ orderId: 'o-1' });
    const receive = client.receive({ dc: 'd', sku: 's', qty: 5 }).catch((e) => e);
    const upsert = client.upsertSku({ id: 's', name: 'S' }).catch((e) => e);
    await waitFor(() => node.held.length === 4);
    node.held = [];
    node.dropAll();
    const [receiveError, upsertError] = await Promise.all([receive, upsert]);
    for (const error of [receiveError, upsertError]) {
      expect(error).toBeInstanceOf(ConnectionLostError);
      expect(error).toMatchObject({ code: 'CONNECTION_LOST', maybeApplied: true });
    }
    // A call made while reconnecting waits for the new connection.
    const during = client.ping();
    await expect(Promise.all([order, read, during])).resolves.toHaveLength(3);
    expect(draws).toBeGreaterThan(0);
    expect(client.state).toBe('open');
    const second = node.frames.filter((frame) => frame.connection === 2);
    const ops = second.flatMap((frame) => frame.requests.map((request) => request[1]));
    expect(ops.slice(0, 3)).toEqual(['hello', 'placeOrder', 'getOrder']);
    expect(ops).not.toContain('receive');
    expect(ops).not.toContain('upsertSku');
    // The order went out with the same order id, the idempotency key.
    const resent = second[0].requests.find((request) => request[1] === 'placeOrder')!;
    expect(resent[2]).toMatchObject({ orderId: 'o-1' });
  });

  it('gives up after the configured retries with CONNECTION_LOST', async () => {
    const node = await startFakeNode();
    node.handle = () => 'hold';
    const client = await connect(node, {
      reconnect: { retries: 2, baseDelayMs: 5, maxDelayMs: 10 },
    });
    const read = client.getOrder({ orderId: 'o' });
    const order = client.placeOrder(ORDER);
    await waitFor(() => node.held.length === 2);
    node.stopListening();
    node.dropAll();
    await expect(read).rejects.toMatchObject({ code: 'CONNECTION_LOST', maybeApplied: false });
    await expect(order).rejects.toMatchObject({ code: 'CONNECTION_LOST', maybeApplied: true });
    expect(client.state).toBe('closed');
    await expect(client.ping()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('with reconnect off, fails every sent call at once', async () => {
    const node = await startFakeNode();
    node.handle = () => 'hold';
    const client = await connect(node, { reconnect: false });
    const read = client.getOrder({ orderId: 'o' });
    await waitFor(() => node.held.length === 1);
    node.dropAll();
    await expect(read).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    expect(client.state).toBe('closed');
  });

  it('stops sending on SHUTTING_DOWN and carries on over the next connection', async () => {
    const node = await startFakeNode();
    const notices: unknown[] = [];
    const client = await connect(node, {
      reconnect: { retries: 5, baseDelayMs: 5, maxDelayMs: 10 },
      onNotice: (notice) => notices.push(notice),
    });
    const socket = [...node.sockets][0];
    node.send(socket, [[0, MessageKinds.NOTICE, { code: 'SHUTTING_DOWN', message: 'bye' }]]);
    await waitFor(() => notices.length === 1);
    const call = client.ping();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(requestFrames(node)).toHaveLength(0);
    socket.end(1001, 'shutting down');
    await expect(call).resolves.toBeDefined();
    expect(requestFrames(node)[0].connection).toBe(2);
    expect(notices).toEqual([{ code: 'SHUTTING_DOWN', message: 'bye' }]);
  });

  it('drops a connection that sends a malformed frame, then reconnects', async () => {
    const node = await startFakeNode();
    const errors: unknown[] = [];
    node.handle = (request, connection) => (connection === 1 ? 'hold' : echo(request));
    const client = await connect(node, {
      reconnect: { retries: 5, baseDelayMs: 5, maxDelayMs: 10 },
      onError: (error) => errors.push(error),
    });
    const call = client.getOrder({ orderId: 'o' });
    await waitFor(() => node.held.length === 1);
    [...node.sockets][0].send(Uint8Array.from([0x91, 0xc1]), true);
    await expect(call).resolves.toMatchObject({ op: 'getOrder' });
    expect(errors[0]).toMatchObject({ code: 'BAD_FRAME' });
  });
});

describe('pushes and close', () => {
  it('routes kind-2 pushes by subscription id', async () => {
    const node = await startFakeNode();
    const client = await connect(node);
    const seen: unknown[] = [];
    client.pushes.set(42, (body) => seen.push(body));
    const socket = [...node.sockets][0];
    node.send(socket, [
      [42, MessageKinds.PUSH, { sku: 'milk', available: 3 }],
      [43, MessageKinds.PUSH, { sku: 'eggs', available: 0 }],
    ]);
    await waitFor(() => seen.length === 1 && client.pushes.unrouted === 1);
    expect(seen).toEqual([{ sku: 'milk', available: 3 }]);
  });

  it('closes gracefully: answers in flight arrive, later calls get CLOSED', async () => {
    const node = await startFakeNode();
    node.handle = () => 'hold';
    const client = await connect(node);
    const call = client.getOrder({ orderId: 'o' });
    await waitFor(() => node.held.length === 1);
    const closing = client.close();
    await expect(client.ping()).rejects.toMatchObject({ code: 'CLOSED' });
    node.answerHeld();
    await expect(call).resolves.toMatchObject({ op: 'getOrder' });
    await closing;
    expect(client.state).toBe('closed');
    await waitFor(() => node.sockets.size === 0);
  });
});

describe('subscriptions', () => {
  /** A fake that answers subscribe with ids 10, 11, ... and a snapshot, unsubscribe with ok. */
  function subscribing(node: FakeNode, snapshotOf: (args: Record<string, unknown>) => unknown) {
    let nextSub = 10;
    const subscribed: { connection: number; sub: number; args: Record<string, unknown> }[] = [];
    const unsubscribed: number[] = [];
    node.handle = (request, connection) => {
      const [, op, args] = request;
      if (op === 'subscribe') {
        const sub = nextSub++;
        subscribed.push({ connection, sub, args });
        return { kind: 0, body: { sub, kind: args.kind, snapshot: snapshotOf(args) } };
      }
      if (op === 'unsubscribe') {
        unsubscribed.push(args.sub as number);
        return { kind: 0, body: { removed: true } };
      }
      return echo(request);
    };
    return { subscribed, unsubscribed };
  }

  const levels = (available: number) => ({ milk: { available, etaMinutes: 12 } });

  it('yields the snapshot, then pushes; return() unsubscribes', async () => {
    const node = await startFakeNode();
    const { subscribed, unsubscribed } = subscribing(node, () => ({ skus: levels(5) }));
    const client = await connect(node);
    const subscription = client.subscribeAvailability({ lat: 1, lng: 2, skus: ['milk'] });
    const first = await subscription.next();
    expect(first.value).toEqual({ sub: 10, snapshot: true, skus: levels(5) });
    expect(subscribed[0].args).toEqual({ kind: 'availability', lat: 1, lng: 2, skus: ['milk'] });
    expect(subscription.id).toBe(10);
    const socket = [...node.sockets][0];
    node.send(socket, [
      [10, MessageKinds.PUSH, { sub: 10, skus: levels(4) }],
      [10, MessageKinds.PUSH, { sub: 10, skus: levels(3) }],
    ]);
    const seen = [];
    for await (const update of subscription) {
      seen.push(update);
      if (seen.length === 2) break;
    }
    expect(seen.map((update) => update.skus.milk.available)).toEqual([4, 3]);
    expect(seen.every((update) => !update.snapshot)).toBe(true);
    await waitFor(() => unsubscribed.length === 1);
    expect(unsubscribed).toEqual([10]);
    expect(client.pushes.size).toBe(0);
    await expect(subscription.next()).resolves.toEqual({ value: undefined, done: true });
  });

  it('subscribes again after a reconnect and yields a fresh snapshot', async () => {
    const node = await startFakeNode();
    let available = 5;
    const { subscribed } = subscribing(node, () => ({ skus: levels(available) }));
    const client = await connect(node, {
      reconnect: { retries: 5, baseDelayMs: 5, maxDelayMs: 10 },
    });
    const subscription = client.subscribeAvailability({ dcs: ['dc-1'], skus: ['milk'] });
    expect((await subscription.next()).value).toMatchObject({ sub: 10, snapshot: true });
    available = 2;
    node.dropAll();
    const again = await subscription.next();
    expect(again.value).toEqual({ sub: 11, snapshot: true, skus: levels(2) });
    expect(subscribed.map((entry) => entry.connection)).toEqual([1, 2]);
    // A push for the old id is not this subscription's any more.
    const socket = [...node.sockets][0];
    node.send(socket, [
      [10, MessageKinds.PUSH, { sub: 10, skus: levels(9) }],
      [11, MessageKinds.PUSH, { sub: 11, skus: levels(1) }],
    ]);
    expect((await subscription.next()).value).toEqual({
      sub: 11,
      snapshot: false,
      skus: levels(1),
    });
    expect(client.pushes.unrouted).toBe(1);
    await subscription.return();
  });

  it('surfaces a refused subscribe from the first next()', async () => {
    const node = await startFakeNode();
    node.handle = () => ({ kind: 1, body: { code: 'FORBIDDEN', message: 'orderer role' } });
    const client = await connect(node);
    const subscription = client.subscribeOrders();
    await expect(subscription.next()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(subscription.next()).resolves.toMatchObject({ done: true });
  });

  it('merges availability past the queue bound; an event stream ends too slow', async () => {
    const node = await startFakeNode();
    subscribing(node, (args) => (args.kind === 'orders' ? { seq: 7 } : { skus: levels(5) }));
    const client = await connect(node);
    const availability = client.subscribeAvailability(
      { lat: 1, lng: 2, skus: ['milk', 'eggs'] },
      { queueMax: 2 },
    );
    const orders = client.subscribeOrders({ queueMax: 2 });
    expect((await availability.next()).value).toMatchObject({ snapshot: true });
    expect((await orders.next()).value).toMatchObject({ snapshot: true, seq: 7, events: [] });
    const socket = [...node.sockets][0];
    const event = (seq: number) => ({
      seq,
      type: 'placed',
      orderId: `o-${seq}`,
      status: 'held',
      at: 1,
    });
    node.send(socket, [
      [10, MessageKinds.PUSH, { sub: 10, skus: { milk: { available: 4, etaMinutes: 1 } } }],
      [10, MessageKinds.PUSH, { sub: 10, skus: { milk: { available: 3, etaMinutes: 1 } } }],
      [10, MessageKinds.PUSH, { sub: 10, skus: { eggs: { available: 8, etaMinutes: 2 } } }],
      [10, MessageKinds.PUSH, { sub: 10, skus: { milk: { available: 1, etaMinutes: 1 } } }],
      ...[7, 8, 9].map((seq) => [11, MessageKinds.PUSH, { sub: 11, events: [event(seq)] }]),
    ] as never);
    // The ping's answer comes after the pushes on the same socket: they have all arrived.
    await client.ping();
    const updates = [await availability.next(), await availability.next()];
    expect(updates.map((update) => update.value?.skus)).toEqual([
      { milk: { available: 4, etaMinutes: 1 } },
      { milk: { available: 1, etaMinutes: 1 }, eggs: { available: 8, etaMinutes: 2 } },
    ]);
    const events = [await orders.next(), await orders.next()];
    expect(events.map((update) => update.value?.events[0].seq)).toEqual([7, 8]);
    await expect(orders.next()).rejects.toMatchObject({ code: 'SUBSCRIBER_TOO_SLOW' });
    await availability.return();
  });

  it('ends every subscription when the client closes', async () => {
    const node = await startFakeNode();
    subscribing(node, () => ({ alerts: [], truncated: false }));
    const client = await connect(node);
    const subscription = client.subscribeLowStock({ skus: ['milk'] });
    expect((await subscription.next()).value).toMatchObject({ snapshot: true, alerts: [] });
    const waiting = subscription.next();
    await client.close();
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
  });
});

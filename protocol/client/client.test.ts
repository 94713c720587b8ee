/**
 * InventoryClient against a small real uWebSockets.js peer on 127.0.0.1 that speaks wire
 * protocol v1, or v2 with batches as columns (a test double of the node, scripted per test):
 * handshake and auth, batching, pipelining with out-of-order answers, typed errors, timeouts,
 * aborts, backpressure, reconnects that resend only what is safe, notices, pushes and graceful
 * close; on v2, placeOrders and availabilityMany views, grouping and splitting, per-call
 * coalescing, deadlines under one timer, window accounting by entries, and the v1 fallback.
 */

import uWS from 'uWebSockets.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WireCodec } from '../codec.js';
import { f64Column, i32Column, readF64Column, readI32Column } from '../columns.js';
import { FRAME_BYTES_MAX, REQUESTS_PER_FRAME_MAX } from '../limits.js';
import {
  MessageKinds,
  type PlaceOrderArgs,
  type WireMessage,
  type WireRequest,
} from '../messages.js';
import { AvailabilityBatchResult } from './availability-batch.js';
import { InventoryClient } from './client.js';
import { ConnectionLostError, InventoryError } from './errors.js';
import { OrderBatchResult, readOrderColumns } from './order-batch.js';

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
  /** The newest protocol version the fake speaks (it answers hello with it when offered). */
  version: number;
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
    version: 1,
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
  // Any other path is not found, as on the node: a WebSocket upgrade there gets HTTP 404.
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end('no such route');
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
        ? ({ kind: 0, body: helloBody(node, request[2]) } as const)
        : node.handle(request, connection);
    if (reply === 'hold') node.held.push({ socket, request });
    else answers.push([request[0], reply.kind, reply.body]);
  }
  if (answers.length > 0) socket.send(codec.encodeMessages(answers), true);
}

function helloBody(node: FakeNode, offered: unknown) {
  const versions = (offered as { versions?: number[] }).versions ?? [];
  const version = versions.includes(node.version) ? node.version : 1;
  return { version, node: 'fake', role: 'admin', limits: node.helloLimits };
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
    expect(client.protocolVersion).toBe(1);
    expect(client.state).toBe('open');
    expect(node.frames[0].requests).toEqual([[expect.any(Number), 'hello', { versions: [2, 1] }]]);
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

  it('validates its options, rejecting with InventoryError', async () => {
    const noKey = await InventoryClient.connect('ws://127.0.0.1:1', { apiKey: '' }).catch((e) => e);
    expect(noKey).toBeInstanceOf(InventoryError);
    expect(noKey).toMatchObject({ code: 'BAD_REQUEST', details: { field: 'apiKey' } });
    const zero = await InventoryClient.connect('ws://127.0.0.1:1', { apiKey: 'k', timeoutMs: 0 })
      .then(() => undefined)
      .catch((e) => e);
    expect(zero).toBeInstanceOf(InventoryError);
    expect(zero).toMatchObject({ code: 'BAD_REQUEST', retryable: false });
  });

  it('rejects a bad per-call timeoutMs with InventoryError BAD_REQUEST, sending nothing', async () => {
    const node = await startFakeNode();
    const client = await connect(node);
    for (const timeoutMs of [0, -5, 1.5, Number.NaN, 2 ** 31]) {
      const error = await client.ping({ timeoutMs }).catch((e) => e);
      expect(error).toBeInstanceOf(InventoryError);
      expect(error).toMatchObject({ code: 'BAD_REQUEST', details: { field: 'timeoutMs' } });
    }
    const batch = await client.placeOrders([ORDER], { timeoutMs: 0 }).catch((e) => e);
    expect(batch).toMatchObject({ code: 'BAD_REQUEST' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(requestFrames(node)).toHaveLength(0);
  });

  it('fails with a non-retryable NOT_FOUND on a wrong WebSocket path (HTTP 404)', async () => {
    const node = await startFakeNode();
    const url = node.url.replace('/v1/ws', '/v9/nowhere');
    const error = await InventoryClient.connect(url, { apiKey: 'good' }).catch((e) => e);
    expect(error).toBeInstanceOf(InventoryError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', retryable: false });
    expect(error.message).toContain('404');
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

  it('merges availability past the queue bound; the order stream pauses and resumes', async () => {
    const node = await startFakeNode();
    const { subscribed, unsubscribed } = subscribing(node, (args) =>
      args.kind === 'orders'
        ? { seq: (args.fromSequence as number | undefined) ?? 7 }
        : { skus: levels(5) },
    );
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
    // The third event overflowed the queue: the stream unsubscribed, keeping what it had.
    expect(unsubscribed).toEqual([11]);
    const events = [await orders.next(), await orders.next(), await orders.next()];
    expect(events.map((update) => update.value?.events[0].seq)).toEqual([7, 8, 9]);
    // Once the consumer took half the queue, it subscribed again right after the last event.
    expect((await orders.next()).value).toMatchObject({ snapshot: true, seq: 10 });
    expect(subscribed.map((entry) => entry.args)).toContainEqual({
      kind: 'orders',
      fromSequence: 10,
    });
    await orders.return();
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

// Protocol v2: batches as columns.

/** Orders the fake has placed, by id: a repeat answers `exists`. */
type Placed = Set<string>;

/**
 * The fake's placeOrders: an order whose id starts with `refuse` is refused OUT_OF_STOCK;
 * one placed before answers exists; others are created, each line allocated at dc-a (even
 * lines) or dc-b (odd lines), held or confirmed per the batch's mode.
 */
function fakePlaceOrders(args: Record<string, unknown>, placed: Placed): Reply {
  const count = args.orders as number;
  const orderIds = args.orderIds as string[];
  const lineCounts = readI32Column(args.lineCounts, count)!;
  let lineTotal = 0;
  for (let at = 0; at < count; at++) lineTotal += lineCounts[at];
  const skus = args.skus as string[];
  const qty = readI32Column(args.qty, lineTotal)!;
  const hold = args.mode === 'hold';
  const results = new Int32Array(count);
  const status = new Int32Array(count);
  const etaTenths = new Int32Array(count);
  const expiresAt = new Float64Array(count);
  const times = new Float64Array(count).fill(500);
  const allocations = new Int32Array(count);
  const allocLine: number[] = [];
  const allocDc: number[] = [];
  const allocQty: number[] = [];
  const errors: [number, unknown][] = [];
  let line = 0;
  for (let at = 0; at < count; at++) {
    const first = line;
    line += lineCounts[at];
    if (orderIds[at].startsWith('refuse')) {
      results[at] = 2;
      status[at] = -1;
      const lines = [
        { sku: skus[first], code: 'OUT_OF_STOCK', requested: qty[first], available: 0 },
      ];
      errors.push([at, { code: 'OUT_OF_STOCK', message: 'not enough stock', lines }]);
      continue;
    }
    results[at] = placed.has(orderIds[at]) ? 1 : 0;
    placed.add(orderIds[at]);
    status[at] = hold ? 0 : 1;
    etaTenths[at] = 123;
    expiresAt[at] = hold ? 1_000 : 0;
    allocations[at] = lineCounts[at];
    for (let entry = 0; entry < lineCounts[at]; entry++) {
      allocLine.push(entry);
      allocDc.push(entry % 2);
      allocQty.push(qty[first + entry]);
    }
  }
  const column = (values: number[]) => i32Column(Int32Array.from(values), values.length);
  return {
    kind: 0,
    body: {
      results: i32Column(results, count),
      errors,
      status: i32Column(status, count),
      etaTenths: i32Column(etaTenths, count),
      expiresAt: f64Column(expiresAt, count),
      createdAt: f64Column(times, count),
      updatedAt: f64Column(times, count),
      allocations: i32Column(allocations, count),
      allocLine: column(allocLine),
      allocDc: column(allocDc),
      allocQty: column(allocQty),
      dcs: ['dc-a', 'dc-b'],
    },
  };
}

/**
 * The fake's availabilityMany: a query at a positive latitude is served by dc-a (ETA 5.0) and
 * dc-b (8.0), one elsewhere by none; a SKU holds 2 units per character at dc-a and 1 at dc-b;
 * the SKU `unknown` is unknown (-1).
 */
function fakeAvailabilityMany(args: Record<string, unknown>): Reply {
  const count = args.queries as number;
  const lat = readF64Column(args.lat, count)!;
  const skuCounts = readI32Column(args.skuCounts, count)!;
  const skus = args.skus as string[];
  const breakdown = args.breakdown !== false;
  const dcCounts: number[] = [];
  const dcIndex: number[] = [];
  const dcEtaTenths: number[] = [];
  const available: number[] = [];
  const etaTenths: number[] = [];
  const perDc: number[] = [];
  let sku = 0;
  for (let query = 0; query < count; query++) {
    const dcCount = lat[query] > 0 ? 2 : 0;
    dcCounts.push(dcCount);
    if (dcCount > 0) {
      dcIndex.push(0, 1);
      dcEtaTenths.push(50, 80);
    }
    for (let at = 0; at < skuCounts[query]; at++, sku++) {
      const known = skus[sku] !== 'unknown';
      const length = skus[sku].length;
      available.push(!known ? -1 : dcCount > 0 ? 3 * length : 0);
      etaTenths.push(known && dcCount > 0 ? 50 : -1);
      if (breakdown && dcCount > 0) perDc.push(known ? 2 * length : 0, known ? length : 0);
    }
  }
  const column = (values: number[]) => i32Column(Int32Array.from(values), values.length);
  return {
    kind: 0,
    body: {
      dcCounts: column(dcCounts),
      dcs: ['dc-a', 'dc-b'],
      dcIndex: column(dcIndex),
      dcEtaTenths: column(dcEtaTenths),
      available: column(available),
      etaTenths: column(etaTenths),
      perDc: breakdown ? column(perDc) : null,
      errors: [],
    },
  };
}

/** A version-2 fake that answers placeOrders and availabilityMany, and echoes the rest. */
async function startBatchNode(limits: Record<string, number> = {}) {
  const node = await startFakeNode();
  node.version = 2;
  node.helloLimits = {
    ...HELLO_LIMITS,
    ordersPerBatchMax: 1024,
    queriesPerBatchMax: 256,
    ...limits,
  };
  const placed: Placed = new Set();
  node.handle = (request) => {
    if (request[1] === 'placeOrders') return fakePlaceOrders(request[2], placed);
    if (request[1] === 'placeOrder') return fakePlaceOrder(request[2], placed);
    if (request[1] === 'availabilityMany') return fakeAvailabilityMany(request[2]);
    if (request[1] === 'availability') return fakeAvailability(request[2]);
    return echo(request);
  };
  return node;
}

/** The fake's placeOrder: one order through fakePlaceOrders, answered as version 1 does. */
function fakePlaceOrder(args: Record<string, unknown>, placed: Placed): Reply {
  const order = args as unknown as PlaceOrderArgs;
  const reply = fakePlaceOrders(
    {
      orders: 1,
      orderIds: [order.orderId],
      lineCounts: i32Column(Int32Array.of(order.lines.length), 1),
      skus: order.lines.map((line) => line.sku),
      qty: i32Column(Int32Array.from(order.lines.map((line) => line.qty)), order.lines.length),
      mode: order.mode,
    },
    placed,
  ) as { kind: 0; body: Record<string, never> };
  const columns = readOrderColumns(reply.body, 1)!;
  const view = new OrderBatchResult(columns, [order]);
  if (view.refused(0)) return { kind: 1, body: view.errorBody(0) };
  return { kind: 0, body: view.orderResult(0) };
}

/** The fake's availability on version 2: one query, answered in columns. */
function fakeAvailability(args: Record<string, unknown>): Reply {
  const skus = args.skus as string[];
  const reply = fakeAvailabilityMany({
    queries: 1,
    lat: f64Column(Float64Array.of(args.lat as number), 1),
    skuCounts: i32Column(Int32Array.of(skus.length), 1),
    skus,
    breakdown: args.breakdown,
  }) as { kind: 0; body: Record<string, unknown> };
  const { errors: _errors, ...columns } = reply.body;
  return { kind: 0, body: columns };
}

/** The requests of `op` the fake received, in order. */
function requestsOf(node: FakeNode, op: string): WireRequest[] {
  return node.frames.flatMap((frame) => frame.requests.filter((request) => request[1] === op));
}

function order(orderId: string, extra: Partial<PlaceOrderArgs> = {}): PlaceOrderArgs {
  return {
    orderId,
    location: { lat: 12.5, lng: 77.25 },
    lines: [
      { sku: 'milk', qty: 2 },
      { sku: 'bread', qty: 1 },
      { sku: 'eggs', qty: 12 },
    ],
    mode: 'hold',
    ...extra,
  };
}

describe('placeOrders (protocol v2)', () => {
  it('sends a batch as one placeOrders request of columns and reads the answer as a view', async () => {
    const node = await startBatchNode();
    const client = await connect(node);
    expect(client.protocolVersion).toBe(2);
    const orders = [order('o-1'), order('refuse-2'), order('o-3', { ttlSeconds: 60 })];
    orders[2] = { ...orders[2], ttlSeconds: undefined };
    const batch = await client.placeOrders(orders);
    const [request] = requestsOf(node, 'placeOrders');
    const args = request[2];
    expect(args).toMatchObject({ orders: 3, orderIds: ['o-1', 'refuse-2', 'o-3'], mode: 'hold' });
    expect(args).not.toHaveProperty('policy');
    expect([...readF64Column(args.lat, 3)!]).toEqual([12.5, 12.5, 12.5]);
    expect([...readI32Column(args.lineCounts, 3)!]).toEqual([3, 3, 3]);
    expect(args.skus).toEqual([
      'milk',
      'bread',
      'eggs',
      'milk',
      'bread',
      'eggs',
      'milk',
      'bread',
      'eggs',
    ]);
    expect([...readI32Column(args.qty, 9)!]).toEqual([2, 1, 12, 2, 1, 12, 2, 1, 12]);

    expect(batch).toBeInstanceOf(OrderBatchResult);
    expect(batch.count).toBe(3);
    expect([0, 1, 2].map((i) => batch.result(i))).toEqual(['created', 'refused', 'created']);
    expect(batch.refusedCount).toBe(1);
    expect(batch.status(0)).toBe('held');
    expect(batch.status(1)).toBeUndefined();
    expect(batch.etaMinutes(0)).toBe(12.3);
    expect(batch.expiresAt(0)).toBe(1_000);
    expect(batch.error(0)).toBeUndefined();
    const error = batch.error(1)!;
    expect(error).toBeInstanceOf(InventoryError);
    expect(error).toMatchObject({ code: 'OUT_OF_STOCK', message: 'not enough stock', status: 409 });
    expect(error.lines).toEqual([
      { sku: 'milk', code: 'OUT_OF_STOCK', requested: 2, available: 0 },
    ]);
    expect(batch.allocationCount(2)).toBe(3);
    const start = batch.allocationStart(2);
    expect(start).toBe(3);
    expect(batch.allocationSku(2, start + 2)).toBe('eggs');
    expect(batch.allocationDc(start + 1)).toBe('dc-b');
    expect(batch.allocationQty(start + 2)).toBe(12);
    expect(batch.order(1)).toBeUndefined();
    expect(batch.order(0)).toEqual({
      orderId: 'o-1',
      status: 'held',
      mode: 'hold',
      policy: 'single-dc',
      location: { lat: 12.5, lng: 77.25 },
      allocation: [
        { sku: 'milk', dc: 'dc-a', qty: 2 },
        { sku: 'bread', dc: 'dc-b', qty: 1 },
        { sku: 'eggs', dc: 'dc-a', qty: 12 },
      ],
      etaMinutes: 12.3,
      expiresAt: 1_000,
      createdAt: 500,
      updatedAt: 500,
    });
    expect(batch.orderResult(0)).toMatchObject({ created: true, order: { orderId: 'o-1' } });
    // The raw columns are typed arrays over the answer.
    expect(batch.columns.results).toBeInstanceOf(Int32Array);
    expect([...batch.columns.results]).toEqual([0, 2, 0]);
    expect([...batch.columns.allocQty]).toEqual([2, 1, 12, 2, 1, 12]);
    // Sending the same batch again answers exists for what was placed.
    const again = await client.placeOrders(orders);
    expect([0, 1, 2].map((i) => again.result(i))).toEqual(['exists', 'refused', 'exists']);
    expect(again.orderResult(0)?.created).toBe(false);
  });

  it('groups orders by shared options into separate requests, answering in input order', async () => {
    const node = await startBatchNode();
    const client = await connect(node);
    const orders = [
      order('a1'),
      order('b1', { mode: 'commit' }),
      order('a2'),
      order('c1', { policy: 'split' }),
      order('d1', { ttlSeconds: 30 }),
      order('e1', { maxMinutes: 15 }),
      order('b2', { mode: 'commit', policy: null as never }),
      order('a3', { ttlSeconds: undefined }),
    ];
    const batch = await client.placeOrders(orders);
    const requests = requestsOf(node, 'placeOrders');
    expect(requests.map((request) => request[2].orderIds)).toEqual([
      ['a1', 'a2', 'a3'],
      ['b1', 'b2'],
      ['c1'],
      ['d1'],
      ['e1'],
    ]);
    expect(requests.map((request) => request[2].mode)).toEqual([
      'hold',
      'commit',
      'hold',
      'hold',
      'hold',
    ]);
    expect(requests[2][2].policy).toBe('split');
    expect(requests[3][2].ttlSeconds).toBe(30);
    expect(requests[4][2].maxMinutes).toBe(15);
    // The view is in the caller's order, whatever request carried each order.
    expect(Array.from({ length: batch.count }, (_, i) => batch.order(i)?.orderId)).toEqual(
      orders.map((entry) => entry.orderId),
    );
    expect(batch.status(1)).toBe('confirmed');
    expect(batch.status(2)).toBe('held');
    expect(batch.order(7)?.allocation.map((entry) => entry.dc)).toEqual(['dc-a', 'dc-b', 'dc-a']);
  });

  it("splits a batch over the node's ordersPerBatchMax and the frame bytes", async () => {
    const node = await startBatchNode({ ordersPerBatchMax: 4 });
    const client = await connect(node);
    const orders = Array.from({ length: 10 }, (_, i) => order(`s-${i}`));
    const batch = await client.placeOrders(orders);
    expect(requestsOf(node, 'placeOrders').map((request) => request[2].orders)).toEqual([4, 4, 2]);
    expect(Array.from({ length: 10 }, (_, i) => batch.order(i)?.orderId)).toEqual(
      orders.map((entry) => entry.orderId),
    );

    const small = await startBatchNode({ frameBytesMax: 4096 });
    const tight = await connect(small);
    const long = Array.from({ length: 40 }, (_, i) => order(`${'x'.repeat(60)}-${i}`));
    const split = await tight.placeOrders(long);
    const sizes = requestsOf(small, 'placeOrders').map((request) => request[2].orders as number);
    expect(sizes.length).toBeGreaterThan(1);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(40);
    expect(split.count).toBe(40);
    expect(split.refusedCount).toBe(0);
  });

  it('sends an order the columns cannot carry as its own placeOrder, answered as a refusal', async () => {
    const node = await startBatchNode();
    node.handle = (request) =>
      request[1] === 'placeOrder'
        ? { kind: 1, body: { code: 'EMPTY_ORDER', message: 'lines is empty', field: 'lines' } }
        : fakePlaceOrders(request[2], new Set());
    const client = await connect(node);
    const batch = await client.placeOrders([order('ok-1'), { ...order('empty'), lines: [] }]);
    expect(requestsOf(node, 'placeOrders')[0][2].orderIds).toEqual(['ok-1']);
    expect(requestsOf(node, 'placeOrder')).toHaveLength(1);
    expect(batch.result(0)).toBe('created');
    expect(batch.result(1)).toBe('refused');
    expect(batch.error(1)).toMatchObject({ code: 'EMPTY_ORDER', details: { field: 'lines' } });
  });

  it('rejects the batch when a request fails as a whole', async () => {
    const node = await startBatchNode();
    node.handle = () => ({ kind: 1, body: { code: 'FORBIDDEN', message: 'orderer role' } });
    const client = await connect(node);
    const error = await client.placeOrders([order('f-1')]).catch((e) => e);
    expect(error).toBeInstanceOf(InventoryError);
    expect(error).toMatchObject({ code: 'FORBIDDEN', maybeApplied: false });
    await expect(client.placeOrders([])).resolves.toMatchObject({ count: 0 });
  });

  it('counts a batch by its orders in the in-flight window, as the node does', async () => {
    const node = await startBatchNode({ inFlightMax: 10 });
    const held: WireRequest[] = [];
    node.handle = (request) => {
      held.push(request);
      return 'hold';
    };
    const client = await connect(node);
    const pending = client.placeOrders(Array.from({ length: 25 }, (_, i) => order(`w-${i}`)));
    await waitFor(() => node.held.length === 1);
    // Parts are cut to the window: 10 orders fill it and the next part waits.
    expect(held.map((request) => request[2].orders)).toEqual([10]);
    expect(client.inFlight).toBe(10);
    expect(client.queued).toBe(15);
    const placed: Placed = new Set();
    while (held.length < 3 || node.held.length > 0) {
      const next = node.held.shift();
      if (next !== undefined) {
        const reply = fakePlaceOrders(next.request[2], placed) as { kind: 0; body: unknown };
        node.send(next.socket, [[next.request[0], MessageKinds.OK, reply.body]]);
      }
      await waitFor(() => node.held.length > 0 || held.length === 3);
      expect(client.inFlight).toBeLessThanOrEqual(10);
    }
    expect(held.map((request) => request[2].orders)).toEqual([10, 10, 5]);
    const batch = await pending;
    expect(batch.count).toBe(25);
    expect(client.inFlight).toBe(0);
  });

  it('sends a placeOrders batch again after a lost connection, with the same order ids', async () => {
    const node = await startBatchNode();
    const placed: Placed = new Set();
    node.handle = (request, connection) => {
      if (connection === 1) return 'hold';
      if (request[1] === 'placeOrder') return fakePlaceOrder(request[2], placed);
      return fakePlaceOrders(request[2], placed);
    };
    const client = await connect(node, {
      reconnect: { retries: 5, baseDelayMs: 5, maxDelayMs: 10 },
    });
    const batch = client.placeOrders([order('r-1'), order('r-2')]);
    const single = client.placeOrder(order('r-3'));
    await waitFor(() => node.held.length === 2);
    node.held = [];
    node.dropAll();
    const [view, result] = await Promise.all([batch, single]);
    expect(view.count).toBe(2);
    expect(result.order.orderId).toBe('r-3');
    const resent = node.frames.filter((frame) => frame.connection === 2);
    const ids = resent.flatMap((frame) =>
      frame.requests
        .filter((r) => r[1] !== 'hello')
        .map((r) => [r[1], r[2].orderIds ?? r[2].orderId]),
    );
    expect(ids).toEqual([
      ['placeOrders', ['r-1', 'r-2']],
      ['placeOrder', 'r-3'],
    ]);
  });
});

describe('per-call coalescing (protocol v2)', () => {
  it('sends placeOrder calls of one turn as one placeOrders request; each call gets its entry', async () => {
    const node = await startBatchNode();
    const client = await connect(node);
    const calls = [order('p-1'), order('refuse-2'), order('p-3')].map((args) =>
      client.placeOrder(args),
    );
    const [first, refused, third] = await Promise.allSettled(calls);
    const requests = requestsOf(node, 'placeOrders');
    expect(requests).toHaveLength(1);
    expect(requests[0][2].orderIds).toEqual(['p-1', 'refuse-2', 'p-3']);
    expect(requestsOf(node, 'placeOrder')).toHaveLength(0);
    expect(first).toEqual({
      status: 'fulfilled',
      value: {
        created: true,
        order: {
          orderId: 'p-1',
          status: 'held',
          mode: 'hold',
          policy: 'single-dc',
          location: { lat: 12.5, lng: 77.25 },
          allocation: [
            { sku: 'milk', dc: 'dc-a', qty: 2 },
            { sku: 'bread', dc: 'dc-b', qty: 1 },
            { sku: 'eggs', dc: 'dc-a', qty: 12 },
          ],
          etaMinutes: 12.3,
          expiresAt: 1_000,
          createdAt: 500,
          updatedAt: 500,
        },
      },
    });
    expect(refused.status).toBe('rejected');
    const error = (refused as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(InventoryError);
    expect(error).toMatchObject({ code: 'OUT_OF_STOCK', maybeApplied: false });
    expect(error.lines[0]).toMatchObject({ sku: 'milk', requested: 2 });
    expect(third).toMatchObject({ status: 'fulfilled', value: { created: true } });
    // A repeat of an order answers exists, as placeOrder always has.
    await expect(client.placeOrder(order('p-1'))).resolves.toMatchObject({ created: false });
  });

  it('groups by options, keeps other ops in order, and coalesces availability', async () => {
    const node = await startBatchNode();
    const client = await connect(node);
    const calls: Promise<unknown>[] = [
      client.placeOrder(order('g-1')),
      client.availability({ lat: 1, lng: 2, skus: ['milk', 'unknown'] }),
      client.placeOrder(order('g-2', { mode: 'commit' })),
      client.getStock({ dc: 'dc-a', sku: 'milk' }),
      client.placeOrder(order('g-3')),
      client.availability({ lat: 1, lng: 2, skus: ['eggs'], breakdown: false }),
      client.availability({ lat: -1, lng: 2, skus: ['jam'] }),
      // A change other than a placement: later calls may not move ahead of it.
      client.confirm({ orderId: 'g-1' }),
      client.placeOrder(order('g-4')),
    ];
    const results = await Promise.all(calls);
    const frames = requestFrames(node);
    expect(frames).toHaveLength(1);
    const sent = frames[0].requests.map((request) => [
      request[1],
      request[2].orderIds ?? request[2].queries ?? null,
    ]);
    // A call left alone in its request goes in its own op (g-2, the query without breakdown,
    // g-4), as a call always did.
    expect(sent).toEqual([
      ['placeOrders', ['g-1', 'g-3']],
      ['availabilityMany', 2],
      ['placeOrder', null],
      ['getStock', null],
      ['availability', null],
      ['confirm', null],
      ['placeOrder', null],
    ]);
    expect(frames[0].requests[4][2].breakdown).toBe(false);
    expect(results[1]).toEqual({
      skus: {
        milk: {
          available: 12,
          etaMinutes: 5,
          dcs: [
            { dc: 'dc-a', available: 8, etaMinutes: 5 },
            { dc: 'dc-b', available: 4, etaMinutes: 8 },
          ],
        },
        unknown: { available: 0, etaMinutes: null, dcs: [], unknown: true },
      },
      dcsInRange: 2,
    });
    expect(results[5]).toEqual({
      skus: { eggs: { available: 12, etaMinutes: 5, dcs: [] } },
      dcsInRange: 2,
    });
    expect(results[6]).toEqual({
      skus: { jam: { available: 0, etaMinutes: null, dcs: [] } },
      dcsInRange: 0,
    });
    expect(results[2]).toMatchObject({ order: { orderId: 'g-2', status: 'confirmed' } });
  });

  it('sends a call the columns cannot carry alone, in its version-1 form', async () => {
    const node = await startBatchNode();
    const client = await connect(node);
    const [bad, empty] = await Promise.allSettled([
      client.placeOrder({ ...order('bad'), lines: [{ sku: 'milk', qty: 0 }] }),
      client.availability({ lat: 1, lng: 2, skus: [] }),
      client.placeOrder(order('good-1')),
      client.placeOrder(order('good-2')),
    ]);
    const ops = requestFrames(node)[0].requests.map((request) => request[1]);
    expect(ops).toEqual(['placeOrder', 'availability', 'placeOrders']);
    expect(requestsOf(node, 'placeOrder')[0][2].lines).toEqual([{ sku: 'milk', qty: 0 }]);
    expect(bad.status).toBe('fulfilled');
    expect(empty).toEqual({ status: 'fulfilled', value: { skus: {}, dcsInRange: 2 } });
  });

  it('with batch off, sends each call alone even on version 2', async () => {
    const node = await startBatchNode();
    const client = await connect(node, { batch: false });
    await Promise.allSettled([client.placeOrder(order('u-1')), client.placeOrder(order('u-2'))]);
    expect(requestFrames(node).map((frame) => frame.requests.map((r) => r[1]))).toEqual([
      ['placeOrder'],
      ['placeOrder'],
    ]);
  });
});

describe('deadlines under one timer', () => {
  it('times out many calls, coalesced or not, without a timer per call', async () => {
    const node = await startBatchNode();
    node.handle = () => 'hold';
    const client = await connect(node, { timeoutMs: 5_000 });
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const started = Date.now();
    const calls = [
      ...Array.from({ length: 300 }, (_, i) =>
        client.placeOrder(order(`t-${i}`), { timeoutMs: 60 }),
      ),
      ...Array.from({ length: 300 }, () =>
        client.availability({ lat: 1, lng: 2, skus: ['a'] }, { timeoutMs: 60 }),
      ),
      ...Array.from({ length: 300 }, () => client.ping({ timeoutMs: 80 })),
    ];
    const outcomes = await Promise.all(calls.map((call) => call.catch((e) => e)));
    const armed = timers.mock.calls.length;
    timers.mockRestore();
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    // One timer for the first deadline, then a sweep every few ms while deadlines fall due.
    expect(armed).toBeLessThanOrEqual(8);
    expect(outcomes.slice(0, 300).every((e) => e.code === 'TIMEOUT' && e.maybeApplied)).toBe(true);
    expect(outcomes.slice(300).every((e) => e.code === 'TIMEOUT' && !e.maybeApplied)).toBe(true);
    // The node holds them all: they keep their weight in the window until it answers.
    expect(client.inFlight).toBe(900);
  });

  it('times out or aborts one coalesced call while the rest of its request is answered', async () => {
    const node = await startBatchNode();
    const placed: Placed = new Set();
    node.handle = (request) => (request[1] === 'placeOrders' ? 'hold' : echo(request));
    const client = await connect(node);
    const abort = new AbortController();
    const aborted = client.placeOrder(order('x-1'), { signal: abort.signal });
    const late = client.placeOrder(order('x-2'), { timeoutMs: 40 });
    const kept = client.placeOrder(order('x-3'), { timeoutMs: 5_000 });
    await waitFor(() => node.held.length === 1);
    abort.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED', maybeApplied: true });
    await expect(late).rejects.toMatchObject({ code: 'TIMEOUT', maybeApplied: true });
    expect(client.inFlight).toBe(3);
    const [{ socket, request }] = node.held;
    const reply = fakePlaceOrders(request[2], placed) as { kind: 0; body: unknown };
    node.send(socket, [[request[0], MessageKinds.OK, reply.body]]);
    await expect(kept).resolves.toMatchObject({ created: true, order: { orderId: 'x-3' } });
    expect(client.inFlight).toBe(0);
  });

  it('takes a call aborted or timed out before sending out of its request', async () => {
    const node = await startBatchNode();
    const client = await connect(node);
    const abort = new AbortController();
    const gone = client.placeOrder(order('q-1'), { signal: abort.signal });
    const stays = client.placeOrder(order('q-2'));
    abort.abort();
    await expect(gone).rejects.toMatchObject({ code: 'ABORTED', maybeApplied: false });
    await stays;
    // Left alone in its request, the other call went in its own op.
    expect(requestsOf(node, 'placeOrders')).toHaveLength(0);
    expect(requestsOf(node, 'placeOrder').map((request) => request[2].orderId)).toEqual(['q-2']);
    const batch = new AbortController();
    const whole = client.placeOrders([order('q-3')], { signal: batch.signal });
    batch.abort();
    await expect(whole).rejects.toMatchObject({ code: 'ABORTED', maybeApplied: false });
    expect(client.queued).toBe(0);
  });
});

describe('availabilityMany (protocol v2)', () => {
  it('answers queries through a typed view over the columns', async () => {
    const node = await startBatchNode();
    const client = await connect(node);
    const view = await client.availabilityMany([
      { lat: 1, lng: 2, skus: ['milk', 'unknown', 'eggs'] },
      { lat: -1, lng: 2, skus: ['milk'] },
    ]);
    const [request] = requestsOf(node, 'availabilityMany');
    expect(request[2]).toMatchObject({ queries: 2, skus: ['milk', 'unknown', 'eggs', 'milk'] });
    expect([...readI32Column(request[2].skuCounts, 2)!]).toEqual([3, 1]);
    expect(view).toBeInstanceOf(AvailabilityBatchResult);
    expect(view.count).toBe(2);
    expect(view.breakdown).toBe(true);
    expect(view.dcCount(0)).toBe(2);
    expect([view.dc(0, 0), view.dc(0, 1)]).toEqual(['dc-a', 'dc-b']);
    expect(view.dcEtaMinutes(0, 1)).toBe(8);
    expect(view.skuCount(0)).toBe(3);
    expect(view.sku(0, 2)).toBe('eggs');
    expect(view.available(0, 0)).toBe(12);
    expect(view.available(0, 1)).toBe(-1);
    expect(view.etaMinutes(0, 1)).toBeNull();
    expect(view.perDc(0, 2, 0)).toBe(8);
    expect(view.perDc(0, 2, 1)).toBe(4);
    expect(view.dcCount(1)).toBe(0);
    expect(view.available(1, 0)).toBe(0);
    expect(view.error(1)).toBeUndefined();
    expect(view.columns.available).toBeInstanceOf(Int32Array);
    expect(view.columns.available[view.skuStart(1)]).toBe(0);
    expect(view.skus(0).eggs).toEqual({
      available: 12,
      etaMinutes: 5,
      dcs: [
        { dc: 'dc-a', available: 8, etaMinutes: 5 },
        { dc: 'dc-b', available: 4, etaMinutes: 8 },
      ],
    });
  });

  it('groups queries by window, splits over the batch limits, and honours breakdown', async () => {
    const node = await startBatchNode({ queriesPerBatchMax: 3, skusPerBatchMax: 5 });
    const client = await connect(node);
    const queries = [
      { lat: 1, lng: 1, skus: ['a', 'bb'] },
      { lat: 1, lng: 1, skus: ['ccc'], maxMinutes: 20 },
      { lat: 1, lng: 1, skus: ['dddd', 'e'] },
      { lat: 1, lng: 1, skus: ['f', 'g'] },
      { lat: 1, lng: 1, skus: ['h'] },
    ];
    const view = await client.availabilityMany(queries, { breakdown: false, maxMinutes: 30 });
    const requests = requestsOf(node, 'availabilityMany');
    expect(requests.map((request) => [request[2].queries, request[2].maxMinutes])).toEqual([
      [2, 30],
      [1, 20],
      [2, 30],
    ]);
    expect(requests.every((request) => request[2].breakdown === false)).toBe(true);
    expect(view.breakdown).toBe(false);
    expect(() => view.perDc(0, 0, 0)).toThrow(RangeError);
    expect(queries.map((query, q) => query.skus.map((_, s) => view.available(q, s)))).toEqual([
      [3, 6],
      [9],
      [12, 3],
      [3, 3],
      [3],
    ]);
    expect(view.dc(4, 1)).toBe('dc-b');
  });
});

describe('protocol v1 fallback', () => {
  it('sends the batch methods as version-1 calls and reads the answers into the same views', async () => {
    const node = await startFakeNode();
    node.handle = (request) => {
      const args = request[2] as Record<string, never>;
      if (request[1] === 'availability') {
        return {
          kind: 0,
          body: {
            skus: {
              milk: {
                available: 7,
                etaMinutes: 4,
                dcs: [
                  { dc: 'dc-b', available: 2, etaMinutes: 9 },
                  { dc: 'dc-a', available: 5, etaMinutes: 4 },
                ],
              },
              nope: { available: 0, etaMinutes: null, dcs: [], unknown: true },
            },
          },
        };
      }
      if (request[1] !== 'placeOrder') return echo(request);
      if (args.orderId === 'v1-refused') {
        return { kind: 1, body: { code: 'NO_DC_IN_RANGE', message: 'too far' } };
      }
      const allocation = [{ sku: 'bread', dc: 'dc-z', qty: 1 }];
      const view = {
        orderId: args.orderId,
        status: 'held',
        mode: 'hold',
        policy: 'single-dc',
        location: { lat: 12.5, lng: 77.25 },
        allocation,
        etaMinutes: 7.5,
        expiresAt: 99,
        createdAt: 1,
        updatedAt: 2,
      };
      return { kind: 0, body: { created: true, order: view } };
    };
    const client = await connect(node);
    expect(client.protocolVersion).toBe(1);
    const batch = await client.placeOrders([order('v1-ok'), order('v1-refused')]);
    expect(requestsOf(node, 'placeOrder')).toHaveLength(2);
    expect(requestsOf(node, 'placeOrders')).toHaveLength(0);
    expect(batch.result(0)).toBe('created');
    expect(batch.order(0)).toMatchObject({
      orderId: 'v1-ok',
      status: 'held',
      etaMinutes: 7.5,
      expiresAt: 99,
      allocation: [{ sku: 'bread', dc: 'dc-z', qty: 1 }],
    });
    expect(batch.error(1)).toMatchObject({ code: 'NO_DC_IN_RANGE' });
    // Per-call placeOrder is not coalesced on version 1.
    await client.placeOrder(order('v1-ok'));
    expect(requestsOf(node, 'placeOrder')).toHaveLength(3);

    const view = await client.availabilityMany([{ lat: 1, lng: 2, skus: ['milk', 'nope'] }]);
    expect(requestsOf(node, 'availability')).toHaveLength(1);
    expect(view.dcCount(0)).toBe(2);
    expect([view.dc(0, 0), view.dc(0, 1)]).toEqual(['dc-a', 'dc-b']);
    expect(view.available(0, 0)).toBe(7);
    expect(view.available(0, 1)).toBe(-1);
    expect(view.perDc(0, 0, 1)).toBe(2);
    expect(view.skus(0)).toEqual({
      milk: {
        available: 7,
        etaMinutes: 4,
        dcs: [
          { dc: 'dc-a', available: 5, etaMinutes: 4 },
          { dc: 'dc-b', available: 2, etaMinutes: 9 },
        ],
      },
      nope: { available: 0, etaMinutes: null, dcs: [], unknown: true },
    });
  });

  it('falls back per call after reconnecting to a version-1 node', async () => {
    const node = await startBatchNode();
    node.handle = (request, connection) => (connection === 1 ? 'hold' : echo(request));
    const client = await connect(node, {
      reconnect: { retries: 5, baseDelayMs: 5, maxDelayMs: 10 },
    });
    const call = client.placeOrder(order('down-1'));
    await waitFor(() => node.held.length === 1);
    node.version = 1;
    node.held = [];
    node.dropAll();
    await expect(call).resolves.toMatchObject({ op: 'placeOrder', args: { orderId: 'down-1' } });
    expect(client.protocolVersion).toBe(1);
  });
});

import type { TemplatedApp, WebSocketBehavior } from 'uWebSockets.js';
import { beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { WireCodec } from '../protocol/codec.js';
import { f64Column, i32Column } from '../protocol/columns.js';
import { IN_FLIGHT_MAX } from '../protocol/limits.js';
import { CloseCodes, MessageKinds, type Op, type WireMessage } from '../protocol/messages.js';
import { validateArgs } from '../protocol/validate.js';
import {
  WS_DRAIN_TIMEOUT_MS,
  WS_HELD_ANSWERS_MAX,
  WS_SEND_BUFFER_BYTES_SOFT,
} from './constants.js';
import { KeyRing } from './keys.js';
import { createLogger } from './logger.js';
import { OUTCOMES, seriesOf, ThreadMetrics, TRANSPORT_WS } from './metrics.js';
import { ConnectionLimits, createConnectionCounts } from './connection-limits.js';
import { ACKS_ACROSS_DEADLINE } from './ownership-check.js';
import { NOT_OWNER_REFUSAL, testOperationContext } from './testing/context.js';
import { WsServer } from './ws-server.js';

const KEYS = {
  reader: ['reader-key-0123456789'],
  orderer: ['orderer-key-0123456789'],
  admin: ['admin-key-0123456789'],
};
const HERE = { lat: 10, lng: 10 };

/** A stand-in for a uWS WebSocket: records what the server sends and how it closes. */
class FakeSocket {
  readonly frames: WireMessage[][] = [];
  closed: { code: number; reason: string } | null = null;
  bufferedAmount = 0;
  /** Called after each frame is written (a test's hook between the write and the next turn). */
  onSend: ((messages: WireMessage[]) => void) | null = null;

  constructor(
    private readonly data: unknown,
    readonly behavior: WebSocketBehavior<unknown>,
    private readonly codec: WireCodec,
  ) {}

  getUserData() {
    return this.data;
  }
  getBufferedAmount() {
    return this.bufferedAmount;
  }
  cork(callback: () => void) {
    callback();
    return this;
  }
  send(message: Uint8Array) {
    const decoded = this.codec.decodeMessageFrame(message);
    if (!decoded.ok) throw new Error(`server sent an undecodable frame: ${decoded.message}`);
    this.frames.push(decoded.messages);
    this.onSend?.(decoded.messages);
    return 1;
  }
  end(code: number, reason: string) {
    this.closed = { code, reason };
    this.behavior.close?.(this as never, code, new ArrayBuffer(0));
  }
  messages(): WireMessage[] {
    return this.frames.flat();
  }
}

interface Harness {
  server: WsServer;
  engine: Engine;
  connect(key: string): FakeSocket;
  send(socket: FakeSocket, requests: unknown[]): void;
  /** Resolves every durability wait so far. */
  makeDurable(): void;
  now: { ms: number };
  /** Set to make the node lose its region (the context's ownership refuses from then on). */
  ownershipLost: { value: boolean };
  metrics: ThreadMetrics;
  /** The server's log lines (JSON), warnings and up. */
  logged: string[];
}

function harness(rate = { requestsPerSecond: 1_000_000, burst: 1_000_000 }): Harness {
  let ticket = 0;
  const waits: (() => void)[] = [];
  const engine = Engine.create(
    { dcCapacity: 4, skuCapacity: 16, orderCapacity: 1 << 14, dcsPerShard: 4 },
    { log: { writable: () => true, append: () => ++ticket } },
  );
  engine.upsertDc({ id: 'dc', name: 'DC', location: HERE, radiusKm: 5 }, { actor: 'test' });
  engine.upsertSku({ id: 'sku', name: 'SKU' }, { actor: 'test' });
  engine.receive('dc', 'sku', 1_000_000, { actor: 'test' });
  const now = { ms: 1_000 };
  const ownershipLost = { value: false };
  const logged: string[] = [];
  const context = testOperationContext(engine, {
    log: {
      waitDurable: () => new Promise<void>((resolve) => waits.push(resolve)),
      lastAppendedTicket: () => ticket,
    },
    clock: () => now.ms,
    ownership: { refusal: () => (ownershipLost.value ? NOT_OWNER_REFUSAL : null) },
  });
  const codec = new WireCodec();
  const metrics = new ThreadMetrics(0, () => now.ms);
  const server = new WsServer({
    metrics,
    keys: new KeyRing(KEYS),
    context,
    codec,
    connections: new ConnectionLimits(createConnectionCounts(), { perNode: 3, perKey: 2 }),
    checkArgs: (op: Op, args) => validateArgs(op, args),
    rateLimit: rate,
    clock: () => now.ms,
    logger: createLogger({
      level: 'warn',
      clock: () => now.ms,
      write: (line) => logged.push(line),
    }),
    acceptingConnections: () => true,
  });
  let behavior: WebSocketBehavior<unknown> | undefined;
  server.register({
    ws: (_pattern: string, captured: WebSocketBehavior<unknown>) => {
      behavior = captured;
    },
  } as unknown as TemplatedApp);
  const b = behavior!;
  const connect = (key: string): FakeSocket => {
    let userData: unknown;
    let refused = '';
    const res = {
      upgrade: (data: unknown) => {
        userData = data;
      },
      cork(callback: () => void) {
        callback();
        return res;
      },
      writeStatus(status: string) {
        refused = status;
        return res;
      },
      writeHeader: () => res,
      end: () => res,
    };
    const req = { getHeader: (name: string) => (name === 'authorization' ? `Bearer ${key}` : '') };
    b.upgrade!(res as never, req as never, {} as never);
    if (refused !== '') throw new Error(`upgrade refused: ${refused}`);
    const socket = new FakeSocket(userData, b, codec);
    b.open!(socket as never);
    return socket;
  };
  const send = (socket: FakeSocket, requests: unknown[]) => {
    const bytes = codec.encodeValue(requests);
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    b.message!(socket as never, copy as ArrayBuffer, true);
  };
  const makeDurable = () => {
    for (const resolve of waits.splice(0)) resolve();
  };
  return { server, engine, connect, send, makeDurable, now, ownershipLost, metrics, logged };
}

/** Lets promise callbacks and the server's setImmediate flush run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

function order(orderId: string) {
  return { orderId, location: HERE, mode: 'hold', lines: [{ sku: 'sku', qty: 1 }] };
}

/** How many WebSocket requests of `op` the harness's metrics counted under `outcome`. */
function outcomeCount(op: Op, outcome: string): number {
  const report = h.metrics.report({}, {});
  return report.outcomes[seriesOf(op, TRANSPORT_WS) * OUTCOMES.length + OUTCOMES.indexOf(outcome)];
}

let h: Harness;
beforeEach(() => {
  h = harness();
});

describe('WsServer', () => {
  it('answers a frame that changed nothing at once, in one frame', () => {
    const socket = h.connect(KEYS.orderer[0]);
    h.send(socket, [
      [1, 'hello', { versions: [1] }],
      [3, 'ping', {}],
      [4, 'nope', {}],
    ]);
    expect(socket.frames).toHaveLength(1);
    expect(socket.frames[0].map(([id, kind]) => [id, kind])).toEqual([
      [1, MessageKinds.OK],
      [3, MessageKinds.OK],
      [4, MessageKinds.ERROR],
    ]);
    expect(socket.frames[0][0][2]).toMatchObject({
      version: 1,
      node: 'test-node',
      role: 'orderer',
    });
    expect(socket.frames[0][2][2]).toMatchObject({ code: 'UNKNOWN_OP' });
  });

  it('sends no acknowledgement once the region was lost after the change became durable', async () => {
    const socket = h.connect(KEYS.orderer[0]);
    h.send(socket, [[1, 'hello', { versions: [1] }]]);
    h.send(socket, [
      [2, 'placeOrder', order('o-lost')],
      [3, 'ping', {}],
    ]);
    h.makeDurable();
    // The frame's durability callback runs (its answers wait for this turn's flush), then the
    // node loses its region before the flush: as a primary paused past its lease would.
    for (let hop = 0; hop < 5; hop++) await Promise.resolve();
    h.ownershipLost.value = true;
    await settle();
    const answers = new Map(socket.messages().map(([id, kind, body]) => [id, { kind, body }]));
    expect(answers.get(2)).toMatchObject({
      kind: MessageKinds.ERROR,
      body: { code: 'NOT_OWNER' },
    });
    // A read in the same frame acknowledges nothing and is still answered.
    expect(answers.get(3)?.kind).toBe(MessageKinds.OK);
    // The metrics count the order under what the client got: NOT_OWNER, not ok.
    expect(outcomeCount('placeOrder', 'NOT_OWNER')).toBe(1);
    expect(outcomeCount('placeOrder', 'ok')).toBe(0);
    // The next frame's write is refused before it changes anything.
    h.send(socket, [[4, 'placeOrder', order('o-after')]]);
    expect(socket.messages().at(-1)).toMatchObject([4, MessageKinds.ERROR, { code: 'NOT_OWNER' }]);
  });

  it('names acknowledgements whose write the deadline may have overtaken, and only those', async () => {
    const socket = h.connect(KEYS.orderer[0]);
    h.send(socket, [[1, 'hello', { versions: [1] }]]);
    h.send(socket, [[2, 'placeOrder', order('o-kept')]]);
    h.makeDurable();
    await settle();
    await settle();
    // Still the owner after the write: nothing to report.
    expect(socket.messages().at(-1)?.slice(0, 2)).toEqual([2, MessageKinds.OK]);
    h.send(socket, [
      [3, 'placeOrder', order('o-late-1')],
      [4, 'placeOrder', order('o-late-2')],
      [5, 'ping', {}],
    ]);
    expect(h.logged).toEqual([]);
    // The region is lost right after the frame was handed to the socket, as when a pause
    // falls between the ownership check and the write: the answers left as acknowledgements.
    socket.onSend = () => {
      h.ownershipLost.value = true;
    };
    h.makeDurable();
    await settle();
    // The look after the write runs in the turn after the flush.
    await settle();
    const answers = new Map(socket.messages().map(([id, kind]) => [id, kind]));
    expect(answers.get(3)).toBe(MessageKinds.OK);
    expect(answers.get(4)).toBe(MessageKinds.OK);
    expect(h.logged.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: ACKS_ACROSS_DEADLINE,
        acknowledgements: 2,
      }),
    ]);
  });

  it('names acknowledgements uWS kept to write on drain once the region was lost', async () => {
    const socket = h.connect(KEYS.orderer[0]);
    h.send(socket, [[1, 'hello', { versions: [1] }]]);
    // Part of what is sent stays in uWS's buffer (under the soft limit, so answers still go).
    socket.bufferedAmount = 100;
    h.send(socket, [[2, 'placeOrder', order('o-kept-in-uws')]]);
    h.makeDurable();
    await settle();
    await settle();
    expect(socket.messages().at(-1)?.slice(0, 2)).toEqual([2, MessageKinds.OK]);
    expect(h.logged).toEqual([]);
    // The node pauses before uWS writes the rest; when it drains, the deadline has passed.
    h.ownershipLost.value = true;
    socket.bufferedAmount = 0;
    socket.behavior.drain!(socket as never);
    await settle();
    expect(h.logged.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ message: ACKS_ACROSS_DEADLINE, acknowledgements: 1 }),
    ]);
    // Counted once: the buffer was seen empty, so a later drain names nothing.
    socket.behavior.drain!(socket as never);
    await settle();
    expect(h.logged).toHaveLength(1);
  });

  it('holds every answer of a frame that changed something until it is durable', async () => {
    const socket = h.connect(KEYS.orderer[0]);
    h.send(socket, [
      [1, 'hello', { versions: [2, 1] }],
      [2, 'placeOrder', order('o-1')],
      [3, 'ping', {}],
      [4, 'nope', {}],
    ]);
    await settle();
    // Nothing leaves before the frame's change is durable, not even the ping.
    expect(socket.frames).toHaveLength(0);
    h.makeDurable();
    await settle();
    expect(socket.frames).toHaveLength(1);
    expect(socket.frames[0].map(([id, kind]) => [id, kind])).toEqual([
      [1, MessageKinds.OK],
      [2, MessageKinds.OK],
      [3, MessageKinds.OK],
      [4, MessageKinds.ERROR],
    ]);
    expect(socket.frames[0][0][2]).toMatchObject({ version: 2 });
    expect(socket.frames[0][1][2]).toMatchObject({ created: true });
  });

  it('caps connections per key and per node, and gives the slots back on close', () => {
    const first = h.connect(KEYS.reader[0]);
    h.connect(KEYS.reader[0]);
    expect(() => h.connect(KEYS.reader[0])).toThrow('429');
    h.connect(KEYS.orderer[0]);
    // The node holds 3: another key is refused too.
    expect(() => h.connect(KEYS.admin[0])).toThrow('429');
    first.end(1000, 'bye');
    expect(h.connect(KEYS.reader[0])).toBeInstanceOf(FakeSocket);
  });

  it('refuses by role before checking arguments', () => {
    const socket = h.connect(KEYS.reader[0]);
    h.send(socket, [[1, 'receive', { junk: true }]]);
    expect(socket.messages()[0][2]).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('refuses requests over the in-flight limit with TOO_MANY_IN_FLIGHT', async () => {
    const socket = h.connect(KEYS.orderer[0]);
    let id = 0;
    const frames = Math.ceil((IN_FLIGHT_MAX + 100) / 1024);
    for (let frame = 0; frame < frames; frame++) {
      h.send(
        socket,
        Array.from({ length: 1024 }, () => {
          id++;
          return [id, 'placeOrder', order(`f-${id}`)];
        }),
      );
    }
    const refused = socket.messages().filter(([, , body]) => {
      return (body as { code?: string }).code === 'TOO_MANY_IN_FLIGHT';
    });
    expect(refused).toHaveLength(frames * 1024 - IN_FLIGHT_MAX);
    h.makeDurable();
    await settle();
    expect(socket.messages()).toHaveLength(frames * 1024);
    // The window is free again.
    h.send(socket, [[id + 1, 'ping', {}]]);
    expect(socket.messages().at(-1)?.[1]).toBe(MessageKinds.OK);
  });

  it('refuses requests over the rate with RATE_LIMITED, counting requests not frames', () => {
    h = harness({ requestsPerSecond: 10, burst: 20 });
    const socket = h.connect(KEYS.reader[0]);
    h.send(
      socket,
      Array.from({ length: 50 }, (_, index) => [index, 'ping', {}]),
    );
    const codes = socket
      .messages()
      .map(([, kind, body]) => (kind === MessageKinds.OK ? 'OK' : (body as { code: string }).code));
    expect(codes.filter((code) => code === 'OK')).toHaveLength(20);
    expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(30);
    h.now.ms += 1_000;
    h.send(socket, [[99, 'ping', {}]]);
    expect(socket.messages().at(-1)?.[1]).toBe(MessageKinds.OK);
  });

  it('defines no SKU ref for a request refused before it ran (rate limit, version 1)', () => {
    h = harness({ requestsPerSecond: 10, burst: 3 });
    const socket = h.connect(KEYS.reader[0]);
    const byRef = (define: boolean) => {
      const args: Record<string, unknown> = {
        queries: 1,
        lat: f64Column(Float64Array.of(HERE.lat), 1),
        lng: f64Column(Float64Array.of(HERE.lng), 1),
        skuCounts: i32Column(Int32Array.of(1), 1),
        skuRefs: i32Column(Int32Array.of(0), 1),
      };
      if (define) {
        args.defineRefs = i32Column(Int32Array.of(0), 1);
        args.defineSkus = ['sku'];
      }
      return args;
    };
    const codeOf = (id: number) => {
      const message = socket.messages().find(([answered]) => answered === id)!;
      return message[1] === MessageKinds.OK ? 'OK' : (message[2] as { code: string }).code;
    };
    // On version 1 the op is refused (UNKNOWN_OP) and defines nothing.
    h.send(socket, [[1, 'availabilityMany', byRef(true)]]);
    h.send(socket, [
      [2, 'hello', { versions: [2] }],
      [3, 'availabilityMany', byRef(false)],
      [4, 'availabilityMany', byRef(true)],
      [5, 'availabilityMany', byRef(false)],
    ]);
    expect([1, 3, 4, 5].map(codeOf)).toEqual([
      'UNKNOWN_OP',
      'BAD_FIELD',
      'RATE_LIMITED',
      'RATE_LIMITED',
    ]);
    h.now.ms += 1_000;
    h.send(socket, [
      [6, 'availabilityMany', byRef(false)],
      [7, 'availabilityMany', byRef(true)],
      [8, 'availabilityMany', byRef(false)],
    ]);
    expect([6, 7, 8].map(codeOf)).toEqual(['BAD_FIELD', 'OK', 'OK']);
  });

  it('closes on a text frame, an undecodable frame, or an unsupported version', () => {
    const text = h.connect(KEYS.reader[0]);
    const bytes = new TextEncoder().encode('[[1,"ping",{}]]');
    const behaviorSend = (socket: FakeSocket, data: Uint8Array, isBinary: boolean) => {
      const copy = data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
      socket.behavior.message!(socket as never, copy as ArrayBuffer, isBinary);
    };
    behaviorSend(text, bytes, false);
    expect(text.closed?.code).toBe(CloseCodes.UNSUPPORTED_DATA);
    expect(text.messages()[0]).toEqual([0, MessageKinds.NOTICE, expect.any(Object)]);

    const garbage = h.connect(KEYS.reader[0]);
    behaviorSend(garbage, Uint8Array.from([0xc1, 0x00]), true);
    expect(garbage.closed?.code).toBe(CloseCodes.INVALID_PAYLOAD);

    const version = h.connect(KEYS.reader[0]);
    h.send(version, [[1, 'hello', { versions: [7] }]]);
    expect(version.messages()[0]).toEqual([
      1,
      MessageKinds.ERROR,
      expect.objectContaining({ code: 'PROTOCOL_VERSION' }),
    ]);
    expect(version.closed?.code).toBe(CloseCodes.POLICY_VIOLATION);
  });

  it('holds answers while the client is congested and writes them on drain', () => {
    const socket = h.connect(KEYS.reader[0]);
    socket.bufferedAmount = WS_SEND_BUFFER_BYTES_SOFT;
    h.send(socket, [[1, 'ping', {}]]);
    expect(socket.frames).toHaveLength(0);
    socket.bufferedAmount = 0;
    socket.behavior.drain!(socket as never);
    expect(socket.messages().map(([id]) => id)).toEqual([1]);
  });

  it('closes a client that does not drain in time or lets answers pile up', () => {
    const slow = h.connect(KEYS.reader[0]);
    slow.bufferedAmount = WS_SEND_BUFFER_BYTES_SOFT;
    h.send(slow, [[1, 'ping', {}]]);
    h.server.checkCongestion(h.now.ms + WS_DRAIN_TIMEOUT_MS - 1);
    expect(slow.closed).toBeNull();
    h.server.checkCongestion(h.now.ms + WS_DRAIN_TIMEOUT_MS);
    expect(slow.closed?.code).toBe(CloseCodes.POLICY_VIOLATION);

    const piling = h.connect(KEYS.reader[0]);
    piling.bufferedAmount = WS_SEND_BUFFER_BYTES_SOFT;
    let id = 0;
    while (piling.closed === null && id < WS_HELD_ANSWERS_MAX * 2) {
      h.send(
        piling,
        Array.from({ length: 1024 }, () => [++id, 'ping', {}]),
      );
    }
    expect(piling.closed?.code).toBe(CloseCodes.POLICY_VIOLATION);
    expect(h.server.connectionCount).toBe(0);
  });

  it('never answers a connection after it closed', async () => {
    const socket = h.connect(KEYS.orderer[0]);
    h.send(socket, [[1, 'placeOrder', order('late-1')]]);
    socket.end(CloseCodes.NORMAL, 'bye');
    h.makeDurable();
    await settle();
    expect(socket.frames).toHaveLength(0);
    expect(h.server.unanswered).toBe(0);
  });
});

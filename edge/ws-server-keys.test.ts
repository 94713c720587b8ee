/**
 * The WebSocket server's side of key reloads and per-key limits, with stand-ins for uWS: a
 * removed key's connections are closed with an UNAUTHORIZED notice (also one accepted just before the
 * reload), and a request over its key's rate is refused with `retryAfterMs`.
 */

import type { TemplatedApp, WebSocketBehavior } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { WireCodec } from '../protocol/codec.js';
import { CloseCodes, type Op, type WireMessage } from '../protocol/messages.js';
import { validateArgs } from '../protocol/validate.js';
import { ConnectionLimits, createConnectionCounts } from './connection-limits.js';
import { type KeyConfig, KeyRing, keyTableOf, resolveKeyConfig } from './keys.js';
import { createLogger } from './logger.js';
import { createKeyBuckets, KeyRateLimiter, SharedKeyBuckets } from './rate-limiter.js';
import { testOperationContext } from './testing/context.js';
import { WsServer } from './ws-server.js';

const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';

function config(entries: Partial<KeyConfig>): KeyConfig {
  return { reader: [], orderer: [], admin: [], ...entries };
}

class FakeSocket {
  readonly messages: WireMessage[] = [];
  closed: { code: number; reason: string } | null = null;

  constructor(
    private readonly data: unknown,
    private readonly behavior: WebSocketBehavior<unknown>,
    private readonly codec: WireCodec,
  ) {}

  getUserData() {
    return this.data;
  }
  getBufferedAmount() {
    return 0;
  }
  cork(callback: () => void) {
    callback();
    return this;
  }
  send(frame: Uint8Array) {
    const decoded = this.codec.decodeMessageFrame(frame);
    if (!decoded.ok) throw new Error(decoded.message);
    this.messages.push(...decoded.messages);
    return 1;
  }
  end(code: number, reason: string) {
    this.closed = { code, reason };
    this.behavior.close?.(this as never, code, new ArrayBuffer(0));
  }
}

function setup(keyRate = { requestsPerSecond: 1_000, burst: 5 }) {
  const engine = Engine.create(
    { dcCapacity: 4, skuCapacity: 16, orderCapacity: 1 << 14, dcsPerShard: 4 },
    { log: { writable: () => true, append: () => 1 } },
  );
  const now = { ms: 1_000 };
  const context = testOperationContext(engine, { clock: () => now.ms });
  const table = keyTableOf(
    resolveKeyConfig(
      config({ reader: [{ id: 'a', key: KEY_A }], orderer: [{ id: 'b', key: KEY_B }] }),
    ),
    1,
  );
  const keys = new KeyRing(table);
  const buckets = createKeyBuckets();
  for (const record of table.keys) new SharedKeyBuckets(buckets).reset(record.slot, 5, now.ms);
  const keyLimits = new KeyRateLimiter(new SharedKeyBuckets(buckets), keyRate, 1, () => now.ms);
  keyLimits.configure(table);
  const codec = new WireCodec();
  const connections = new ConnectionLimits(createConnectionCounts(), { perNode: 10, perKey: 10 });
  const server = new WsServer({
    keys,
    context,
    codec,
    connections,
    checkArgs: (op: Op, args) => validateArgs(op, args),
    rateLimit: { requestsPerSecond: 1_000_000, burst: 1_000_000 },
    clock: () => now.ms,
    logger: createLogger({ level: 'silent', clock: () => now.ms }),
    acceptingConnections: () => true,
    keyLimits,
  });
  let behavior: WebSocketBehavior<unknown> | undefined;
  server.register({
    ws: (_pattern: string, captured: WebSocketBehavior<unknown>) => {
      behavior = captured;
    },
  } as unknown as TemplatedApp);
  const b = behavior!;
  /** The upgrade, then (unless `open` is false) the open event. */
  const upgrade = (key: string) => {
    let userData: unknown;
    const res = {
      upgrade: (data: unknown) => {
        userData = data;
      },
      cork(callback: () => void) {
        callback();
        return res;
      },
      writeStatus: (status: string) => {
        throw new Error(`upgrade refused: ${status}`);
      },
    };
    const req = { getHeader: (name: string) => (name === 'authorization' ? `Bearer ${key}` : '') };
    b.upgrade!(res as never, req as never, {} as never);
    const socket = new FakeSocket(userData, b, codec);
    return { socket, open: () => b.open!(socket as never) };
  };
  const connect = (key: string) => {
    const { socket, open } = upgrade(key);
    open();
    return socket;
  };
  const send = (socket: FakeSocket, requests: unknown[]) => {
    const bytes = codec.encodeValue(requests);
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    b.message!(socket as never, copy as ArrayBuffer, true);
  };
  return { server, keys, connections, upgrade, connect, send, now };
}

describe('WsServer and key reloads', () => {
  it('closes the connections of a removed key with UNAUTHORIZED and 1008, and no other', () => {
    const h = setup();
    const a1 = h.connect(KEY_A);
    const a2 = h.connect(KEY_A);
    const b = h.connect(KEY_B);
    expect(h.connections.ofKey(0)).toBe(2);
    // A reload without a: b keeps its slot (1), as KeySlots keeps a surviving key's.
    h.keys.load(tableWithoutA());
    expect(h.server.keysChanged()).toBe(2);
    for (const socket of [a1, a2]) {
      expect(socket.closed).toEqual({ code: CloseCodes.POLICY_VIOLATION, reason: 'UNAUTHORIZED' });
      expect(socket.messages[0][2]).toMatchObject({ code: 'UNAUTHORIZED' });
    }
    expect(b.closed).toBeNull();
    // Their counts were given back.
    expect(h.connections.ofKey(0)).toBe(0);
    expect(h.connections.ofKey(1)).toBe(1);
    expect(h.server.connectionCount).toBe(1);
  });

  it('closes a connection accepted under a key that a reload removed before it opened', () => {
    const h = setup();
    const late = h.upgrade(KEY_A);
    h.keys.load(tableWithoutA());
    late.open();
    expect(late.socket.closed?.reason).toBe('UNAUTHORIZED');
    expect(h.connections.ofKey(0)).toBe(0);
  });
});

/** The table after a reload that removed key a: only b, on b's own slot. */
function tableWithoutA() {
  const [b] = keyTableOf(resolveKeyConfig(config({ orderer: [{ id: 'b', key: KEY_B }] })), 2).keys;
  return { generation: 2, keys: [{ ...b, slot: 1 }] };
}

describe('WsServer and per-key rates', () => {
  it('refuses past the key burst with retryAfterMs, and does not count hello', () => {
    const h = setup({ requestsPerSecond: 1_000, burst: 5 });
    const socket = h.connect(KEY_A);
    h.send(socket, [
      [1, 'hello', { versions: [2, 1] }],
      ...Array.from({ length: 7 }, (_, index) => [2 + index, 'ping', {}]),
    ]);
    const answers = socket.messages.map(([, kind, body]) => (kind === 0 ? 'ok' : body));
    expect(answers.filter((answer) => answer === 'ok')).toHaveLength(6);
    const refused = answers.filter((answer) => answer !== 'ok') as { code: string }[];
    expect(refused).toHaveLength(2);
    for (const error of refused) {
      expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 1 });
    }
    // Another key has its own bucket.
    const other = h.connect(KEY_B);
    h.send(other, [[1, 'ping', {}]]);
    expect(other.messages[0][1]).toBe(0);
    // One millisecond later, one more token.
    h.now.ms += 1;
    h.send(socket, [
      [20, 'ping', {}],
      [21, 'ping', {}],
    ]);
    expect(socket.messages.slice(-2).map(([, kind]) => kind)).toEqual([0, 1]);
  });
});

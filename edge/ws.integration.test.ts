import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WireCodec } from '../protocol/codec.js';
import { CloseCodes, MessageKinds, type WireMessage } from '../protocol/messages.js';
import { http, startTestNode, type TestNode } from './testing/harness.js';

let test: TestNode;
const codec = new WireCodec();

beforeAll(async () => {
  test = await startTestNode();
});

afterAll(async () => {
  await test?.stop();
});

function upgradeStatus(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(test.node.wsUrl, { headers });
    // Refused upgrades end in an error event once the request is dropped; it is expected.
    socket.on('error', () => {});
    socket.once('unexpected-response', (request, response) => {
      resolve(response.statusCode ?? 0);
      request.destroy();
    });
    socket.once('open', () => {
      resolve(101);
      socket.close();
    });
  });
}

function open(key: string): Promise<{ socket: WebSocket; messages: WireMessage[] }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(test.node.wsUrl, {
      headers: { authorization: `Bearer ${key}` },
      perMessageDeflate: false,
    });
    const messages: WireMessage[] = [];
    socket.on('message', (data: Buffer) => {
      const decoded = codec.decodeMessageFrame(data);
      if (decoded.ok) messages.push(...decoded.messages);
    });
    socket.once('open', () => resolve({ socket, messages }));
    socket.once('error', reject);
  });
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((done) => setTimeout(done, 5));
  }
}

describe('WebSocket endpoint', () => {
  it('answers the upgrade 401 without a valid key, and 101 with one', async () => {
    expect(await upgradeStatus({})).toBe(401);
    expect(await upgradeStatus({ authorization: 'Bearer not-a-valid-key-123' })).toBe(401);
    expect(await upgradeStatus({ authorization: `Bearer ${test.keys.reader}` })).toBe(101);
  });

  it('accepts requests pipelined behind hello in one frame', async () => {
    const { socket, messages } = await open(test.keys.reader);
    socket.send(
      codec.encodeRequests([
        [7, 'hello', { versions: [2, 1] }],
        [8, 'ping', {}],
        [9, 'getStock', { dc: 'no-such-dc', sku: 'no-such-sku' }],
      ]),
    );
    await until(() => messages.length === 3);
    expect(messages.map(([id, kind]) => [id, kind])).toEqual([
      [7, MessageKinds.OK],
      [8, MessageKinds.OK],
      [9, MessageKinds.ERROR],
    ]);
    expect(messages[0][2]).toMatchObject({ version: 2, role: 'reader' });
    socket.close();
  });

  it('cuts off a client that stops reading, and stays healthy', async () => {
    const { socket } = await open(test.keys.reader);
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    const engine = test.node.engine;
    const dc = engine.catalogueRecords().find((record) => record.type === 'dc');
    if (dc?.type !== 'dc') throw new Error('the demo network has no DC');
    const { lat, lng } = dc.dc.location;
    // Stop reading: the kernel buffers fill, then uWS's, then the node holds and refuses.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    let id = 0;
    const frame = () =>
      codec.encodeRequests(
        Array.from({ length: 1024 }, () => [++id, 'browse', { lat, lng, limit: 500 }]),
      );
    // Keep sending until the node gives up on this client (bounded): how many frames that takes
    // depends on how fast the node runs them, not on the test's timing.
    for (let index = 0; index < 150 && socket.readyState === WebSocket.OPEN; index++) {
      socket.send(frame());
      await new Promise((done) => setTimeout(done, 20));
    }
    const health = await http(test.node.port, '/readyz');
    expect(health.status).toBe(200);
    (socket as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(CloseCodes.POLICY_VIOLATION);
    const { socket: other, messages } = await open(test.keys.reader);
    other.send(codec.encodeRequests([[1, 'ping', {}]]));
    await until(() => messages.length === 1);
    other.close();
  });
});

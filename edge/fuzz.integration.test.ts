import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { describeSeed, Prng, seedFromEnv } from '../engine/testing/index.js';
import { isErrorCode } from '../protocol/codes.js';
import { createPackr, WireCodec } from '../protocol/codec.js';
import { CloseCodes, MessageKinds } from '../protocol/messages.js';
import { http, startTestNode, type TestNode } from './testing/harness.js';
import {
  hostileArgs,
  hostileRefArgs,
  hostileBody,
  hostileOp,
  toWireValue,
  violatingFrame,
} from './testing/hostile.js';

// 10,000 hostile inputs in all: frames with a valid envelope and bad requests (the connection
// stays open), frames that break the protocol (each closes its connection), and HTTP bodies.
const ENVELOPE_FRAMES = 5_000;
const VIOLATING_FRAMES = 2_000;
const REF_FRAMES = 2_000;
const HTTP_BODIES = 3_000;
const VIOLATION_PARALLELISM = 32;

const SEED = seedFromEnv();
const REPLAY = `replay with ${describeSeed(SEED)}`;
const HERE = { lat: 59.3293, lng: 18.0686 };

let test: TestNode;

type Snapshot = Map<string, string>;

/** Every stock cell of the catalogue, as the main thread's engine sees it. */
function snapshot(): Snapshot {
  const engine = test.node.engine;
  const cells: Snapshot = new Map();
  const records = engine.catalogueRecords();
  const dcs = records.flatMap((record) => (record.type === 'dc' ? [record.dc.id] : []));
  const skus = records.flatMap((record) => (record.type === 'sku' ? [record.sku.id] : []));
  for (const dc of dcs) {
    for (const sku of skus) {
      const result = engine.getStock(dc, sku);
      if (result.ok) cells.set(`${dc}/${sku}`, JSON.stringify(result.stock));
    }
  }
  return cells;
}

let before: Snapshot;

beforeAll(async () => {
  test = await startTestNode();
  const admin = test.keys.admin;
  const put = (path: string, json: unknown, method = 'PUT') =>
    http(test.node.port, path, { method, json, key: admin });
  await put('/v1/dcs/sto-1', { name: 'Stockholm', location: HERE, radiusKm: 5 });
  await put('/v1/skus/kanelbulle', { name: 'Kanelbulle' });
  await put('/v1/stock/receive', { dc: 'sto-1', sku: 'kanelbulle', qty: 40 }, 'POST');
  await http(test.node.port, '/v1/orders', {
    json: {
      orderId: 'held-1',
      location: HERE,
      mode: 'hold',
      lines: [{ sku: 'kanelbulle', qty: 2 }],
    },
    key: test.keys.orderer,
  });
  before = snapshot();
});

afterAll(async () => {
  await test?.stop();
});

function openSocket(key: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(test.node.wsUrl, {
      headers: { authorization: `Bearer ${key}` },
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
    });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * A socket that sends frames of requests and checks each answer as it comes: one per request,
 * a known code, never INTERNAL; `codes` counts them ('OK' for ok answers). Notices, and pushes
 * of subscriptions a hostile request may happen to open, are not answers.
 */
async function answeringSocket(key: string) {
  const packr = createPackr();
  const codec = new WireCodec();
  const socket = await openSocket(key);
  const unanswered = new Set<number>();
  const codes = new Map<string, number>();
  socket.on('message', (data: Buffer) => {
    const decoded = codec.decodeMessageFrame(data);
    expect(decoded.ok, REPLAY).toBe(true);
    if (!decoded.ok) return;
    for (const [id, kind, body] of decoded.messages) {
      if (kind === MessageKinds.NOTICE || kind === MessageKinds.PUSH) continue;
      expect(unanswered.delete(id), `${REPLAY}: unexpected answer ${id}`).toBe(true);
      const code = kind === MessageKinds.OK ? 'OK' : (body as { code: string }).code;
      expect(code === 'OK' || isErrorCode(code), `${REPLAY}: unknown code ${code}`).toBe(true);
      expect(code, REPLAY).not.toBe('INTERNAL');
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  });
  return {
    codes,
    send(requests: unknown[][]): void {
      for (const [id] of requests) unanswered.add(id as number);
      socket.send(packr.pack(toWireValue(requests)));
    },
    /** Every 200th frame, waits for the answers so far (what is in flight stays bounded). */
    async pace(frame: number): Promise<void> {
      if (frame % 200 !== 199) return;
      while (unanswered.size > 0) await new Promise((done) => setTimeout(done, 5));
    },
    /** Waits (30 s at most) for every answer; the connection is still open. */
    async drained(): Promise<void> {
      const deadline = Date.now() + 30_000;
      while (unanswered.size > 0 && Date.now() < deadline) {
        await new Promise((done) => setTimeout(done, 10));
      }
      expect(unanswered.size, REPLAY).toBe(0);
      expect(socket.readyState, REPLAY).toBe(WebSocket.OPEN);
    },
    close: () => socket.close(),
  };
}

describe(`fuzz (${describeSeed(SEED)})`, () => {
  it('answers every request of well-formed frames with hostile contents, and stays open', async () => {
    const prng = new Prng(SEED, 1);
    const session = await answeringSocket(test.keys.admin);
    let nextId = 1;
    for (let frame = 0; frame < ENVELOPE_FRAMES; frame++) {
      session.send(
        Array.from({ length: prng.range(1, 4) }, () => {
          const op = hostileOp(prng, ['hello']);
          return [nextId++, op, hostileArgs(prng, op)];
        }),
      );
      await session.pace(frame);
    }
    await session.drained();
    expect(session.codes.get('UNKNOWN_OP'), REPLAY).toBeGreaterThan(0);
    session.close();
  });

  it('answers hostile batch requests by SKU ref on version 2, and stays open', async () => {
    const prng = new Prng(SEED, 5);
    const session = await answeringSocket(test.keys.orderer);
    let nextId = 1;
    session.send([[nextId++, 'hello', { versions: [2] }]]);
    for (let frame = 0; frame < REF_FRAMES; frame++) {
      session.send(
        Array.from({ length: prng.range(1, 4) }, () => {
          const op = prng.chance(0.7) ? 'availabilityMany' : 'placeOrders';
          return [nextId++, op, hostileRefArgs(prng, op)];
        }),
      );
      await session.pace(frame);
    }
    await session.drained();
    // Both ways were taken: requests answered through the table, and refusals of bad refs.
    expect(session.codes.get('OK') ?? 0, REPLAY).toBeGreaterThan(REF_FRAMES / 40);
    expect(session.codes.get('BAD_FIELD') ?? 0, REPLAY).toBeGreaterThan(0);
    session.close();
  });

  it('closes only the connection that breaks the protocol, with a notice and a close code', async () => {
    const prng = new Prng(SEED, 2);
    const packr = createPackr();
    const codec = new WireCodec();
    const bystander = await openSocket(test.keys.reader);
    const closeCodes = new Map<number, number>();
    const expected = new Set<number>([
      CloseCodes.UNSUPPORTED_DATA,
      CloseCodes.INVALID_PAYLOAD,
      CloseCodes.POLICY_VIOLATION,
      CloseCodes.MESSAGE_TOO_BIG,
    ]);
    const frames = Array.from({ length: VIOLATING_FRAMES }, () => violatingFrame(prng, packr));
    // A few frames over the size limit (uWS closes those itself).
    for (let index = 0; index < 4; index++) frames[index * 97] = new Uint8Array(1024 * 1024 + 1);
    const sendOne = async (frame: Uint8Array | string): Promise<void> => {
      const socket = await openSocket(test.keys.orderer);
      const code = await new Promise<number>((resolve) => {
        socket.once('close', (closeCode: number) => resolve(closeCode));
        socket.on('message', (data: Buffer) => {
          const decoded = codec.decodeMessageFrame(data);
          expect(decoded.ok, REPLAY).toBe(true);
        });
        socket.send(frame);
      });
      closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
      expect(expected.has(code) || code === 1006, `${REPLAY}: close code ${code}`).toBe(true);
    };
    for (let start = 0; start < frames.length; start += VIOLATION_PARALLELISM) {
      await Promise.all(frames.slice(start, start + VIOLATION_PARALLELISM).map(sendOne));
    }
    expect(closeCodes.get(CloseCodes.INVALID_PAYLOAD), REPLAY).toBeGreaterThan(0);
    expect(bystander.readyState, REPLAY).toBe(WebSocket.OPEN);
    bystander.close();
  });

  it('refuses hostile HTTP bodies with 4xx, never 5xx', async () => {
    const prng = new Prng(SEED, 3);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const routes = [
      ['POST', '/v1/orders'],
      ['POST', '/v1/orders/check'],
      ['POST', '/v1/orders/fz-1/confirm'],
      ['POST', '/v1/orders/fz-1/cancel'],
      ['POST', '/v1/orders/fz-1/extend'],
      ['POST', '/v1/orders/fz-1/fulfil'],
      ['PUT', '/v1/orders/fz-1/lines'],
      ['PUT', '/v1/dcs/fz-dc'],
      ['PUT', '/v1/skus/fz-sku'],
      ['POST', '/v1/stock/receive'],
      ['POST', '/v1/stock/adjust'],
    ] as const;
    const statuses = new Map<number, number>();
    const send = (method: string, path: string, body: string | Buffer) =>
      new Promise<number>((resolve, reject) => {
        const payload = typeof body === 'string' ? Buffer.from(body) : body;
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: test.node.port,
            method,
            path,
            agent,
            headers: {
              authorization: `Bearer ${test.keys.admin}`,
              'content-type': 'application/json',
              'content-length': String(payload.length),
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    for (let start = 0; start < HTTP_BODIES; start += 16) {
      const batch = Array.from({ length: Math.min(16, HTTP_BODIES - start) }, () => {
        const [method, path] = prng.pick(routes);
        return send(method, path, hostileBody(prng));
      });
      for (const status of await Promise.all(batch)) {
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        expect(status, REPLAY).toBeLessThan(500);
      }
    }
    agent.destroy();
    expect(statuses.get(400), REPLAY).toBeGreaterThan(0);
  });

  it('leaves every stock cell unchanged and still answers correctly', async () => {
    const after = snapshot();
    for (const [cell, stock] of before) {
      expect(after.get(cell), `${REPLAY}: ${cell}`).toBe(stock);
    }
    const ready = await http(test.node.port, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.workersListening).toBe(2);
    const placed = await http(test.node.port, '/v1/orders', {
      json: {
        orderId: 'after-fuzz',
        location: HERE,
        mode: 'hold',
        lines: [{ sku: 'kanelbulle', qty: 3 }],
      },
      key: test.keys.orderer,
    });
    expect(placed.status).toBe(201);
    expect(placed.body.allocation).toEqual([{ sku: 'kanelbulle', dc: 'sto-1', qty: 3 }]);
    const stock = await http(test.node.port, '/v1/stock?dc=sto-1&sku=kanelbulle', {
      key: test.keys.reader,
    });
    expect(stock.body).toMatchObject({ onHand: 40, available: 35, reserved: 5 });
  });
});

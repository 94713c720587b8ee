/**
 * How a client tells "no DC delivers here" from "sold out" and from "unknown SKU", on every
 * way a real node answers availability: HTTP JSON, WebSocket version 1 (object answers),
 * version 2 (columns; the SDK's per-call answers and its batch view).
 *
 * "No DC delivers here" and "sold out" both give `available` 0, `etaMinutes` null and no DCs
 * for the SKU; `dcsInRange` (v2: `dcCounts`) is 0 only for the first. An unknown SKU adds
 * `unknown: true` (v2: `available` -1).
 */

import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WireCodec } from '../protocol/codec.js';
import { InventoryClient } from '../protocol/client/index.js';
import { MessageKinds, type WireMessage } from '../protocol/messages.js';
import { http, startTestNode, type TestNode } from './testing/harness.js';

/** Far from every DC of the test network (Bengaluru). */
const NOWHERE = { lat: -33.86, lng: 151.2 };
const SOLD_OUT = 'reach-sold-out';
const UNKNOWN = 'reach-unknown';

let node: TestNode;
let here: { lat: number; lng: number };
let stocked: string;
const clients: InventoryClient[] = [];

async function connect(key: string, batch = true): Promise<InventoryClient> {
  const client = await InventoryClient.connect(node.node.wsUrl, {
    apiKey: key,
    timeoutMs: 10_000,
    reconnect: false,
    batch,
  });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  node = await startTestNode();
  const dc = node.node.engine.catalogueRecords().find((record) => record.type === 'dc');
  if (dc?.type !== 'dc') throw new Error('the demo has DCs');
  here = dc.dc.location;
  const admin = await connect(node.keys.admin);
  await admin.upsertSku({ id: SOLD_OUT, name: 'Nobody has it' });
  stocked = 'reach-stocked';
  await admin.upsertSku({ id: stocked, name: 'One DC has it' });
  await admin.receive({ dc: dc.dc.id, sku: stocked, qty: 3 });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await node?.stop();
});

/** One availability request over a WebSocket that speaks version 1 only. */
async function availabilityV1(location: { lat: number; lng: number }, skus: string[]) {
  const codec = new WireCodec();
  const socket = new WebSocket(node.node.wsUrl, {
    headers: { authorization: `Bearer ${node.keys.reader}` },
    perMessageDeflate: false,
  });
  const messages: WireMessage[] = [];
  socket.on('message', (data: Buffer) => {
    const decoded = codec.decodeMessageFrame(data);
    if (decoded.ok) messages.push(...decoded.messages);
  });
  await new Promise((done, fail) => {
    socket.once('open', done);
    socket.once('error', fail);
  });
  socket.send(
    codec.encodeValue([
      [1, 'hello', { versions: [1] }],
      [2, 'availability', { ...location, skus }],
    ]),
  );
  const deadline = Date.now() + 10_000;
  while (!messages.some(([id]) => id === 2) && Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 10));
  }
  socket.close();
  expect(messages.find(([id]) => id === 1)?.[2]).toMatchObject({ version: 1 });
  const answer = messages.find(([id]) => id === 2);
  expect(answer?.[1]).toBe(MessageKinds.OK);
  return answer![2] as { skus: Record<string, unknown>; dcsInRange: number };
}

const EMPTY = { available: 0, etaMinutes: null, dcs: [] };

describe('availability tells no DC from sold out from unknown', () => {
  it('over HTTP JSON, with and without the breakdown', async () => {
    for (const breakdown of ['', '&breakdown=false']) {
      const skus = `${stocked},${SOLD_OUT},${UNKNOWN}`;
      const path = (at: { lat: number; lng: number }) =>
        `/v1/availability?lat=${at.lat}&lng=${at.lng}&skus=${skus}${breakdown}`;
      const near = await http(node.node.port, path(here), { key: node.keys.reader });
      const far = await http(node.node.port, path(NOWHERE), { key: node.keys.reader });
      expect(near.status, near.text).toBe(200);
      expect(near.body.dcsInRange).toBeGreaterThan(0);
      expect(near.body.skus[stocked].available).toBe(3);
      expect(near.body.skus[SOLD_OUT]).toEqual(EMPTY);
      expect(near.body.skus[UNKNOWN]).toEqual({ ...EMPTY, unknown: true });
      expect(far.status, far.text).toBe(200);
      expect(far.body).toEqual({
        skus: { [stocked]: EMPTY, [SOLD_OUT]: EMPTY, [UNKNOWN]: { ...EMPTY, unknown: true } },
        dcsInRange: 0,
      });
    }
  });

  it('over WebSocket version 1, as object answers', async () => {
    const near = await availabilityV1(here, [SOLD_OUT, UNKNOWN]);
    const far = await availabilityV1(NOWHERE, [SOLD_OUT]);
    expect(near.dcsInRange).toBeGreaterThan(0);
    expect(near.skus[SOLD_OUT]).toEqual(EMPTY);
    expect(near.skus[UNKNOWN]).toEqual({ ...EMPTY, unknown: true });
    expect(far).toEqual({ skus: { [SOLD_OUT]: EMPTY }, dcsInRange: 0 });
  });

  it('over version 2: the SDK per call (batched or not) and in the batch view', async () => {
    const reader = await connect(node.keys.reader);
    expect(reader.protocolVersion).toBe(2);
    const alone = await connect(node.keys.reader, false);
    for (const client of [reader, alone]) {
      // Two calls in one turn travel as one availabilityMany; an awaited one alone.
      const [near, far] = await Promise.all([
        client.availability({ ...here, skus: [SOLD_OUT, UNKNOWN] }),
        client.availability({ ...NOWHERE, skus: [SOLD_OUT] }),
      ]);
      const single = await client.availability({ ...NOWHERE, skus: [UNKNOWN] });
      expect(near.dcsInRange).toBeGreaterThan(0);
      expect(near.skus[SOLD_OUT]).toEqual(EMPTY);
      expect(near.skus[UNKNOWN]).toEqual({ ...EMPTY, unknown: true });
      expect(far).toEqual({ skus: { [SOLD_OUT]: EMPTY }, dcsInRange: 0 });
      expect(single).toEqual({ skus: { [UNKNOWN]: { ...EMPTY, unknown: true } }, dcsInRange: 0 });
    }
    const view = await reader.availabilityMany([
      { ...here, skus: [SOLD_OUT, UNKNOWN] },
      { ...NOWHERE, skus: [SOLD_OUT] },
    ]);
    expect(view.dcCount(0)).toBeGreaterThan(0);
    expect([view.available(0, 0), view.available(0, 1)]).toEqual([0, -1]);
    expect(view.dcCount(1)).toBe(0);
    expect(view.available(1, 0)).toBe(0);
  });
});

/**
 * Per-key limits on a real node with two worker threads: a key's request rate is one bucket
 * for the whole node (HTTP and WebSocket, every thread), refusals say when to retry, a batch
 * counts its entries, and a key's own connection cap from the key file holds.
 */

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryClient, InventoryError } from '../protocol/client/index.js';
import { parsePrometheusText } from './prometheus-text.js';
import { http, startTestNode, type TestNode } from './testing/harness.js';

const HERE = { lat: 59.3293, lng: 18.0686 };
const KEYS = {
  admin: 'admin-key-0123456789abcdef',
  http: 'http-key-0123456789abcdef',
  ws: 'ws-key-0123456789abcdef',
  mixed: 'mixed-key-0123456789abcdef',
  batch: 'batch-key-0123456789abcdef',
  capped: 'capped-key-0123456789abcdef',
};
const sha256 = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

let dir: string;
let test: TestNode;
const clients: InventoryClient[] = [];

async function connect(key: string): Promise<InventoryClient> {
  const client = await InventoryClient.connect(test.node.wsUrl, {
    apiKey: key,
    timeoutMs: 10_000,
    reconnect: false,
  });
  clients.push(client);
  return client;
}

async function metrics() {
  const answer = await http(test.node.port, '/metrics', { key: KEYS.admin });
  expect(answer.status).toBe(200);
  return parsePrometheusText(answer.text);
}

function sample(parsed: ReturnType<typeof parsePrometheusText>, name: string, key: string) {
  return parsed.samples.find((entry) => entry.name === name && entry.labels.key === key)?.value;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'inventory-key-limits-'));
  const file = join(dir, 'keys.json');
  writeFileSync(
    file,
    JSON.stringify({
      admin: [{ id: 'ops', key: KEYS.admin }],
      reader: [
        { id: 'http-shared', sha256: sha256(KEYS.http), requestsPerSecond: 1, burst: 20 },
        { id: 'ws-shared', key: KEYS.ws, requestsPerSecond: 1, burst: 30 },
        { id: 'mixed', key: KEYS.mixed, requestsPerSecond: 1, burst: 10 },
        { id: 'capped', key: KEYS.capped, connectionsMax: 2 },
      ],
      orderer: [{ id: 'batcher', key: KEYS.batch, requestsPerSecond: 1, burst: 20 }],
    }),
  );
  test = await startTestNode({ keysFile: file });
  const admin = await connect(KEYS.admin);
  await admin.upsertDc({ id: 'sto-1', name: 'Stockholm 1', location: HERE, radiusKm: 4 });
  await admin.upsertSku({ id: 'bun', name: 'Cinnamon bun', category: 'bakery' });
  await admin.receive({ dc: 'sto-1', sku: 'bun', qty: 1_000 });
  // Closed, so that the WebSocket connections per thread are only those a test opens.
  await admin.close();
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await test?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('per-key request rate', () => {
  it('is one bucket over all HTTP connections and threads; 429 with Retry-After', async () => {
    const startMs = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 80 }, () =>
        http(test.node.port, '/v1/stock?dc=sto-1&sku=bun', { key: KEYS.http }),
      ),
    );
    const elapsedS = (Date.now() - startMs) / 1000;
    const ok = answers.filter((answer) => answer.status === 200).length;
    const limited = answers.filter((answer) => answer.status === 429);
    expect(ok + limited.length).toBe(80);
    // 80 new connections land on both threads; a bucket per thread would let 40 through.
    expect(ok).toBeGreaterThanOrEqual(20);
    expect(ok).toBeLessThanOrEqual(20 + Math.ceil(elapsedS) + 1);
    for (const answer of limited) {
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.body.error).toMatchObject({ code: 'RATE_LIMITED' });
      expect(answer.body.error.retryAfterMs).toBeGreaterThan(0);
      expect(answer.body.error.retryAfterMs).toBeLessThanOrEqual(1_000);
    }
    const parsed = await metrics();
    expect(sample(parsed, 'inventory_key_rate_limited_total', 'http-shared')).toBe(limited.length);
  });

  it('is shared by WebSocket connections on both threads; refusals say retryAfterMs', async () => {
    const connections: InventoryClient[] = [];
    // Connections until both worker threads hold some (the kernel picks the thread).
    for (let attempt = 0; attempt < 24; attempt++) {
      connections.push(await connect(KEYS.ws));
      const parsed = await metrics();
      const threads = parsed.samples.filter(
        (entry) => entry.name === 'inventory_ws_connections' && entry.value > 0,
      );
      if (connections.length >= 4 && threads.length >= 2) break;
    }
    const parsed = await metrics();
    expect(sample(parsed, 'inventory_key_connections', 'ws-shared')).toBe(connections.length);
    const threads = parsed.samples.filter(
      (entry) => entry.name === 'inventory_ws_connections' && entry.value > 0,
    );
    expect(threads.length).toBe(2);
    const startMs = Date.now();
    const outcomes = await Promise.allSettled(
      connections.flatMap((client) => Array.from({ length: 20 }, () => client.ping())),
    );
    const elapsedS = (Date.now() - startMs) / 1000;
    const ok = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
    expect(ok).toBeGreaterThanOrEqual(30);
    expect(ok).toBeLessThanOrEqual(30 + Math.ceil(elapsedS) + 1);
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') continue;
      const error = outcome.reason as InventoryError;
      expect(error).toBeInstanceOf(InventoryError);
      expect(error.code).toBe('RATE_LIMITED');
      expect(error.retryable).toBe(true);
      expect(error.details.retryAfterMs).toBeGreaterThan(0);
    }
  });

  it('is the same bucket for HTTP and WebSocket', async () => {
    const client = await connect(KEYS.mixed);
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => client.ping()));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled').length).toBe(10);
    const answer = await http(test.node.port, '/v1/stock?dc=sto-1&sku=bun', { key: KEYS.mixed });
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('1');
  });

  it('counts a batch by its entries, and refuses one over what is left as a whole', async () => {
    const client = await connect(KEYS.batch);
    const orders = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, index) => ({
        orderId: `${prefix}-${index}`,
        location: HERE,
        lines: [{ sku: 'bun', qty: 1 }],
        mode: 'hold' as const,
      }));
    const first = await client.placeOrders(orders('b1', 15));
    expect(first.refusedCount).toBe(0);
    const error = await client.placeOrders(orders('b2', 10)).then(
      () => null,
      (reason: unknown) => reason as InventoryError,
    );
    expect(error?.code).toBe('RATE_LIMITED');
    // 5 tokens left, 10 wanted, 1 a second: about 5 s.
    expect(error?.details.retryAfterMs).toBeGreaterThan(3_000);
    expect(error?.details.retryAfterMs).toBeLessThanOrEqual(5_000);
    const { order } = await client.getOrder({ orderId: 'b1-0' });
    expect(order.status).toBe('held');
    const refused = await client.getOrder({ orderId: 'b2-0' }).then(
      () => null,
      (reason: unknown) => (reason as InventoryError).code,
    );
    expect(refused).toBe('ORDER_NOT_FOUND');
  });
});

describe('per-key connection cap from the key file', () => {
  it('refuses a connection over the key cap with 429, and frees its place on close', async () => {
    const first = await connect(KEYS.capped);
    await connect(KEYS.capped);
    const error = await connect(KEYS.capped).then(
      () => null,
      (reason: unknown) => reason as InventoryError,
    );
    expect(error?.code).toBe('CONNECT_FAILED');
    expect(error?.message).toContain('HTTP 429');
    await first.close();
    // The count is given back when the node sees the close.
    for (let attempt = 0; ; attempt++) {
      const parsed = await metrics();
      if (sample(parsed, 'inventory_key_connections', 'capped') === 1) break;
      expect(attempt).toBeLessThan(50);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const again = await connect(KEYS.capped);
    expect((await again.ping()).now).toBeGreaterThan(0);
  });
});

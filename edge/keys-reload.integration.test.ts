/**
 * Key files with ids and SHA-256 digests on a real node, and reloading them while it runs:
 * new keys work at once, removed keys stop working and their open WebSocket connections are
 * closed with an UNAUTHORIZED notice and 1008, kept keys and their connections carry on, a bad
 * file changes nothing, and SIGHUP does it for `npm start`. Logs and metrics name key ids,
 * never keys.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { InventoryClient, type InventoryError } from '../protocol/client/index.js';
import type { NoticeBody } from '../protocol/messages.js';
import { WireCodec } from '../protocol/codec.js';
import { createLogger } from './logger.js';
import { parsePrometheusText } from './prometheus-text.js';
import { http, makeDataDir, startTestNode, type TestNode } from './testing/harness.js';

const HERE = { lat: 45.4642, lng: 9.19 };
const ROOT = new URL('..', import.meta.url).pathname;
const KEYS = {
  admin: 'admin-key-0123456789abcdef',
  a: 'service-a-key-0123456789',
  b: 'service-b-key-0123456789',
  c: 'service-c-key-0123456789',
};
const sha256 = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

let dir: string;
let file: string;
let test: TestNode;
const logLines: string[] = [];
const clients: InventoryClient[] = [];

function writeKeys(value: unknown): void {
  writeFileSync(file, JSON.stringify(value));
}

async function connect(key: string, options: { onNotice?: (notice: NoticeBody) => void } = {}) {
  const client = await InventoryClient.connect(test.node.wsUrl, {
    apiKey: key,
    timeoutMs: 10_000,
    reconnect: { retries: 2, baseDelayMs: 10, maxDelayMs: 20 },
    ...options,
  });
  clients.push(client);
  return client;
}

async function stockStatus(key: string): Promise<number> {
  return (await http(test.node.port, '/v1/stock?dc=mil-1&sku=espresso', { key })).status;
}

async function keySeries(name: string): Promise<Record<string, number>> {
  const answer = await http(test.node.port, '/metrics', { key: KEYS.admin });
  const series: Record<string, number> = {};
  for (const sample of parsePrometheusText(answer.text).samples) {
    if (sample.name === name) series[sample.labels.key] = sample.value;
  }
  return series;
}

/** A raw WebSocket with key `key`: its close code and the notices it received. */
function rawSocket(key: string) {
  const codec = new WireCodec();
  const socket = new WebSocket(test.node.wsUrl, { headers: { authorization: `Bearer ${key}` } });
  const notices: unknown[] = [];
  socket.on('message', (data: Buffer) => {
    const decoded = codec.decodeMessageFrame(data);
    if (decoded.ok) for (const message of decoded.messages) notices.push(message[2]);
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, notices, closed, opened };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'inventory-keys-'));
  file = join(dir, 'keys.json');
  writeKeys({
    admin: [{ id: 'ops', sha256: sha256(KEYS.admin) }],
    orderer: [
      { id: 'svc-a', sha256: sha256(KEYS.a) },
      { id: 'svc-b', sha256: sha256(KEYS.b) },
    ],
  });
  test = await startTestNode({
    keysFile: file,
    logger: createLogger({
      level: 'info',
      clock: Date.now,
      write: (line) => {
        logLines.push(line);
      },
    }),
  });
  const admin = await connect(KEYS.admin);
  await admin.upsertDc({ id: 'mil-1', name: 'Milano 1', location: HERE, radiusKm: 4 });
  await admin.upsertSku({ id: 'espresso', name: 'Espresso', category: 'coffee' });
  await admin.receive({ dc: 'mil-1', sku: 'espresso', qty: 100 });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
  await test?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a key file of digests', () => {
  it('serves keys the file holds only as digests, named by id', async () => {
    const orderer = await connect(KEYS.a);
    expect(orderer.server.role).toBe('orderer');
    const { order } = await orderer.placeOrder({
      orderId: 'k-1',
      location: HERE,
      lines: [{ sku: 'espresso', qty: 1 }],
      mode: 'hold',
    });
    expect(order.status).toBe('held');
    expect(await stockStatus(KEYS.b)).toBe(200);
    expect(await stockStatus('not-a-key-0123456789')).toBe(401);
    expect(await keySeries('inventory_key_connections')).toMatchObject({ 'svc-a': 1, ops: 1 });
    await orderer.close();
  });
});

describe('reloading the keys', () => {
  it('serves new keys, drops removed ones, closes their connections, keeps the rest', async () => {
    const kept = await connect(KEYS.b);
    const notices: NoticeBody[] = [];
    const removed = await connect(KEYS.a, { onNotice: (notice) => notices.push(notice) });
    const raws = [rawSocket(KEYS.a), rawSocket(KEYS.a), rawSocket(KEYS.a)];
    await Promise.all(raws.map((raw) => raw.opened));
    expect((await keySeries('inventory_key_connections'))['svc-a']).toBe(4);
    writeKeys({
      admin: [{ id: 'ops', sha256: sha256(KEYS.admin) }],
      orderer: [
        { id: 'svc-b', sha256: sha256(KEYS.b) },
        { id: 'svc-c', sha256: sha256(KEYS.c), requestsPerSecond: 1_000 },
      ],
    });
    const report = await test.node.reloadKeys();
    expect(report).toMatchObject({
      ok: true,
      generation: 2,
      added: ['svc-c'],
      removed: ['svc-a'],
      kept: 2,
      closed: 4,
    });
    for (const raw of raws) {
      expect(await raw.closed).toBe(1008);
      expect(raw.notices).toContainEqual(expect.objectContaining({ code: 'UNAUTHORIZED' }));
    }
    // The SDK client got the notice; its reconnect is refused (401), so it ends for good: a
    // call made while it reconnects fails UNAUTHORIZED, one made once it has ended CLOSED.
    const failure = await removed.ping().then(
      () => null,
      (error: unknown) => error as InventoryError,
    );
    expect(notices.map((notice) => notice.code)).toContain('UNAUTHORIZED');
    expect(['UNAUTHORIZED', 'CLOSED']).toContain(failure?.code);
    for (let waited = 0; waited < 5_000 && removed.state !== 'closed'; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(removed.state).toBe('closed');
    expect(await stockStatus(KEYS.a)).toBe(401);
    expect(await stockStatus(KEYS.c)).toBe(200);
    expect(await stockStatus(KEYS.b)).toBe(200);
    expect((await kept.ping()).now).toBeGreaterThan(0);
    const fresh = await connect(KEYS.c);
    expect(fresh.server.role).toBe('orderer');
    const series = await keySeries('inventory_key_connections');
    expect(series['svc-a']).toBeUndefined();
    expect(series).toMatchObject({ 'svc-b': 1, 'svc-c': 1 });
    const error = await connect(KEYS.a).then(
      () => null,
      (reason: unknown) => reason as InventoryError,
    );
    expect(error?.code).toBe('UNAUTHORIZED');
  });

  it('changes nothing when the new file does not parse', async () => {
    writeFileSync(file, '{"orderer": [{"id": "svc-b"}]');
    const report = await test.node.reloadKeys();
    expect(report.ok).toBe(false);
    expect(await stockStatus(KEYS.b)).toBe(200);
    expect(await stockStatus(KEYS.c)).toBe(200);
    writeKeys({
      orderer: [
        { id: 'dup', key: KEYS.b },
        { id: 'dup', key: KEYS.c },
      ],
    });
    expect((await test.node.reloadKeys()).ok).toBe(false);
    expect(await stockStatus(KEYS.c)).toBe(200);
  });

  it('logs key ids and never a key', () => {
    const text = logLines.join('');
    expect(text).toContain('"keys reloaded"');
    expect(text).toContain('svc-c');
    for (const key of Object.values(KEYS)) expect(text).not.toContain(key);
  });
});

describe('SIGHUP', () => {
  let child: ChildProcess | null = null;

  afterAll(async () => {
    if (child !== null && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child!.once('exit', resolve));
    }
  });

  it('reloads <data>/keys.json of a running `npm start`', async () => {
    const dataDir = makeDataDir();
    try {
      const started = spawn(
        process.execPath,
        [
          join(ROOT, 'dist/edge/main.js'),
          ...['--host', '127.0.0.1', '--port', '0', '--threads', '2'],
          ...['--data', dataDir, '--no-demo', '--fsync', 'none', '--log-level', 'info'],
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = started;
      let stdout = '';
      let stderr = '';
      started.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      started.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setInterval(() => {
          const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
          if (match !== null) {
            clearInterval(timer);
            resolve(Number(match[1]));
          }
        }, 20);
        started.once('exit', (code) => {
          clearInterval(timer);
          reject(new Error(`the node exited (${code}): ${stderr}`));
        });
      });
      const path = join(dataDir, 'keys.json');
      const demo = JSON.parse(readFileSync(path, 'utf8'));
      const status = async (key: string) =>
        (await http(port, '/v1/stock?dc=x&sku=y', { key })).status;
      expect(await status(demo.reader)).toBe(404);
      writeFileSync(
        path,
        JSON.stringify({
          admin: demo.admin,
          reader: [{ id: 'dashboard', sha256: sha256(KEYS.c) }],
        }),
      );
      started.kill('SIGHUP');
      for (let attempt = 0; (await status(KEYS.c)) !== 404; attempt++) {
        expect(attempt, stderr).toBeLessThan(200);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(await status(demo.reader)).toBe(401);
      expect(await status(demo.admin)).toBe(404);
      // The workers take the new keys before the main thread logs the reload, and the line
      // then crosses a pipe: wait for it (bounded) rather than read stderr at once.
      for (let attempt = 0; !stderr.includes('"keys reloaded"'); attempt++) {
        expect(attempt, stderr).toBeLessThan(200);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(stderr).toContain('dashboard');
      expect(stderr).not.toContain(demo.reader);
      started.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => {
        if (started.exitCode !== null) resolve(started.exitCode);
        else started.once('exit', (exitCode) => resolve(exitCode));
      });
      expect(code).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

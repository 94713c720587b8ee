/**
 * A node owns its data directory and its port, as separate processes see it: a second node on
 * the same data directory or on a port in use is refused at start with its code and exit code,
 * and the first node keeps serving with nothing lost.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type NodeProcess, repoRoot, startNodeProcess } from './node-process.js';
import { NodeLogError } from '../edge/wal-port.js';
import { startTestNode } from '../edge/testing/harness.js';

const MAIN = join(repoRoot(), 'dist', 'edge', 'main.js');
const SMALL_DEMO = ['--demo-dcs', '6', '--demo-skus', '60'];
/** A refused node exits at once; this bounds the wait if it does not. */
const REFUSED_EXIT_MS_MAX = 30_000;

const started: NodeProcess[] = [];
const temporary: string[] = [];
afterEach(async () => {
  for (const node of started.splice(0)) await node.stop();
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-owner-'));
  temporary.push(dir);
  return dir;
}

/** Runs `main.js` with `args` and resolves with its exit code and output once it exits. */
function runRefused(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [MAIN, '--host', '127.0.0.1', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`the second node did not exit:\n${output}`));
    }, REFUSED_EXIT_MS_MAX);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

async function post(url: string, key: string, path: string, body: unknown, method = 'POST') {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const LOCATION = { lat: 12.9352, lng: 77.6245 };

describe('a node owns its data directory and its port', () => {
  it('refuses a second node on the same data directory; nothing is lost', async () => {
    const dataDir = tempDir();
    const first = await startNodeProcess({
      threads: 1,
      fsync: 'fsync',
      cpus: null,
      orderCapacity: null,
      extraArgs: SMALL_DEMO,
      dataDir,
    });
    started.push(first);
    const refused = await runRefused(['--port', '0', '--data', dataDir, ...SMALL_DEMO]);
    expect(refused.code).toBe(75);
    expect(refused.output).toContain('DATA_DIR_LOCKED');
    expect(refused.output).toContain(`process ${first.pid}`);
    expect(refused.output).not.toContain('node ready');

    // The first node still serves, and what it acknowledges survives its restart.
    const admin = first.keys.admin;
    const dc = { name: 'Owner test', location: LOCATION, radiusKm: 5 };
    expect((await post(first.url, admin, '/v1/dcs/own-dc', dc, 'PUT')).status).toBeLessThan(300);
    const sku = { name: 'Owner test item' };
    expect((await post(first.url, admin, '/v1/skus/own-sku', sku, 'PUT')).status).toBeLessThan(300);
    const received = { dc: 'own-dc', sku: 'own-sku', qty: 1 };
    expect((await post(first.url, admin, '/v1/stock/receive', received)).status).toBe(200);
    const order = await post(first.url, first.keys.orderer, '/v1/orders', {
      orderId: 'owned-1',
      location: LOCATION,
      lines: [{ sku: 'own-sku', qty: 1 }],
      mode: 'commit',
    });
    expect(order.status).toBe(201);
    await first.stop();
    started.length = 0;
    const again = await startNodeProcess({
      threads: 1,
      fsync: 'fsync',
      cpus: null,
      orderCapacity: null,
      extraArgs: SMALL_DEMO,
      dataDir,
    });
    started.push(again);
    const looked = await fetch(`${again.url}/v1/orders/owned-1`, {
      headers: { authorization: `Bearer ${again.keys.reader}` },
    });
    expect(looked.status).toBe(200);
    expect(((await looked.json()) as { status: string }).status).toBe('confirmed');
  });

  it('refuses a second node on a port another process listens on', async () => {
    const first = await startNodeProcess({
      threads: 2,
      fsync: 'write',
      cpus: null,
      orderCapacity: null,
      extraArgs: SMALL_DEMO,
    });
    started.push(first);
    const port = new URL(first.url).port;
    const refused = await runRefused(['--port', port, '--data', tempDir(), ...SMALL_DEMO]);
    expect(refused.code).toBe(75);
    expect(refused.output).toContain('PORT_IN_USE');
    // Every request still reaches the first node: its key is accepted on every connection.
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${first.url}/v1/orders/none-${i}`, {
        headers: { authorization: `Bearer ${first.keys.reader}`, connection: 'close' },
      });
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'ORDER_NOT_FOUND',
      );
    }
  });

  it('refuses a second in-process node on the same data directory', async () => {
    const node = await startTestNode();
    try {
      await expect(startTestNode({ dataDir: node.dataDir })).rejects.toSatisfy(
        (error: unknown) => error instanceof NodeLogError && error.code === 'DATA_DIR_LOCKED',
      );
    } finally {
      await node.stop();
    }
  });
});

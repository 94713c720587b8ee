import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InventoryClient,
  type InventoryError,
  type OrderResult,
} from '../protocol/client/index.js';
import { http, makeDataDir, startTestNode, type TestNode } from './testing/harness.js';

const MAIN = fileURLToPath(new URL('../dist/edge/main.js', import.meta.url));
const HERE = { lat: 40.4168, lng: -3.7038 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function seedMadrid(test: TestNode, units: number): Promise<void> {
  const admin = await InventoryClient.connect(test.node.wsUrl, {
    apiKey: test.keys.admin,
    reconnect: false,
  });
  await admin.upsertDc({ id: 'mad-1', name: 'Madrid 1', location: HERE, radiusKm: 5 });
  await admin.upsertSku({ id: 'churros', name: 'Churros' });
  await admin.receive({ dc: 'mad-1', sku: 'churros', qty: units });
  await admin.close();
}

describe('restart and reconnect', () => {
  it('answers a retried order after an SDK reconnect to a restarted node, reserving nothing twice', async () => {
    const dataDir = makeDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let test = await startTestNode({ dataDir });
    cleanups.push(() => test.stop(true));
    await seedMadrid(test, 10);
    const port = test.node.port;
    const client = await InventoryClient.connect(test.node.wsUrl, {
      apiKey: test.keys.orderer,
      reconnect: { retries: 100, baseDelayMs: 20, maxDelayMs: 100 },
    });
    cleanups.push(() => client.close());
    const args = {
      orderId: 'restart-1',
      location: HERE,
      mode: 'hold' as const,
      ttlSeconds: 600,
      lines: [{ sku: 'churros', qty: 3 }],
    };
    const first = await client.placeOrder(args);
    expect(first.created).toBe(true);

    await test.stop(true);
    test = await startTestNode({ dataDir, port });
    expect(test.node.seeded).toBe(false);

    const retry = await client.placeOrder(args);
    expect(retry.created).toBe(false);
    expect(retry.order).toEqual(first.order);
    const stock = await client.getStock({ dc: 'mad-1', sku: 'churros' });
    expect(stock.stock).toMatchObject({ onHand: 10, available: 7, reserved: 3 });
  });

  it('answers a retried order id with the order as it is now, over WebSocket and HTTP', async () => {
    const dataDir = makeDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const test = await startTestNode({ dataDir });
    cleanups.push(() => test.stop(true));
    await seedMadrid(test, 10);
    const client = await InventoryClient.connect(test.node.wsUrl, {
      apiKey: test.keys.orderer,
      reconnect: false,
    });
    cleanups.push(() => client.close());
    const args = {
      orderId: 'retry-now',
      location: HERE,
      mode: 'hold' as const,
      ttlSeconds: 600,
      lines: [{ sku: 'churros', qty: 2 }],
    };
    const first = await client.placeOrder(args);
    expect(first.order.status).toBe('held');
    await client.confirm({ orderId: 'retry-now' });
    // The retry learns what became of its order (here: confirmed), and takes nothing again.
    const retry = await client.placeOrder(args);
    expect(retry.created).toBe(false);
    expect(retry.order.status).toBe('confirmed');
    expect(retry.order.allocation).toEqual(first.order.allocation);
    const response = await fetch(`${test.node.url}/v1/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${test.keys.orderer}`, 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ orderId: 'retry-now', status: 'confirmed' });
    const stock = await client.getStock({ dc: 'mad-1', sku: 'churros' });
    expect(stock.stock).toMatchObject({ onHand: 10, available: 8, reserved: 2 });
  });
});

describe('graceful shutdown', () => {
  it('finishes in-flight requests, and every acknowledged order survives a restart', async () => {
    const dataDir = makeDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let test = await startTestNode({ dataDir, fsync: 'fsync' });
    cleanups.push(() => test.stop(true));
    await seedMadrid(test, 100_000);
    const client = await InventoryClient.connect(test.node.wsUrl, {
      apiKey: test.keys.orderer,
      reconnect: false,
    });
    cleanups.push(() => client.close());
    const calls: Promise<OrderResult>[] = [];
    for (let index = 0; index < 3_000; index++) {
      calls.push(
        client.placeOrder({
          orderId: `shutdown-${index}`,
          location: HERE,
          mode: 'commit',
          lines: [{ sku: 'churros', qty: 1 }],
        }),
      );
    }
    await calls[0];
    const closing = test.stop(true);
    const settled = await Promise.allSettled(calls);
    await closing;
    const acknowledged: string[] = [];
    for (const [index, outcome] of settled.entries()) {
      if (outcome.status === 'fulfilled') acknowledged.push(`shutdown-${index}`);
      else {
        expect(['SHUTTING_DOWN', 'CONNECTION_LOST', 'CLOSED']).toContain(
          (outcome.reason as InventoryError).code,
        );
      }
    }
    expect(acknowledged.length).toBeGreaterThan(0);

    test = await startTestNode({ dataDir });
    for (const orderId of acknowledged) {
      const found = test.node.engine.getOrder(orderId);
      expect(found.ok, orderId).toBe(true);
    }
    const stock = test.node.engine.getStock('mad-1', 'churros');
    expect(stock.ok && stock.stock.reserved).toBeGreaterThanOrEqual(acknowledged.length);
  });

  it('refuses new work with SHUTTING_DOWN and reports not ready while draining', async () => {
    const test = await startTestNode();
    cleanups.push(() => test.stop());
    const closing = test.node.close();
    const ready = await http(test.node.port, '/readyz').catch(() => null);
    if (ready !== null) {
      expect(ready.status).toBe(503);
      expect(ready.body.error.code).toBe('SHUTTING_DOWN');
    }
    await closing;
  });
});

/** Runs `node dist/edge/main.js` and collects its output. */
function runMain(args: string[], env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const output = () => ({ stdout, stderr });
  const waitFor = async (pattern: RegExp, timeoutMs = 20_000): Promise<void> => {
    const start = Date.now();
    while (!pattern.test(stdout)) {
      if (child.exitCode !== null) throw new Error(`exited early:\n${stdout}\n${stderr}`);
      if (Date.now() - start > timeoutMs) throw new Error(`timed out:\n${stdout}\n${stderr}`);
      await new Promise((done) => setTimeout(done, 20));
    }
  };
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, exited, output, waitFor };
}

describe('npm start (edge/main.js)', () => {
  it('generates the demo and its keys once, serves them, and stops on SIGTERM and SIGINT', async () => {
    const dataDir = makeDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const args = ['--port', String(port), '--threads', '2', '--data', dataDir, '--fsync', 'commit'];
    const demo = ['--demo-dcs', '5', '--demo-skus', '40', '--log-level', 'info'];

    const first = runMain([...args, ...demo]);
    await first.waitFor(/Try it:/);
    const keys = JSON.parse(readFileSync(`${dataDir}/keys.json`, 'utf8'));
    expect(statSync(`${dataDir}/keys.json`).mode & 0o777).toBe(0o600);
    expect(first.output().stdout).toContain(keys.reader);
    expect(first.output().stderr).toContain('generated the demo network');
    const command = /"(http:\/\/127\.0\.0\.1:\d+\/v1\/availability\?[^"]+)"/.exec(
      first.output().stdout,
    );
    expect(command).not.toBeNull();
    const answer = await fetch(command![1], {
      headers: { authorization: `Bearer ${keys.reader}` },
    });
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { skus: Record<string, { available: number }> };
    expect(Object.keys(body.skus)).toHaveLength(3);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = runMain([...args, ...demo]);
    await second.waitFor(/Try it:/);
    expect(second.output().stderr).not.toContain('generated the demo network');
    expect(second.output().stderr).toContain('recovered');
    expect(second.output().stdout).toContain(keys.admin);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('stops at once on a second signal, without a native abort, and recovers after', async () => {
    const dataDir = makeDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const args = ['--port', String(await freePort()), '--data', dataDir, '--threads', '2'];
    const demo = ['--demo-dcs', '5', '--demo-skus', '40'];
    const first = runMain([...args, ...demo]);
    await first.waitFor(/Try it:/);
    const signalled = new Promise<NodeJS.Signals | null>((done) =>
      first.child.once('exit', (_code, signal) => done(signal)),
    );
    first.child.kill('SIGINT');
    for (let waited = 0; waited < 10_000; waited += 2) {
      if (first.output().stderr.includes('SIGINT: shutting down')) break;
      await new Promise((done) => setTimeout(done, 2));
    }
    first.child.kill('SIGINT');
    // Ended by the signal itself (status 130 in a shell), not by an abort (SIGABRT).
    expect(await signalled).toBe('SIGINT');
    expect(first.output().stderr).toContain('SIGINT again: stopping at once');
    expect(first.output().stderr).not.toContain('Assertion failed');
    const second = runMain([...args, ...demo]);
    await second.waitFor(/Try it:/);
    expect(second.output().stderr).toContain('recovered');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('handles signals that arrive while it is still starting: SIGHUP reloads, SIGTERM stops', async () => {
    const dataDir = makeDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const args = ['--port', String(await freePort()), '--data', dataDir, '--threads', '2'];
    const run = runMain([...args, '--demo-dcs', '5', '--demo-skus', '40']);
    // The log has recovered; the workers have not started and nothing is announced yet.
    for (let waited = 0; waited < 20_000; waited += 2) {
      if (run.output().stderr.includes('"recovered"')) break;
      await new Promise((done) => setTimeout(done, 2));
    }
    expect(run.output().stdout).not.toContain('Try it:');
    run.child.kill('SIGHUP');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.output().stderr).toContain('SIGHUP: reloading the API keys');
    expect(run.output().stderr).toContain('SIGTERM: shutting down');
  });

  it('commits the order table at start with --commit-order-table, and not without', async () => {
    const rssBytes = async (commit: boolean): Promise<number> => {
      const dataDir = makeDataDir();
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const args = ['--port', String(await freePort()), '--data', dataDir, '--threads', '1'];
      const capacity = [
        '--order-capacity',
        String(1 << 20),
        '--demo-dcs',
        '3',
        '--demo-skus',
        '20',
      ];
      const run = runMain([...args, ...capacity, ...(commit ? ['--commit-order-table'] : [])]);
      await run.waitFor(/Try it:/);
      const status = readFileSync(`/proc/${run.child.pid}/status`, 'utf8');
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.output().stderr.includes('order table committed')).toBe(commit);
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    };
    // 2^20 slots hold 128 MiB of records and 8 MiB of hashes and stamps; a node without the
    // flag has touched almost none of it (the demo places no order).
    const lazy = await rssBytes(false);
    const committed = await rssBytes(true);
    expect(committed - lazy).toBeGreaterThan(100 * 1024 * 1024);
  });

  it('refuses to start on the JavaScript fallback of uWebSockets.js', async () => {
    const dataDir = makeDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const run = runMain(['--port', String(await freePort()), '--data', dataDir], {
      UWS_USE_FALLBACK: '1',
    });
    expect(await run.exited).toBe(64);
    expect(run.output().stderr).toContain('--allow-js-fallback');
  });

  it('refuses bad flags with usage', async () => {
    const run = runMain(['--fsync', 'sometimes']);
    expect(await run.exited).toBe(64);
    expect(run.output().stderr).toContain('--fsync must be one of');
  });
});

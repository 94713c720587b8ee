/**
 * A real node's capacities over HTTP, across restarts on one data directory:
 *
 * - with --dc-capacity 300 (and --no-demo) it takes 300 DCs and refuses the 301st with
 *   CAPACITY_EXHAUSTED, naming the flag;
 * - restarted without the flags it keeps the recorded capacities (no CONFIG_MISMATCH);
 * - restarted with larger ones it grows, with every stock counter and order as it was;
 * - restarted with a smaller one it is refused, in process (NodeLogError) and as a program
 *   (`node dist/edge/main.js`, exit 78 and the code on stderr).
 */

import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCli } from './config.js';
import { http, makeDataDir, startTestNode, type TestNode } from './testing/harness.js';
import { NodeLogError } from './wal-port.js';

const ROOT = resolve(import.meta.dirname, '..');
const DCS = 300;
/** DCs along a meridian, 2.2 km apart: a customer at a DC is served by it and its neighbours. */
function locationOf(index: number) {
  return { lat: 50 + index * 0.02, lng: 10.75 };
}
/** Requests sent at once while creating the DCs. */
const PARALLEL = 25;

const dataDir = makeDataDir();
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** A node on the shared directory with these flags (and a small order table when new). */
async function start(flags: string[], orderCapacity?: number): Promise<TestNode> {
  const parsed = parseCli(['--no-demo', ...flags], {});
  if (parsed.help) throw new Error('help');
  const engineConfig = { ...parsed.options.engineConfig };
  if (orderCapacity !== undefined) engineConfig.orderCapacity = orderCapacity;
  return startTestNode({ dataDir, demo: null, engineConfig });
}

function putDc(node: TestNode, index: number) {
  return http(node.node.port, `/v1/dcs/dc-${index}`, {
    method: 'PUT',
    key: node.keys.admin,
    json: { name: `DC ${index}`, location: locationOf(index), radiusKm: 3 },
  });
}

async function stockOf(node: TestNode, dc: string, sku: string) {
  const answer = await http(node.node.port, `/v1/stock?dc=${dc}&sku=${sku}`, {
    key: node.keys.reader,
  });
  expect(answer.status, answer.text).toBe(200);
  return answer.body as { onHand: number; available: number; reserved: number };
}

async function orderOf(node: TestNode, orderId: string) {
  const answer = await http(node.node.port, `/v1/orders/${orderId}`, { key: node.keys.reader });
  expect(answer.status, answer.text).toBe(200);
  return answer.body as { status: string; allocation: { sku: string; dc: string; qty: number }[] };
}

/** What the test compares across restarts: two cells and two orders. */
async function observed(node: TestNode) {
  return {
    milk: await stockOf(node, 'dc-7', 'milk'),
    tea: await stockOf(node, 'dc-299', 'tea'),
    held: await orderOf(node, 'o-held'),
    committed: await orderOf(node, 'o-commit'),
  };
}

function runMain(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve(ROOT, 'dist', 'edge', 'main.js'), ...args],
      { cwd: ROOT, timeout: 60_000 },
      (error, _stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        done({ code, stderr });
      },
    );
  });
}

describe('capacities a real node is configured with', () => {
  let before: Awaited<ReturnType<typeof observed>>;

  it('takes 300 DCs with --dc-capacity 300 and refuses the 301st, naming the flag', {
    timeout: 120_000,
  }, async () => {
    const node = await start(['--dc-capacity', String(DCS), '--sku-capacity', '20'], 1 << 12);
    try {
      expect(node.node.engine.config).toMatchObject({ dcCapacity: DCS, skuCapacity: 20 });
      for (let first = 0; first < DCS; first += PARALLEL) {
        const batch = Array.from({ length: PARALLEL }, (_, at) => putDc(node, first + at));
        for (const answer of await Promise.all(batch)) expect(answer.status, answer.text).toBe(201);
      }
      const over = await putDc(node, DCS);
      expect(over.status).toBe(503);
      expect(over.body.error.code).toBe('CAPACITY_EXHAUSTED');
      expect(over.body.error.message).toMatch(/capacity of 300 DCs.*--dc-capacity/);
      const admin = node.keys.admin;
      for (const sku of ['milk', 'tea']) {
        const put = await http(node.node.port, `/v1/skus/${sku}`, {
          method: 'PUT',
          key: admin,
          json: { name: sku },
        });
        expect(put.status, put.text).toBe(201);
      }
      for (const [dc, sku, qty] of [
        ['dc-7', 'milk', 9],
        ['dc-299', 'tea', 5],
      ] as const) {
        const receipt = await http(node.node.port, '/v1/stock/receive', {
          key: admin,
          json: { dc, sku, qty },
        });
        expect(receipt.status, receipt.text).toBe(200);
      }
      // A hold at the seventh DC, a commit at the last: cells far apart in the counters.
      const orders = [
        { orderId: 'o-held', mode: 'hold', ttlSeconds: 3_600, sku: 'milk', dc: 7 },
        { orderId: 'o-commit', mode: 'commit', sku: 'tea', dc: 299 },
      ];
      for (const { sku, dc, ...order } of orders) {
        const placed = await http(node.node.port, '/v1/orders', {
          key: node.keys.orderer,
          json: { ...order, location: locationOf(dc), lines: [{ sku, qty: 2 }] },
        });
        expect(placed.status, placed.text).toBe(201);
      }
      before = await observed(node);
      expect(before.milk).toMatchObject({ onHand: 9, available: 7, reserved: 2 });
      expect(before.committed.allocation).toEqual([{ sku: 'tea', dc: 'dc-299', qty: 2 }]);
    } finally {
      await node.stop(true);
    }
  });

  it('keeps the recorded capacities when restarted without the flags', async () => {
    const node = await start([]);
    try {
      expect(node.node.engine.config).toMatchObject({
        dcCapacity: DCS,
        skuCapacity: 20,
        orderCapacity: 1 << 12,
      });
      expect(await observed(node)).toEqual(before);
      expect((await putDc(node, DCS)).status).toBe(503);
    } finally {
      await node.stop(true);
    }
  });

  it('grows when restarted with larger capacities, keeping stock and orders', async () => {
    const node = await start(['--dc-capacity', '600', '--sku-capacity', '5000']);
    try {
      expect(node.node.engine.config).toMatchObject({ dcCapacity: 600, skuCapacity: 5_000 });
      expect(await observed(node)).toEqual(before);
      expect((await putDc(node, DCS)).status).toBe(201);
      // The orders' units sit where they were: confirming and cancelling move the right cells.
      const key = node.keys.orderer;
      expect(
        (await http(node.node.port, '/v1/orders/o-held/confirm', { key, raw: '' })).status,
      ).toBe(200);
      expect(
        (await http(node.node.port, '/v1/orders/o-commit/cancel', { key, raw: '' })).status,
      ).toBe(200);
      expect(await stockOf(node, 'dc-7', 'milk')).toMatchObject({ onHand: 9, reserved: 2 });
      expect(await stockOf(node, 'dc-299', 'tea')).toMatchObject({
        onHand: 5,
        available: 5,
        reserved: 0,
      });
    } finally {
      await node.stop(true);
    }
  });

  it('refuses a smaller capacity, in process and as a program (exit 78)', async () => {
    const refused = await start(['--dc-capacity', '100']).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(NodeLogError);
    expect(refused).toMatchObject({ code: 'CONFIG_TOO_SMALL', exitCode: 78 });
    expect((refused as Error).message).toMatch(/dcCapacity \(--dc-capacity\) is 100.*600/);
    const program = await runMain([
      '--data',
      dataDir,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--no-demo',
      '--log-level',
      'silent',
      '--sku-capacity',
      '4000',
    ]);
    expect(program.code, program.stderr).toBe(78);
    expect(program.stderr).toMatch(/CONFIG_TOO_SMALL: skuCapacity \(--sku-capacity\) is 4000/);
    // Refusals changed nothing: the node starts again as it was.
    const node = await start([]);
    expect(node.node.engine.config).toMatchObject({ dcCapacity: 600, skuCapacity: 5_000 });
    await node.stop(true);
  });
});

/**
 * The sample files in examples/ load into a real node the way README's "Bulk load" says:
 * `npm run load` with the admin key from the environment, the catalogue and stock first
 * (NDJSON), then receipts and counts (CSV); every row applies and the stock is what the
 * files add up to.
 */

import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestNode, type TestNode } from '../edge/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = resolve(ROOT, 'dist/tools/bulk-load.js');
const EXAMPLES = resolve(ROOT, 'examples');
const run = promisify(execFile);

/** The environment of a shell with none of the key variables set. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ['INVENTORY_KEY', 'INVENTORY_ADMIN_KEY', 'ADMIN_KEY']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

function lastJsonLine(stdout: string): unknown {
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('the bulk-load examples', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => {
    await node?.stop();
  });

  async function stockOf(dc: string, sku: string) {
    const answer = await http(node.node.port, `/v1/stock?dc=${dc}&sku=${sku}`, {
      key: node.keys.reader,
    });
    expect(answer.status, `${dc}/${sku}`).toBe(200);
    return answer.body as { onHand: number; available: number };
  }

  it('loads network.ndjson, then stock.csv and counts.csv, every row applied', async () => {
    // `npm run load`, as README shows it: the key from INVENTORY_ADMIN_KEY.
    const network = await run(
      'npm',
      ['run', '--silent', 'load', '--', '--url', node.node.wsUrl, 'examples/network.ndjson'],
      { cwd: ROOT, env: cleanEnv({ INVENTORY_ADMIN_KEY: node.keys.admin }) },
    );
    expect(lastJsonLine(network.stdout)).toMatchObject({ rows: 12, applied: 12, failed: 0 });
    // The older variable is still accepted.
    const stock = await run(process.execPath, [CLI, '--url', node.node.wsUrl, 'stock.csv'], {
      cwd: EXAMPLES,
      env: cleanEnv({ ADMIN_KEY: node.keys.admin }),
    });
    expect(lastJsonLine(stock.stdout)).toMatchObject({ rows: 3, applied: 3, failed: 0 });
    const counts = await run(
      process.execPath,
      [CLI, '--url', node.node.wsUrl, '--format', 'csv', 'counts.csv'],
      { cwd: EXAMPLES, env: cleanEnv({ INVENTORY_ADMIN_KEY: node.keys.admin }) },
    );
    expect(lastJsonLine(counts.stdout)).toMatchObject({ rows: 2, applied: 2, failed: 0 });

    expect(await stockOf('store-hsr-layout', 'milk-toned-500ml')).toMatchObject({ onHand: 180 });
    expect(await stockOf('store-hsr-layout', 'bread-white-400g')).toMatchObject({ onHand: 30 });
    expect(await stockOf('store-hsr-layout', 'eggs-6')).toMatchObject({ onHand: 40 });
    expect(await stockOf('store-hsr-layout', 'atta-5kg')).toMatchObject({ onHand: 20 });
    expect(await stockOf('store-whitefield', 'bread-white-400g')).toMatchObject({ onHand: 25 });
    expect(await stockOf('store-whitefield', 'eggs-6')).toMatchObject({ onHand: 0 });
    // The DCs deliver: HSR Layout's own doorstep sees its milk.
    const here = await http(
      node.node.port,
      '/v1/availability?lat=12.9116&lng=77.6474&skus=milk-toned-500ml',
      { key: node.keys.reader },
    );
    expect(here.status).toBe(200);
    expect(here.body.skus['milk-toned-500ml']).toMatchObject({ available: 180 });
  });

  it('refuses to run without an admin key, naming the variable', async () => {
    const refused = run(process.execPath, [CLI, '--url', node.node.wsUrl, 'stock.csv'], {
      cwd: EXAMPLES,
      env: cleanEnv({}),
    });
    await expect(refused).rejects.toMatchObject({
      code: 64,
      stderr: expect.stringContaining('INVENTORY_ADMIN_KEY'),
    });
  });
});

/**
 * `npm run loadtest:reference`, scaled down to run in CI: the built program starts a real
 * node with the capacity flags, loads a small network over the wire, kills the node with
 * SIGKILL, restarts it without the flags and checks sampled cells. The data directory it was
 * told to keep must record the capacities the first start was given.
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, readMeta } from '../wal/store.js';
import type { ReferenceReport } from './reference-node.js';

const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'inventory-reference-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve(ROOT, 'dist', 'loadtest', 'reference-node.js'), ...args],
      { cwd: ROOT, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

describe('the reference-scale program, small', () => {
  it('loads over the wire, survives kill -9 and keeps the capacities', {
    timeout: 60_000,
  }, async () => {
    const dataDir = join(dir, 'data');
    const args = ['--dcs', '30', '--skus', '400', '--rows', '6000', '--samples', '300'];
    const { code, stdout, stderr } = await run([...args, '--data', dataDir, '--json']);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as ReferenceReport;
    expect(report.network).toMatchObject({ dcs: 30, skus: 400, rows: 6_000, fsync: 'fsync' });
    expect(report.load).toMatchObject({ rows: 6_000, failed: 0 });
    expect(report.rowsPerSecond).toBeGreaterThan(0);
    expect(report.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(report.rssPeakBytes).toBeGreaterThanOrEqual(report.rssBytes);
    expect(report.rtoMs).toBeGreaterThan(0);
    expect(report.samples).toEqual({ checked: 300, wrong: 0, examples: [] });
    expect(report.loadAverageBefore).toHaveLength(3);
    // The restart gave no capacity flag: the directory still records the first start's.
    const store = openStore({ path: join(dataDir, 'log'), policy: 'fsync' });
    try {
      expect(readMeta(store)?.engineConfig).toMatchObject({ dcCapacity: 30, skuCapacity: 400 });
    } finally {
      await store.close();
    }
  });

  it('refuses more rows than the network has cells, before starting anything', async () => {
    const { code, stderr } = await run(['--dcs', '2', '--skus', '3', '--rows', '7']);
    expect(code).toBe(64);
    expect(stderr).toMatch(/--rows must be an integer in \[0, 6\]/);
  });
});

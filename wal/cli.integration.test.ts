import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config.js';
import { Engine, type StockView } from '../engine/index.js';
import { Prng } from '../engine/testing/index.js';
import { runCli } from './cli.js';
import { createPrivateEngine } from './engine-port.js';
import { jsonLineLogger } from './logger.js';
import { openWal } from './recovery.js';
import { deleteSnapshot, listSnapshots, loadSnapshot, writeSnapshot } from './snapshot-store.js';
import { openStore } from './store.js';
import { TempDirs } from './testing/temp-dir.js';
import {
  ManualClock,
  runWorkload,
  setupNetwork,
  WORKLOAD_CONFIG,
  WORKLOAD_DCS,
  WORKLOAD_SKUS,
} from './testing/workload.js';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());
const CONFIG = resolveConfig(WORKLOAD_CONFIG);
const CLI = fileURLToPath(new URL('../dist/wal/cli.js', import.meta.url));

function collector() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

async function cli(args: string[]) {
  const stdout = collector();
  const stderr = collector();
  const code = await runCli(args, { stdout: stdout.stream, stderr: stderr.stream });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** A directory with two snapshots and records after them; returns the live engine's stock. */
async function populated(dataDir = dirs.missing()) {
  const clock = new ManualClock(1_700_000_000_000);
  const opened = await openWal({
    dataDir,
    engineConfig: CONFIG,
    policy: 'write',
    ringCapacityBytes: 1 << 23,
    clock: clock.read,
    randomId: () => 'cli-test',
    logger: jsonLineLogger(process.stderr, Date.now),
  });
  if (!opened.ok) throw new Error(opened.error.message);
  const wal = opened.value;
  const engine = Engine.create(CONFIG, { clock: clock.read, log: wal.log });
  const recovered = await wal.recover(engine);
  if (!recovered.ok) throw new Error(recovered.error.message);
  setupNetwork(engine);
  const prng = new Prng(7);
  for (const tag of ['a', 'b']) {
    runWorkload(engine, prng, clock, tag, 400);
    await wal.log.waitFlushed();
    await wal.snapshot();
  }
  runWorkload(engine, prng, clock, 'c', 400);
  await wal.log.waitFlushed();
  const lastLsn = wal.log.durableLsn();
  const stock = new Map<string, StockView>();
  for (const dc of WORKLOAD_DCS) {
    for (const sku of WORKLOAD_SKUS) {
      const result = engine.getStock(dc, sku);
      if (result.ok) stock.set(`${dc}/${sku}`, result.stock);
    }
  }
  await wal.close();
  return { dataDir, lastLsn, stock };
}

describe('wal cli', () => {
  it('reports the log, the snapshots and the size', async () => {
    const { dataDir, lastLsn } = await populated();
    const { code, stdout } = await cli([dataDir, 'info', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.clusterId).toBe('cli-test');
    expect(report.log.lastLsn).toBe(lastLsn);
    expect(report.snapshots).toHaveLength(2);
    expect(report.log.firstLsn).toBe(report.snapshots[1].lsn + 1);
    expect(report.log.records).toBe(lastLsn - report.snapshots[1].lsn);
    expect(report.sizeOnDiskBytes).toBeGreaterThan(0);
    const human = await cli([dataDir, 'info']);
    expect(human.stdout).toMatch(new RegExp(`last snapshot  LSN ${report.snapshots[0].lsn}`));
  });

  it("accepts a node's data directory as well as the log inside it, and answers --help", async () => {
    const logDir = dirs.missing('log');
    const dataDir = join(logDir, '..');
    const { lastLsn } = await populated(logDir);
    writeFileSync(join(dataDir, 'keys.json'), '{}');
    const { code, stdout } = await cli([dataDir, 'info', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout).log.lastLsn).toBe(lastLsn);
    expect(JSON.parse(stdout).writer).toMatchObject({ session: 1, pid: process.pid });
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: node dist/wal/cli.js <dir>');
  });

  it('verifies a healthy directory and catches a snapshot that disagrees', async () => {
    const { dataDir } = await populated();
    const healthy = await cli([dataDir, 'verify']);
    expect(healthy.stdout).toContain('verify: ok');
    expect(healthy.stdout).toContain('2 usable, 1 checked');
    expect(healthy.code).toBe(0);

    // Rewrite the newest snapshot with valid checksums but one extra unit of stock.
    const store = openStore({ path: dataDir, policy: 'write' });
    const newest = listSnapshots(store)[0].manifest!;
    const engine = createPrivateEngine(CONFIG, Date.now);
    expect(loadSnapshot(store, newest, engine)).toBeNull();
    engine.applyRecord({ type: 'receive', at: 0, actor: 'x', reason: 'x', dc: 1, sku: 2, qty: 1 });
    deleteSnapshot(store, newest.lsn);
    writeSnapshot(store, engine, newest.lsn, newest.createdAt, () => 0);
    await store.close();

    const broken = await cli([dataDir, 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/MISMATCH snapshot \d+ vs snapshot \d+: \$\.stock\[1\]\[\d+\]/);
  });

  it('exports the current stock as NDJSON', async () => {
    const { dataDir, stock } = await populated();
    const { code, stdout } = await cli([dataDir, 'export-stock']);
    expect(code).toBe(0);
    const rows = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const live = stock.get(`${row.dc}/${row.sku}`);
      expect({ shortfall: 0, ...row }).toMatchObject({
        onHand: live?.onHand,
        available: live?.available,
        shortfall: live?.shortfall,
      });
    }
    const nonZero = [...stock.values()].filter((s) => s.onHand !== 0 || s.onHand !== s.reserved);
    expect(rows).toHaveLength(nonZero.length);
    const all = await cli([dataDir, 'export-stock', '--all']);
    expect(all.stdout.trim().split('\n')).toHaveLength(WORKLOAD_DCS.length * WORKLOAD_SKUS.length);
  });

  it('runs as a program and exits with the refusal code on a foreign directory', async () => {
    const { dataDir } = await populated();
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [CLI, dataDir, 'info']);
    expect(stdout).toContain('log ');
    const foreign = dirs.make();
    writeFileSync(join(foreign, 'x'), 'y');
    const refused = await run(process.execPath, [CLI, foreign, 'info']).catch((error) => error);
    expect(refused.code).toBe(65);
    expect(refused.stderr).toContain('DATA_DIR_FOREIGN');
    const usage = await run(process.execPath, [CLI]).catch((error) => error);
    expect(usage.code).toBe(64);
  });
});

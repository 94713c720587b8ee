/**
 * The node takes snapshots by itself as the log grows, compacts the log behind them, and a
 * restart recovers from the snapshot plus the rest of the log.
 */

import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { parsePrometheusText } from './prometheus-text.js';
import { http, startTestNode } from './testing/harness.js';

const CLI = resolve(import.meta.dirname, '../dist/wal/cli.js');

async function logInfo(dataDir: string) {
  const { stdout } = await promisify(execFile)(process.execPath, [
    CLI,
    join(dataDir, 'log'),
    'info',
    '--json',
  ]);
  return JSON.parse(stdout) as {
    log: { records: number; firstLsn: number | null };
    snapshots: { lsn: number }[];
  };
}

describe('snapshots on a running node', () => {
  it('snapshots every N records, compacts the log, and recovers from it', async () => {
    const taken: { lsn: number | null }[] = [];
    const first = await startTestNode({
      logger: createLogger({
        level: 'info',
        clock: Date.now,
        write: (line) => {
          const entry = JSON.parse(line);
          if (entry.message === 'snapshot taken') taken.push(entry);
        },
      }),
      snapshotEveryRecords: 100,
      snapshotCheckMs: 50,
      // Compaction keeps only what the snapshots need: no window for event consumers.
      eventRetentionRecords: 0,
    });
    const { port } = first.node;
    const location = { lat: 48.8566, lng: 2.3522 };
    const admin = (path: string, json: unknown, method = 'PUT') =>
      http(port, path, { method, key: first.keys.admin, json });
    await admin('/v1/dcs/snap-dc', { name: 'Snap DC', location, radiusKm: 5 });
    await admin('/v1/skus/baguette', { name: 'Baguette' });
    await admin('/v1/stock/receive', { dc: 'snap-dc', sku: 'baguette', qty: 1_000 }, 'POST');
    const placed: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 120; n++) {
        const orderId = `snap-${round}-${n}`;
        const answer = await http(port, '/v1/orders', {
          method: 'POST',
          key: first.keys.orderer,
          json: {
            orderId,
            location,
            lines: [{ sku: 'baguette', qty: 1 }],
            mode: 'hold',
            ttlSeconds: 3600,
          },
        });
        if (answer.status === 201) placed.push(orderId);
        else if (answer.status === 409) break;
        else throw new Error(`unexpected ${answer.status}: ${answer.text}`);
        await http(port, `/v1/orders/${orderId}/cancel`, {
          method: 'POST',
          key: first.keys.orderer,
        });
      }
      // Give the main thread time to notice the growth and fold a snapshot.
      await new Promise((done) => setTimeout(done, 1_500));
    }
    expect(placed.length).toBeGreaterThan(200);
    // /metrics counts them: wait (bounded) for the fold still running after the last round.
    let value = (_name: string): number | undefined => undefined;
    for (let attempt = 0; attempt < 300; attempt++) {
      const metrics = await http(port, '/metrics', { key: first.keys.reader });
      const { samples } = parsePrometheusText(metrics.text);
      value = (name: string) => samples.find((sample) => sample.name === name)?.value;
      if (value('inventory_snapshots_total')! >= 2 && value('inventory_snapshot_running') === 0) {
        break;
      }
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(value('inventory_snapshots_total')).toBeGreaterThanOrEqual(2);
    expect(value('inventory_snapshot_running')).toBe(0);
    expect(value('inventory_snapshots_started_total')).toBe(
      value('inventory_snapshots_total')! + value('inventory_snapshot_failures_total')!,
    );
    expect(value('inventory_snapshot_failures_total')).toBe(0);
    expect(value('inventory_snapshot_last_duration_seconds')).toBeGreaterThan(0);
    // Each fold wrote a snapshot past the previous one: none was started with nothing to add.
    expect(taken.length).toBe(value('inventory_snapshots_total'));
    for (let n = 0; n < taken.length; n++) {
      expect(taken[n].lsn).not.toBeNull();
      if (n > 0) expect(taken[n].lsn).toBeGreaterThan(taken[n - 1].lsn!);
    }
    await first.stop(true);
    const info = await logInfo(first.dataDir);
    expect(info.snapshots.length).toBeGreaterThanOrEqual(2);
    // Compaction: records up to the older kept snapshot are gone from the log.
    expect(info.log.firstLsn).toBeGreaterThan(1);

    const second = await startTestNode({ dataDir: first.dataDir });
    try {
      for (const orderId of [placed[0], placed[placed.length - 1]]) {
        const answer = await http(second.node.port, `/v1/orders/${orderId}`, {
          key: second.keys.reader,
        });
        expect(answer.status).toBe(200);
        expect(answer.body.status).toBe('cancelled');
      }
      const retry = await http(second.node.port, '/v1/orders', {
        method: 'POST',
        key: second.keys.orderer,
        json: {
          orderId: placed[0],
          location,
          lines: [{ sku: 'baguette', qty: 1 }],
          mode: 'hold',
          ttlSeconds: 3600,
        },
      });
      expect(retry.status).toBe(200);
    } finally {
      await second.stop();
    }
  }, 90_000);
});

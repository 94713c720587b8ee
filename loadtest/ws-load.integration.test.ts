import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSeed, seedFromEnv } from '../engine/testing/index.js';
import { InventoryClient } from '../protocol/client/index.js';
import { type NodeProcess, repoRoot, startNodeProcess } from './node-process.js';
import { provisionDataset } from './provision.js';
import { formatStageBudget, scrapeNode, stageBudget } from './stage-budget.js';
import { mergeResults, runForked } from './ws-processes.js';
import { runWsLoad, type WsRunConfig } from './ws-runner.js';
import { buildDataset, type Dataset, makeRunId, orderMixDefault } from './workload.js';

// A real node (dist/edge/main.js, one worker thread, fsync durability) on 127.0.0.1, driven
// by the real generator for a couple of seconds; the node's stock must account for every
// unit the generator saw accepted.

const seed = seedFromEnv(20_241_121);
const context = describeSeed(seed);
const STOCK_PER_CELL = 100_000;

describe('WebSocket load generator against a real node', () => {
  let node: NodeProcess;
  let dataset: Dataset;
  let admin: InventoryClient;

  beforeAll(async () => {
    node = await startNodeProcess({
      threads: 1,
      fsync: 'fsync',
      cpus: null,
      orderCapacity: null,
      extraArgs: ['--no-demo'],
    });
    dataset = buildDataset({ seed, dcs: 4, skus: 100, stockPerCell: STOCK_PER_CELL });
    admin = await InventoryClient.connect(node.wsUrl, {
      apiKey: node.keys.admin,
      reconnect: false,
    });
    const provisioned = await provisionDataset(admin, dataset);
    expect(provisioned.cellsToppedUp).toBe(400);
  });

  afterAll(async () => {
    await admin?.close();
    await node?.stop();
  });

  function config(overrides: Partial<WsRunConfig>): WsRunConfig {
    return {
      wsUrl: node.wsUrl,
      apiKey: node.keys.orderer,
      connections: 2,
      window: 32,
      batch: 0,
      warmupMs: 200,
      durationMs: 2_000,
      opsMax: 1_000_000,
      timeoutMs: 30_000,
      dataset: dataset.options,
      mix: orderMixDefault(),
      availabilityShare: 0.5,
      breakdown: true,
      holdShare: 0.25,
      fulfilShare: 0.25,
      skusPerQuery: 20,
      customerLocations: true,
      runId: makeRunId(Date.now(), Math.random),
      stream: 0,
      ...overrides,
    };
  }

  /** Units taken from the shelves (reserved or gone) and units gone, over every cell. */
  async function stockMoved(): Promise<{ taken: number; shipped: number }> {
    let taken = 0;
    let shipped = 0;
    const reads: Promise<void>[] = [];
    for (const dc of dataset.dcs) {
      for (const sku of dataset.skus) {
        reads.push(
          admin.getStock({ dc: dc.id, sku: sku.id }).then(({ stock }) => {
            expect(stock.onHand - stock.reserved).toBe(stock.available);
            taken += STOCK_PER_CELL - stock.available;
            shipped += STOCK_PER_CELL - stock.onHand;
          }),
        );
      }
    }
    await Promise.all(reads);
    return { taken, shipped };
  }

  it('runs a mixed load, records every op type, and the node accounts for every unit', async () => {
    const before = await stockMoved();
    const result = await runWsLoad(config({}));
    const merged = mergeResults([result]);
    const byOp = new Map(merged.ops.map((entry) => [entry.op, entry]));
    for (const op of ['availability', 'order', 'hold', 'confirm', 'fulfil'] as const) {
      const entry = byOp.get(op);
      expect(entry, `${context} ${op}`).toBeDefined();
      expect(entry!.row.count, `${context} ${op}`).toBeGreaterThan(0);
      expect(entry!.errors, `${context} ${op}`).toEqual({});
      expect(entry!.row.latency.p50).toBeGreaterThan(0);
      expect(entry!.row.latency.p99).toBeGreaterThanOrEqual(entry!.row.latency.p50);
    }
    expect(merged.measuredMs).toBeGreaterThan(1_500);
    expect(merged.unitsPlaced).toBeGreaterThan(0);
    expect(merged.unitsFulfilled).toBeGreaterThan(0);
    const after = await stockMoved();
    expect(after.taken - before.taken, context).toBe(merged.unitsPlaced);
    expect(after.shipped - before.shipped, context).toBe(merged.unitsFulfilled);
  });

  it('prints the per-stage CPU budget from two scrapes of the node around a run', async () => {
    const metricsUrl = `${node.url}/metrics`;
    const before = await scrapeNode(metricsUrl, node.keys.admin);
    expect(before).not.toBeNull();
    const started = performance.now();
    const generatorCpu = process.cpuUsage();
    const result = await runWsLoad(config({ warmupMs: 0, durationMs: 1_000, holdShare: 0 }));
    const cpu = process.cpuUsage(generatorCpu);
    const spanSeconds = (performance.now() - started) / 1000;
    const after = await scrapeNode(metricsUrl, node.keys.admin);
    expect(after).not.toBeNull();
    // Every thread the node names: its worker, the log writer, main and the rest.
    expect([...after!.threads.keys()].sort()).toEqual(['log-writer', 'main', 'other', 'worker-0']);
    const merged = mergeResults([result]);
    const perSecond = merged.ops.reduce((sum, entry) => sum + entry.row.perSecond, 0);
    const budget = stageBudget(
      before!,
      after!,
      perSecond,
      spanSeconds,
      (cpu.user + cpu.system) / 1e6,
    );
    const worker = budget.rows.find((row) => row.stage === 'node worker-0')!;
    const total = budget.rows.find((row) => row.stage === 'node, all threads')!;
    expect(worker.totalMicros).toBeGreaterThan(0);
    expect(total.totalMicros).toBeGreaterThanOrEqual(worker.totalMicros);
    expect(budget.commits).toBeGreaterThan(0);
    expect(budget.recordsPerCommit).toBeGreaterThanOrEqual(1);
    expect(budget.commitMeanMs).toBeGreaterThan(0);
    const text = formatStageBudget(budget);
    expect(text).toContain('node log-writer');
    expect(text).toMatch(/group commits, [\d.]+ records each/);
  });

  it('stops at the request budget before the clock', async () => {
    const started = performance.now();
    const result = await runWsLoad(
      config({ opsMax: 500, warmupMs: 0, durationMs: 30_000, holdShare: 0, fulfilShare: 0 }),
    );
    expect(performance.now() - started).toBeLessThan(20_000);
    const merged = mergeResults([result]);
    const answers = merged.ops.reduce((sum, entry) => sum + entry.row.count + entry.row.errors, 0);
    expect(answers).toBe(500);
  });

  it('forks generator processes that start together and merges their histograms', async () => {
    const entry = join(repoRoot(), 'dist', 'loadtest', 'ws-load.js');
    const runId = makeRunId(Date.now(), Math.random);
    const configs = [0, 1].map((stream) =>
      config({ connections: 1, window: 8, durationMs: 1_000, runId, stream, holdShare: 0 }),
    );
    const outcome = await runForked(entry, configs, null);
    expect(outcome.results).toHaveLength(2);
    expect(outcome.cpuSeconds).toBeGreaterThan(0);
    const merged = mergeResults(outcome.results);
    for (const op of ['availability', 'order'] as const) {
      const total = outcome.results.reduce((sum, result) => sum + result.ops[op].count, 0);
      const entry = merged.ops.find((candidate) => candidate.op === op)!;
      expect(entry.row.count).toBe(total);
      expect(entry.row.count).toBeGreaterThan(0);
      expect(entry.errors).toEqual({});
    }
  });
});

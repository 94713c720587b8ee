import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSeed, seedFromEnv } from '../engine/testing/index.js';
import { type HttpScenarioOptions, measureScenario } from './http-load.js';
import { type NodeProcess, startNodeProcess } from './node-process.js';
import { provisionAt } from './provision.js';
import { formatStageBudget } from './stage-budget.js';
import { buildDataset, makeRunId } from './workload.js';

// autocannon against a real node (dist/edge/main.js, one worker thread, fsync) on 127.0.0.1:
// durable orders over POST /v1/orders, each with its own id, and the per-stage budget read from
// two scrapes of the node's /metrics around the run.

const seed = seedFromEnv(20_241_121);
const context = describeSeed(seed);

describe('loadtest:http against a real node', () => {
  let node: NodeProcess;
  let options: HttpScenarioOptions;

  beforeAll(async () => {
    node = await startNodeProcess({
      threads: 1,
      fsync: 'fsync',
      cpus: null,
      orderCapacity: null,
      extraArgs: ['--no-demo'],
    });
    const dataset = buildDataset({ seed, dcs: 4, skus: 100, stockPerCell: 100_000 });
    await provisionAt(node.wsUrl, { apiKey: node.keys.admin }, dataset);
    options = {
      url: node.url,
      readerKey: node.keys.reader,
      ordererKey: node.keys.orderer,
      connections: 4,
      pipelining: 1,
      durationS: 1,
      warmupS: 0,
      amount: 100_000,
      dataset,
      runId: makeRunId(Date.now(), Math.random),
    };
  });

  afterAll(async () => {
    await node?.stop();
  });

  it('places durable orders and prints CPU per request by stage', async () => {
    // With a warm-up first: its orders have ids of their own, so every measured one is new.
    const { run, budget } = await measureScenario(
      'orders',
      { ...options, warmupS: 1 },
      node.keys.admin,
    );
    expect(run.errors, context).toBe(0);
    expect(run.non2xx, context).toBe(0);
    expect(run['2xx'], context).toBeGreaterThan(0);
    expect(budget, context).not.toBeNull();
    const worker = budget!.rows.find((row) => row.stage === 'node worker-0')!;
    const writer = budget!.rows.find((row) => row.stage === 'node log-writer')!;
    // Each measured order was created, not answered as a retry of a warm-up order.
    expect(budget!.recordsPerCommit * budget!.commits).toBeGreaterThanOrEqual(run['2xx'] * 0.9);
    const generator = budget!.rows.find((row) => row.stage === 'load generator (autocannon)')!;
    expect(worker.totalMicros).toBeGreaterThan(0);
    // Every order was logged and synced: the writer worked and committed.
    expect(writer.totalMicros).toBeGreaterThan(0);
    expect(budget!.commits).toBeGreaterThan(0);
    expect(generator.totalMicros).toBeGreaterThan(0);
    const text = formatStageBudget(budget!, 'request');
    expect(text).toMatch(/^CPU per request \(µs\), [\d.]+ s at [\d,]+ requests\/s:/);
    expect(text).toContain('load generator (autocannon)');
  });

  it('asks for availability in both forms, every answer a 2xx', async () => {
    for (const scenario of ['availability', 'availability-columns'] as const) {
      const { run } = await measureScenario(scenario, options, null);
      expect(run.errors, `${scenario} ${context}`).toBe(0);
      expect(run.non2xx, `${scenario} ${context}`).toBe(0);
      expect(run['2xx'], `${scenario} ${context}`).toBeGreaterThan(0);
    }
  });

  it('gives no budget without a key that reads /metrics, and still runs', async () => {
    const { run, budget } = await measureScenario('healthz', options, 'not-a-key');
    expect(run.non2xx).toBe(0);
    expect(run['2xx']).toBeGreaterThan(0);
    expect(budget).toBeNull();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONTENTION_BUYERS_PER_CONNECTION_DEFAULT,
  CONTENTION_CONNECTIONS_DEFAULT,
  CONTENTION_STOCK_DEFAULT,
  formatContention,
  runContention,
} from './contention.js';
import { type NodeProcess, startNodeProcess } from './node-process.js';
import { makeRunId } from './workload.js';

// The contention check as it runs from the command line: a real node with two worker threads
// (so buyers race on the same counter from two threads), 256 buyers over 32 connections.

describe('contention check against a real node', () => {
  let node: NodeProcess;

  beforeAll(async () => {
    node = await startNodeProcess({
      threads: 2,
      fsync: 'fsync',
      cpus: null,
      orderCapacity: null,
      extraArgs: ['--no-demo'],
    });
  });

  afterAll(async () => {
    await node?.stop();
  });

  function run(runId: string) {
    return runContention({
      wsUrl: node.wsUrl,
      buyerKey: node.keys.orderer,
      adminKey: node.keys.admin,
      readerKey: node.keys.reader,
      stock: CONTENTION_STOCK_DEFAULT,
      connections: CONTENTION_CONNECTIONS_DEFAULT,
      buyersPerConnection: CONTENTION_BUYERS_PER_CONNECTION_DEFAULT,
      timeLimitMs: 50_000,
      runId,
    });
  }

  it('sells exactly the stock to 256 concurrent buyers and oversells nothing', async () => {
    const report = await run(makeRunId(Date.now(), Math.random));
    expect(report.failures, formatContention(report)).toEqual([]);
    expect(report.buyers).toBe(256);
    expect(report.sold).toBe(10_000);
    expect(report.oversold).toBe(0);
    // Every buyer stops at its first refusal, and every buyer eventually is refused.
    expect(report.refused).toBe(256);
    expect(report.stockAfter).toMatchObject({ onHand: 10_000, reserved: 10_000, available: 0 });
  });

  it('runs again against the same node with a fresh SKU', async () => {
    const report = await run(makeRunId(Date.now() + 1, Math.random));
    expect(report.failures, formatContention(report)).toEqual([]);
    expect(report.sold).toBe(10_000);
  });
});

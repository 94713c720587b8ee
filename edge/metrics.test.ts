/**
 * Metrics without a server: a thread's recorder (counts by outcome, clamped latencies,
 * histograms that reset after each report while counts keep growing) and the node's merge of
 * two threads' reports into one exposition, with the sliding window forgetting old latencies.
 */

import { describe, expect, it } from 'vitest';
import type { LogStats } from '../wal/index.js';
import { LATENCY_US_MAX, METRICS_SLOT_MS, METRICS_WINDOW_SLOTS } from './constants.js';
import { OUTCOMES, seriesOf, ThreadMetrics, TRANSPORT_HTTP, TRANSPORT_WS } from './metrics.js';
import { type MainStats, NodeMetrics } from './node-metrics.js';
import { parsePrometheusText, type Sample } from './prometheus-text.js';

const LOG: LogStats = {
  policy: 'fsync',
  writable: true,
  failure: null,
  durableLsn: 42,
  pendingBytes: 128,
  ringCapacityBytes: 1 << 20,
  batches: 7,
  batchRecordsLast: 3,
  commitMicrosLast: 850,
  commitMicrosMax: 4_000,
};

function mainStats(): MainStats {
  return {
    ready: true,
    workers: 2,
    workersListening: 2,
    uptimeSeconds: 12,
    log: LOG,
    eventCounts: Float64Array.from([0, 0, 0, 3, 0, 0, 0]),
    lowStockCells: 5,
    lowStockAlerts: 9,
    memory: process.memoryUsage(),
  };
}

function find(samples: Sample[], name: string, labels: Record<string, string> = {}): number[] {
  return samples
    .filter(
      (sample) =>
        sample.name === name &&
        Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    )
    .map((sample) => sample.value);
}

/** A recorder whose clock the test moves: each request takes `latencyMs`. */
function recorder(thread: number) {
  const clock = { ms: 0 };
  const metrics = new ThreadMetrics(thread, () => clock.ms);
  const observe = (op: 'placeOrder' | 'availability', latencyMs: number, code: string | null) => {
    const start = clock.ms;
    clock.ms += latencyMs;
    metrics.observe(op, op === 'placeOrder' ? TRANSPORT_WS : TRANSPORT_HTTP, code, start);
  };
  return { metrics, observe };
}

describe('ThreadMetrics', () => {
  it('counts outcomes cumulatively and resets histograms per report', () => {
    const { metrics, observe } = recorder(0);
    observe('placeOrder', 1, null);
    observe('placeOrder', 2, 'OUT_OF_STOCK');
    observe('placeOrder', 0, 'NOT_A_CODE');
    observe('placeOrder', 10 * LATENCY_US_MAX, null);
    const first = metrics.report({}, {});
    const series = seriesOf('placeOrder', TRANSPORT_WS);
    const at = (outcome: string) =>
      first.outcomes[series * OUTCOMES.length + OUTCOMES.indexOf(outcome)];
    expect([at('ok'), at('OUT_OF_STOCK'), at('INTERNAL')]).toEqual([2, 1, 1]);
    // 1 ms + 2 ms + 1 µs (clamped up) + the clamped maximum.
    expect(first.latencySumsUs[series]).toBe(1_000 + 2_000 + 1 + LATENCY_US_MAX);
    expect(first.histograms.map((entry) => entry.series)).toEqual([series]);
    const second = metrics.report({}, {});
    expect(second.histograms).toEqual([]);
    expect(second.outcomes[series * OUTCOMES.length]).toBe(2);
  });
});

describe('ThreadMetrics frames', () => {
  it('gives every answer of a frame the frame latency, with one record per op', () => {
    const clock = { ms: 0 };
    const metrics = new ThreadMetrics(0, () => clock.ms);
    const start = metrics.now();
    for (let index = 0; index < 5; index++) metrics.answeredInFrame('availability', null);
    metrics.answeredInFrame('placeOrder', 'FORBIDDEN');
    clock.ms += 0.25;
    metrics.endFrame(start);
    metrics.endFrame(start);
    const report = metrics.report({}, {});
    const availability = seriesOf('availability', TRANSPORT_WS);
    const order = seriesOf('placeOrder', TRANSPORT_WS);
    expect(report.outcomes[availability * OUTCOMES.length]).toBe(5);
    expect(report.outcomes[order * OUTCOMES.length + OUTCOMES.indexOf('FORBIDDEN')]).toBe(1);
    expect(report.latencySumsUs[availability]).toBe(5 * 250);
    expect(report.latencySumsUs[order]).toBe(250);
    expect(report.histograms.map((entry) => entry.series).sort()).toEqual(
      [availability, order].sort(),
    );
  });
});

describe('NodeMetrics', () => {
  it('merges the threads into one exposition with window quantiles', () => {
    const now = { ms: 1_000_000 };
    const node = new NodeMetrics(() => now.ms);
    const one = recorder(0);
    const two = recorder(1);
    for (let index = 0; index < 900; index++) one.observe('placeOrder', 1, null);
    for (let index = 0; index < 100; index++) two.observe('placeOrder', 50, null);
    two.observe('placeOrder', 1, 'OUT_OF_STOCK');
    one.observe('availability', 0.2, null);
    node.accept(one.metrics.report({ 'events.expired': 1 }, { connections: 3, orders: 1 }));
    node.accept(two.metrics.report({ 'events.expired': 2, pushes: 4 }, { connections: 4 }));
    const parsed = parsePrometheusText(node.render(mainStats()));
    const { samples, types } = parsed;
    const ws = { op: 'placeOrder', transport: 'ws' };
    expect(find(samples, 'inventory_requests_total', { ...ws, outcome: 'ok' })).toEqual([1_000]);
    expect(find(samples, 'inventory_stock_outs_total')).toEqual([1]);
    expect(find(samples, 'inventory_request_latency_seconds_count', ws)).toEqual([1_001]);
    const quantile = (q: string) =>
      find(samples, 'inventory_request_latency_seconds', { ...ws, quantile: q })[0];
    expect(quantile('0.5')).toBeCloseTo(0.001, 5);
    expect(quantile('0.9')).toBeCloseTo(0.001, 5);
    expect(quantile('0.99')).toBeCloseTo(0.05, 3);
    expect(find(samples, 'inventory_request_latency_max_seconds', ws)[0]).toBeCloseTo(0.05, 3);
    expect(find(samples, 'inventory_holds_expired_total')).toEqual([6]);
    expect(find(samples, 'inventory_ws_connections')).toEqual([3, 4]);
    expect(find(samples, 'inventory_subscriptions', { kind: 'orders' })).toEqual([1]);
    expect(find(samples, 'inventory_pushes_total')).toEqual([4]);
    expect(find(samples, 'inventory_log_lag_bytes')).toEqual([128]);
    expect(find(samples, 'inventory_log_commit_last_seconds')).toEqual([0.00085]);
    expect(find(samples, 'inventory_low_stock_cells')).toEqual([5]);
    expect(types.get('inventory_request_latency_seconds')).toBe('summary');
    // Past the window the quantiles are unknown; the counts stay.
    now.ms += METRICS_WINDOW_SLOTS * METRICS_SLOT_MS;
    const later = parsePrometheusText(node.render(mainStats())).samples;
    expect(
      find(later, 'inventory_request_latency_seconds', { ...ws, quantile: '0.5' })[0],
    ).toBeNaN();
    expect(find(later, 'inventory_request_latency_seconds_count', ws)).toEqual([1_001]);
  });
});

/**
 * Metrics without a server: a thread's recorder (counts by outcome, clamped latencies,
 * histograms that reset after each report while counts and bucket counts keep growing) and the
 * node's merge of two threads' reports into one exposition, with the sliding window forgetting
 * old latencies, Prometheus histograms whose buckets add up across threads, and the log's
 * histograms read from wrapping 32-bit words.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LogStats } from '../wal/index.js';
import { LATENCY_US_MAX, METRICS_SLOT_MS, METRICS_WINDOW_SLOTS } from './constants.js';
import {
  LATENCY_BUCKET_BOUNDS_US,
  LATENCY_BUCKETS,
  latencyBucketOf,
  OUTCOMES,
  seriesOf,
  ThreadMetrics,
  TRANSPORT_HTTP,
  TRANSPORT_WS,
} from './metrics.js';
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
  // 7 commits: 2 of ≤ 20 µs, 4 of ≤ 1 ms, 1 past the last bound (counted in `batches` only).
  commitBuckets: [2, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  // Batch sizes: 1, 1, 3, 3, 3, 200, 5000 records.
  batchBuckets: [2, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
  commitMicrosSum: 2_000_000 + 4 * 900 + 2 * 15,
  batchRecordsSum: 5_211,
};

function mainStats(log: LogStats = LOG): MainStats {
  return {
    ready: true,
    workers: 2,
    workersListening: 2,
    uptimeSeconds: 12,
    log,
    eventCounts: Float64Array.from([0, 0, 0, 3, 0, 0, 0]),
    lowStockCells: 5,
    lowStockAlerts: 9,
    memory: process.memoryUsage(),
    threads: [
      { thread: 'main', userSeconds: 1.5, systemSeconds: 0.25 },
      { thread: 'log-writer', userSeconds: 0.5, systemSeconds: 2 },
    ],
    snapshots: { taken: 2, failed: 1, running: true, lastSeconds: 8.5 },
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

describe('latency buckets', () => {
  it('puts a latency in the first bucket whose bound is at least it', () => {
    expect(latencyBucketOf(1)).toBe(0);
    expect(latencyBucketOf(20)).toBe(0);
    expect(latencyBucketOf(21)).toBe(1);
    expect(latencyBucketOf(5_000)).toBe(LATENCY_BUCKET_BOUNDS_US.indexOf(5_000));
    expect(latencyBucketOf(5_001)).toBe(LATENCY_BUCKET_BOUNDS_US.indexOf(10_000));
    expect(latencyBucketOf(2_000_000)).toBe(LATENCY_BUCKET_BOUNDS_US.length - 1);
    expect(latencyBucketOf(LATENCY_US_MAX)).toBe(LATENCY_BUCKETS - 1);
    // The README's bars are bounds, so alerts at them are exact.
    expect(LATENCY_BUCKET_BOUNDS_US).toContain(2_000);
    expect(LATENCY_BUCKET_BOUNDS_US).toContain(5_000);
  });

  it('counts every request in one bucket, cumulatively across reports', () => {
    const { metrics, observe } = recorder(0);
    observe('placeOrder', 0.02, null);
    observe('placeOrder', 3, 'OUT_OF_STOCK');
    observe('placeOrder', 3, null);
    const series = seriesOf('placeOrder', TRANSPORT_WS);
    const bucketsOf = (report: { latencyBuckets: Float64Array }) =>
      Array.from(
        report.latencyBuckets.subarray(series * LATENCY_BUCKETS, (series + 1) * LATENCY_BUCKETS),
      );
    const first = bucketsOf(metrics.report({}, {}));
    expect(first[0]).toBe(1);
    expect(first[LATENCY_BUCKET_BOUNDS_US.indexOf(5_000)]).toBe(2);
    expect(first.reduce((sum, count) => sum + count, 0)).toBe(3);
    observe('placeOrder', 120_000, null);
    const second = bucketsOf(metrics.report({}, {}));
    expect(second[LATENCY_BUCKETS - 1]).toBe(1);
    expect(second.reduce((sum, count) => sum + count, 0)).toBe(4);
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
    expect(report.latencyBuckets[availability * LATENCY_BUCKETS + latencyBucketOf(250)]).toBe(5);
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
    // The histogram: both threads' buckets added, cumulative, +Inf and _count the same.
    const histogram = 'inventory_request_duration_seconds';
    expect(types.get(histogram)).toBe('histogram');
    const bucket = (le: string) => find(samples, `${histogram}_bucket`, { ...ws, le })[0];
    expect(bucket('0.0005')).toBe(0);
    expect(bucket('0.001')).toBe(901);
    expect(bucket('0.02')).toBe(901);
    expect(bucket('0.05')).toBe(1_001);
    expect(bucket('+Inf')).toBe(1_001);
    expect(find(samples, `${histogram}_count`, ws)).toEqual([1_001]);
    expect(find(samples, `${histogram}_sum`, ws)[0]).toBeCloseTo(901 * 0.001 + 100 * 0.05, 9);
    const les = samples
      .filter(
        (sample) => sample.name === `${histogram}_bucket` && sample.labels.op === 'placeOrder',
      )
      .map((sample) => sample.labels.le);
    expect(les).toEqual([...LATENCY_BUCKET_BOUNDS_US.map((bound) => String(bound / 1e6)), '+Inf']);
    expect(bucket('0.00002')).toBe(0);
    const http = { op: 'availability', transport: 'http' };
    expect(find(samples, `${histogram}_bucket`, { ...http, le: '0.0002' })).toEqual([1]);
    expect(find(samples, `${histogram}_bucket`, { ...http, le: '0.0001' })).toEqual([0]);
    // Series that never recorded are left out.
    expect(find(samples, `${histogram}_count`, { op: 'browse' })).toEqual([]);
    // Past the window the quantiles are unknown; the counts stay.
    now.ms += METRICS_WINDOW_SLOTS * METRICS_SLOT_MS;
    const later = parsePrometheusText(node.render(mainStats())).samples;
    expect(
      find(later, 'inventory_request_latency_seconds', { ...ws, quantile: '0.5' })[0],
    ).toBeNaN();
    expect(find(later, 'inventory_request_latency_seconds_count', ws)).toEqual([1_001]);
    expect(
      find(later, 'inventory_request_duration_seconds_bucket', { ...ws, le: '0.001' }),
    ).toEqual([901]);
  });
});

describe('NodeMetrics log histograms', () => {
  it('renders commit durations and batch sizes as cumulative histograms', () => {
    const node = new NodeMetrics(() => 0);
    const { samples, types } = parsePrometheusText(node.render(mainStats()));
    const commit = 'inventory_log_commit_duration_seconds';
    expect(types.get(commit)).toBe('histogram');
    const commitBucket = (le: string) => find(samples, `${commit}_bucket`, { le })[0];
    expect(commitBucket('0.00002')).toBe(2);
    expect(commitBucket('0.0005')).toBe(2);
    expect(commitBucket('0.001')).toBe(6);
    expect(commitBucket('1')).toBe(6);
    expect(commitBucket('+Inf')).toBe(7);
    expect(find(samples, `${commit}_count`)).toEqual([7]);
    expect(find(samples, `${commit}_sum`)[0]).toBeCloseTo(2.00363, 9);
    const batch = 'inventory_log_batch_records';
    const batchBucket = (le: string) => find(samples, `${batch}_bucket`, { le })[0];
    expect(batchBucket('1')).toBe(2);
    expect(batchBucket('2')).toBe(2);
    expect(batchBucket('4')).toBe(5);
    expect(batchBucket('256')).toBe(6);
    expect(batchBucket('4096')).toBe(6);
    expect(batchBucket('+Inf')).toBe(7);
    expect(find(samples, `${batch}_sum`)).toEqual([5_211]);
    expect(find(samples, 'inventory_log_commits_total')).toEqual([7]);
    expect(find(samples, 'inventory_log_ring_capacity_bytes')).toEqual([1 << 20]);
  });

  it("renders the node's snapshots: started, taken, failed, running and the last duration", () => {
    const node = new NodeMetrics(() => 0);
    const { samples, types } = parsePrometheusText(node.render(mainStats()));
    expect(types.get('inventory_snapshots_started_total')).toBe('counter');
    expect(find(samples, 'inventory_snapshots_started_total')).toEqual([4]);
    expect(find(samples, 'inventory_snapshots_total')).toEqual([2]);
    expect(find(samples, 'inventory_snapshot_failures_total')).toEqual([1]);
    expect(find(samples, 'inventory_snapshot_running')).toEqual([1]);
    expect(find(samples, 'inventory_snapshot_last_duration_seconds')).toEqual([8.5]);
    const idle = { taken: 0, failed: 0, running: false, lastSeconds: 0 };
    const none = parsePrometheusText(node.render({ ...mainStats(), snapshots: idle }));
    expect(find(none.samples, 'inventory_snapshot_running')).toEqual([0]);
  });

  it('renders CPU time by thread and mode as one counter family', () => {
    const node = new NodeMetrics(() => 0);
    const { samples, types } = parsePrometheusText(node.render(mainStats()));
    const name = 'inventory_thread_cpu_seconds_total';
    expect(types.get(name)).toBe('counter');
    expect(find(samples, name, { thread: 'main', mode: 'user' })).toEqual([1.5]);
    expect(find(samples, name, { thread: 'log-writer', mode: 'system' })).toEqual([2]);
    const none = parsePrometheusText(node.render({ ...mainStats(), threads: [] }));
    expect(none.types.has(name)).toBe(false);
  });

  it('keeps counting when the 32-bit words wrap', () => {
    const node = new NodeMetrics(() => 0);
    const wrap = (value: number) => value % 2 ** 32;
    const near = 2 ** 32 - 7;
    // `near` commits of ≤ 20 µs, the 4 of ≤ 1 ms and the 1 past the last bound of LOG.
    const before: LogStats = {
      ...LOG,
      batches: near + 5,
      commitBuckets: [near, ...LOG.commitBuckets.slice(1)],
    };
    node.render(mainStats(before));
    // Ten more commits of ≤ 20 µs: the count and the first bucket wrap past 2^32.
    const after: LogStats = {
      ...before,
      batches: wrap(near + 15),
      commitBuckets: [wrap(near + 10), ...LOG.commitBuckets.slice(1)],
    };
    expect(after.batches).toBeLessThan(before.batches);
    expect(after.commitBuckets[0]).toBeLessThan(before.commitBuckets[0]);
    const { samples } = parsePrometheusText(node.render(mainStats(after)));
    const commit = 'inventory_log_commit_duration_seconds';
    expect(find(samples, 'inventory_log_commits_total')).toEqual([near + 15]);
    expect(find(samples, `${commit}_bucket`, { le: '0.00002' })).toEqual([near + 10]);
    expect(find(samples, `${commit}_bucket`, { le: '0.001' })).toEqual([near + 14]);
    expect(find(samples, `${commit}_count`)).toEqual([near + 15]);
  });

  it('never shows a bucket above the count', () => {
    const node = new NodeMetrics(() => 0);
    // A reader that saw one more commit in a bucket than in the count.
    const ahead: LogStats = { ...LOG, batches: 5 };
    const { samples } = parsePrometheusText(node.render(mainStats(ahead)));
    const commit = 'inventory_log_commit_duration_seconds';
    expect(find(samples, `${commit}_bucket`, { le: '+Inf' })).toEqual([6]);
    expect(find(samples, `${commit}_count`)).toEqual([6]);
  });
});

describe('the README', () => {
  it("documents every series /metrics serves, in its 'Monitoring' section", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('\n## Monitoring\n');
    expect(start).toBeGreaterThan(0);
    const end = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const node = new NodeMetrics(() => 0);
    const thread = recorder(0);
    thread.observe('placeOrder', 1, null);
    node.accept(thread.metrics.report({}, { connections: 1 }));
    const { types } = parsePrometheusText(node.render(mainStats()));
    expect(types.size).toBeGreaterThan(30);
    for (const [family, type] of types) {
      const name = type === 'histogram' ? `${family}_bucket` : family;
      expect(section, `${family} (${type})`).toContain(`\`${name}\``);
    }
  });
});

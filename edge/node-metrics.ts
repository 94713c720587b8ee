/**
 * The node's metrics as `/metrics` serves them, kept on the main thread: it merges every
 * worker's reports (metrics.ts) with what only the main thread knows (the log, expiries,
 * low-stock state, the process) and renders Prometheus text.
 *
 * Latency, two ways. Summaries (`inventory_request_latency_seconds`): quantiles 0.5, 0.9, 0.99
 * and 0.999 of a sliding window of METRICS_WINDOW_SLOTS × METRICS_SLOT_MS (recent enough for a
 * live view: the `stats` command reads them), `_sum` and `_count` since the node started, and
 * the window's maximum as its own gauge. Every worker's HDR histogram of an interval is added to
 * the window slot of the time it arrived, so the window merges all threads exactly (HDR
 * histograms add bucket by bucket). Quantiles cannot be added across nodes or re-windowed,
 * though, so the same latencies are also a Prometheus histogram
 * (`inventory_request_duration_seconds`): cumulative counts per bucket of
 * LATENCY_BUCKET_BOUNDS_US, summed over the workers, for histogram_quantile over any range and
 * any set of nodes. The log writer's commit durations and batch sizes are histograms too, read
 * from the log's control words.
 *
 * Invariants: counters only grow (workers report cumulative counts; the latest report of each
 * worker is kept; the log's 32-bit words are unwrapped into running totals); a histogram's
 * `+Inf` bucket equals its `_count` and no bucket exceeds the next; a window slot older than the
 * window is reset before reuse; HDR histograms are allocated per series only once that series
 * has recorded something.
 */

import { decodeFromCompressedBase64, type Histogram } from 'hdr-histogram-js';
import {
  LOG_BATCH_BUCKET_BOUNDS_RECORDS,
  LOG_COMMIT_BUCKET_BOUNDS_MICROS,
  type LogStats,
} from '../wal/index.js';
import { LATENCY_US_MAX, METRICS_SLOT_MS, METRICS_WINDOW_SLOTS } from './constants.js';
import {
  createLatencyHistogram,
  LATENCY_BUCKET_BOUNDS_US,
  LATENCY_BUCKETS,
  type MetricsReport,
  OUTCOMES,
  SERIES_COUNT,
  seriesLabels,
} from './metrics.js';
import { ORDER_EVENT_TYPES } from './order-event-ring.js';
import { formatValue, type Labels, PrometheusWriter } from './prometheus-text.js';

const QUANTILES = [0.5, 0.9, 0.99, 0.999] as const;
const US_PER_SECOND = 1_000_000;
const MS_PER_SECOND = 1_000;
const UINT32_RANGE = 0x1_0000_0000;

/** The `le` label values of each histogram, in its unit (seconds or records), made once. */
const LATENCY_LE = LATENCY_BUCKET_BOUNDS_US.map((bound) => formatValue(bound / US_PER_SECOND));
const COMMIT_LE = LOG_COMMIT_BUCKET_BOUNDS_MICROS.map((bound) =>
  formatValue(bound / US_PER_SECOND),
);
const BATCH_LE = LOG_BATCH_BUCKET_BOUNDS_RECORDS.map((bound) => formatValue(bound));

/** Keys of the totals and gauges a worker reports. */
export const WorkerTotals = {
  pushes: 'pushes',
  pushesSkipped: 'pushesSkipped',
  subscribersCutOff: 'subscribersCutOff',
  eventsReplayed: 'eventsReplayed',
  connectionsOpened: 'connectionsOpened',
} as const;

export const WorkerGauges = {
  connections: 'connections',
  availability: 'availability',
  lowStock: 'lowStock',
  orders: 'orders',
} as const;

/** What the main thread adds to the workers' reports at render time. */
export interface MainStats {
  ready: boolean;
  workers: number;
  workersListening: number;
  uptimeSeconds: number;
  log: LogStats;
  /** Order events the main thread's engine reported (expiries), by ORDER_EVENT_TYPES. */
  eventCounts: Float64Array;
  lowStockCells: number;
  lowStockAlerts: number;
  memory: NodeJS.MemoryUsage;
  /** CPU time by thread (Linux); empty elsewhere. */
  threads: ThreadCpuSample[];
  snapshots: SnapshotStats;
}

/** The node's own snapshots (the fold thread's CPU shows under the thread label `other`). */
export interface SnapshotStats {
  /** Snapshots since the node started, taken and failed; started adds the one running. */
  taken: number;
  failed: number;
  running: boolean;
  /** Seconds the last snapshot that finished took, taken or failed (0 before any). */
  lastSeconds: number;
}

export interface ThreadCpuSample {
  /** main, worker-<n>, log-writer or other. */
  thread: string;
  userSeconds: number;
  systemSeconds: number;
}

/** One series' histograms over the sliding window, one per slot. */
class WindowedHistogram {
  private readonly slots: (Histogram | undefined)[] = new Array(METRICS_WINDOW_SLOTS);
  private readonly epochs = new Float64Array(METRICS_WINDOW_SLOTS).fill(-1);

  add(histogram: Histogram, epoch: number): void {
    const index = epoch % METRICS_WINDOW_SLOTS;
    let slot = this.slots[index];
    if (slot === undefined) {
      slot = createLatencyHistogram();
      this.slots[index] = slot;
    }
    if (this.epochs[index] !== epoch) {
      slot.reset();
      this.epochs[index] = epoch;
    }
    slot.add(histogram);
  }

  /** Adds the slots still inside the window ending at `epoch` into `into`. */
  mergeInto(into: Histogram, epoch: number): void {
    for (let index = 0; index < METRICS_WINDOW_SLOTS; index++) {
      const slot = this.slots[index];
      if (slot !== undefined && epoch - this.epochs[index] < METRICS_WINDOW_SLOTS) {
        into.add(slot);
      }
    }
  }
}

/**
 * Running totals of counters kept in 32-bit words that wrap (the log's statistics): each update
 * adds what every word moved since the last one, modulo 2^32. Exact while no word moves by 2^32
 * between two updates (one per scrape), which would take days of commits.
 */
class UnwrappedCounts {
  private readonly last: Float64Array;
  readonly totals: Float64Array;

  constructor(size: number) {
    this.last = new Float64Array(size);
    this.totals = new Float64Array(size);
  }

  update(words: readonly number[]): Float64Array {
    for (let index = 0; index < this.last.length; index++) {
      const word = words[index] ?? 0;
      this.totals[index] += (word - this.last[index] + UINT32_RANGE) % UINT32_RANGE;
      this.last[index] = word;
    }
    return this.totals;
  }
}

/**
 * One histogram's samples: cumulative `_bucket`s from per-bucket counts (`buckets[offset +
 * i]` for bound `les[i]`), `+Inf` and `_count` equal to `count` (or to the buckets' total, if
 * a reader saw a bucket ahead of the count), and `_sum`.
 */
function writeHistogram(
  out: PrometheusWriter,
  name: string,
  labels: Labels | null,
  les: readonly string[],
  buckets: ArrayLike<number>,
  offset: number,
  count: number,
  sum: number,
): void {
  let cumulative = 0;
  for (let index = 0; index < les.length; index++) {
    cumulative += buckets[offset + index];
    out.sample(`${name}_bucket`, { ...labels, le: les[index] }, cumulative);
  }
  const total = Math.max(count, cumulative);
  out.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, total);
  out.sample(`${name}_sum`, labels, sum);
  out.sample(`${name}_count`, labels, total);
}

export class NodeMetrics {
  private readonly reports = new Map<number, MetricsReport>();
  private readonly windows: (WindowedHistogram | undefined)[] = new Array(SERIES_COUNT);
  private readonly scratch = createLatencyHistogram();
  private readonly logCommits = new UnwrappedCounts(1);
  private readonly logCommitBuckets = new UnwrappedCounts(LOG_COMMIT_BUCKET_BOUNDS_MICROS.length);
  private readonly logBatchBuckets = new UnwrappedCounts(LOG_BATCH_BUCKET_BOUNDS_RECORDS.length);

  constructor(private readonly clock: () => number) {}

  /** Takes a worker's report: its cumulative counts replace the last; its histograms add. */
  accept(report: MetricsReport): void {
    this.reports.set(report.thread, report);
    const epoch = Math.floor(this.clock() / METRICS_SLOT_MS);
    for (const { series, encoded } of report.histograms) {
      if (series < 0 || series >= SERIES_COUNT) continue;
      const histogram = decodeFromCompressedBase64(encoded, 32, false, LATENCY_US_MAX);
      let window = this.windows[series];
      if (window === undefined) {
        window = new WindowedHistogram();
        this.windows[series] = window;
      }
      window.add(histogram, epoch);
    }
  }

  private sumTotals(key: string, from: 'totals' | 'gauges'): number {
    let sum = 0;
    for (const report of this.reports.values()) sum += report[from][key] ?? 0;
    return sum;
  }

  render(main: MainStats): string {
    const out = new PrometheusWriter();
    this.renderRequests(out);
    this.renderLatency(out);
    this.renderLatencyHistogram(out);
    this.renderOrders(out, main);
    this.renderSubscriptions(out);
    this.renderLog(out, main.log);
    renderNode(out, main);
    renderSnapshots(out, main.snapshots);
    renderThreads(out, main.threads);
    return out.text();
  }

  private renderRequests(out: PrometheusWriter): void {
    const outcomes = OUTCOMES.length;
    const totals = new Float64Array(SERIES_COUNT * outcomes);
    for (const report of this.reports.values()) {
      const counts = report.outcomes;
      for (let index = 0; index < totals.length && index < counts.length; index++) {
        totals[index] += counts[index];
      }
    }
    out.family(
      'inventory_requests_total',
      'counter',
      'Requests answered, by op, transport and outcome (ok or error code).',
    );
    for (let series = 0; series < SERIES_COUNT; series++) {
      const labels = seriesLabels(series);
      for (let outcome = 0; outcome < outcomes; outcome++) {
        const count = totals[series * outcomes + outcome];
        if (count === 0) continue;
        out.sample('inventory_requests_total', { ...labels, outcome: OUTCOMES[outcome] }, count);
      }
    }
    let stockOuts = 0;
    for (let series = 0; series < SERIES_COUNT; series++) {
      const { op } = seriesLabels(series);
      if (op !== 'placeOrder' && op !== 'changeOrder') continue;
      stockOuts += totals[series * outcomes + OUTCOMES.indexOf('OUT_OF_STOCK')];
    }
    out.family(
      'inventory_stock_outs_total',
      'counter',
      'Orders and basket changes refused OUT_OF_STOCK.',
    );
    out.sample('inventory_stock_outs_total', null, stockOuts);
  }

  private renderLatency(out: PrometheusWriter): void {
    const name = 'inventory_request_latency_seconds';
    const epoch = Math.floor(this.clock() / METRICS_SLOT_MS);
    const counts = new Float64Array(SERIES_COUNT);
    const sums = new Float64Array(SERIES_COUNT);
    for (const report of this.reports.values()) {
      for (let series = 0; series < SERIES_COUNT; series++) {
        sums[series] += report.latencySumsUs[series] ?? 0;
        for (let outcome = 0; outcome < OUTCOMES.length; outcome++) {
          counts[series] += report.outcomes[series * OUTCOMES.length + outcome] ?? 0;
        }
      }
    }
    const windowSeconds = (METRICS_WINDOW_SLOTS * METRICS_SLOT_MS) / MS_PER_SECOND;
    const maxima: { labels: Record<string, string>; value: number }[] = [];
    out.family(
      name,
      'summary',
      'Request latency in the node, from request read to answer sent; ' +
        `quantiles over the last ${windowSeconds} s.`,
    );
    for (let series = 0; series < SERIES_COUNT; series++) {
      if (counts[series] === 0) continue;
      const labels = seriesLabels(series);
      const scratch = this.scratch;
      scratch.reset();
      this.windows[series]?.mergeInto(scratch, epoch);
      const empty = scratch.totalCount === 0;
      for (const quantile of QUANTILES) {
        const value = empty
          ? Number.NaN
          : scratch.getValueAtPercentile(quantile * 100) / US_PER_SECOND;
        out.sample(name, { ...labels, quantile: String(quantile) }, value);
      }
      out.sample(`${name}_sum`, labels, sums[series] / US_PER_SECOND);
      out.sample(`${name}_count`, labels, counts[series]);
      maxima.push({ labels, value: empty ? Number.NaN : scratch.maxValue / US_PER_SECOND });
    }
    out.family(
      'inventory_request_latency_max_seconds',
      'gauge',
      `Largest request latency in the last ${windowSeconds} s.`,
    );
    for (const { labels, value } of maxima) {
      out.sample('inventory_request_latency_max_seconds', labels, value);
    }
  }

  private renderLatencyHistogram(out: PrometheusWriter): void {
    const name = 'inventory_request_duration_seconds';
    const buckets = new Float64Array(SERIES_COUNT * LATENCY_BUCKETS);
    const sums = new Float64Array(SERIES_COUNT);
    for (const report of this.reports.values()) {
      const counts = report.latencyBuckets;
      for (let index = 0; index < buckets.length && index < counts.length; index++) {
        buckets[index] += counts[index];
      }
      for (let series = 0; series < SERIES_COUNT; series++) {
        sums[series] += report.latencySumsUs[series] ?? 0;
      }
    }
    out.family(
      name,
      'histogram',
      'Request latency in the node, from request read to answer sent, as cumulative buckets ' +
        'since the node started (for histogram_quantile over rate()).',
    );
    for (let series = 0; series < SERIES_COUNT; series++) {
      let count = 0;
      for (let bucket = 0; bucket < LATENCY_BUCKETS; bucket++) {
        count += buckets[series * LATENCY_BUCKETS + bucket];
      }
      if (count === 0) continue;
      const offset = series * LATENCY_BUCKETS;
      const sum = sums[series] / US_PER_SECOND;
      writeHistogram(out, name, seriesLabels(series), LATENCY_LE, buckets, offset, count, sum);
    }
  }

  private renderLog(out: PrometheusWriter, log: LogStats): void {
    renderLogGauges(out, log);
    const commits = this.logCommits.update([log.batches])[0];
    out.family('inventory_log_commits_total', 'counter', 'Group commits of the log writer.');
    out.sample('inventory_log_commits_total', null, commits);
    const commitName = 'inventory_log_commit_duration_seconds';
    out.family(
      commitName,
      'histogram',
      "Duration of the log writer's commits (write and sync per the fsync policy).",
    );
    const commitBuckets = this.logCommitBuckets.update(log.commitBuckets);
    const commitSeconds = log.commitMicrosSum / US_PER_SECOND;
    writeHistogram(out, commitName, null, COMMIT_LE, commitBuckets, 0, commits, commitSeconds);
    const batchName = 'inventory_log_batch_records';
    out.family(batchName, 'histogram', "Records in each of the log writer's group commits.");
    const batchBuckets = this.logBatchBuckets.update(log.batchBuckets);
    writeHistogram(out, batchName, null, BATCH_LE, batchBuckets, 0, commits, log.batchRecordsSum);
  }

  private renderOrders(out: PrometheusWriter, main: MainStats): void {
    out.family('inventory_order_events_total', 'counter', 'Order lifecycle events, by type.');
    let expired = 0;
    for (let index = 0; index < ORDER_EVENT_TYPES.length; index++) {
      const type = ORDER_EVENT_TYPES[index];
      const count = this.sumTotals(`events.${type}`, 'totals') + (main.eventCounts[index] ?? 0);
      if (type === 'expired') expired = count;
      out.sample('inventory_order_events_total', { type }, count);
    }
    out.family(
      'inventory_holds_expired_total',
      'counter',
      'Holds that reached their TTL and released their units.',
    );
    out.sample('inventory_holds_expired_total', null, expired);
    out.family('inventory_low_stock_cells', 'gauge', 'Stock cells below their SKU threshold.');
    out.sample('inventory_low_stock_cells', null, main.lowStockCells);
    out.family(
      'inventory_low_stock_alerts_total',
      'counter',
      'Low-stock crossings (low and recovered).',
    );
    out.sample('inventory_low_stock_alerts_total', null, main.lowStockAlerts);
  }

  private renderSubscriptions(out: PrometheusWriter): void {
    out.family(
      'inventory_ws_connections',
      'gauge',
      'Open WebSocket connections, by worker thread.',
    );
    const threads = [...this.reports.keys()].sort((a, b) => a - b);
    for (const thread of threads) {
      const open = this.reports.get(thread)!.gauges[WorkerGauges.connections] ?? 0;
      out.sample('inventory_ws_connections', { thread: String(thread) }, open);
    }
    const counters: [string, string, string][] = [
      [
        'inventory_ws_connections_opened_total',
        WorkerTotals.connectionsOpened,
        'WebSocket connections accepted.',
      ],
      ['inventory_pushes_total', WorkerTotals.pushes, 'Subscription pushes sent.'],
      [
        'inventory_pushes_skipped_total',
        WorkerTotals.pushesSkipped,
        'Availability pushes skipped for a subscriber over its buffer limit ' +
          '(the next push carries the latest values).',
      ],
      [
        'inventory_subscribers_cut_off_total',
        WorkerTotals.subscribersCutOff,
        'Connections closed SUBSCRIBER_TOO_SLOW.',
      ],
      [
        'inventory_order_events_replayed_total',
        WorkerTotals.eventsReplayed,
        'Order events sent from the log rather than live (resumed or slow subscribers).',
      ],
    ];
    for (const [name, key, help] of counters) {
      out.family(name, 'counter', help);
      out.sample(name, null, this.sumTotals(key, 'totals'));
    }
    out.family('inventory_subscriptions', 'gauge', 'Open subscriptions, by kind.');
    for (const kind of [WorkerGauges.availability, WorkerGauges.lowStock, WorkerGauges.orders]) {
      out.sample('inventory_subscriptions', { kind }, this.sumTotals(kind, 'gauges'));
    }
  }
}

function renderLogGauges(out: PrometheusWriter, log: LogStats): void {
  const gauges: [string, string, number][] = [
    [
      'inventory_log_writable',
      'Whether the write-ahead log accepts writes (1) or the node is read-only (0).',
      log.writable ? 1 : 0,
    ],
    [
      'inventory_log_lag_bytes',
      'Bytes appended to the log and not yet durable: the durability lag.',
      log.pendingBytes,
    ],
    [
      'inventory_log_ring_capacity_bytes',
      'Size of the ring the log is appended to: once the lag leaves less than two of the ' +
        'largest records free in it, the node refuses mutations with READ_ONLY.',
      log.ringCapacityBytes,
    ],
    [
      'inventory_log_durable_lsn',
      'Sequence number of the last durable log record.',
      log.durableLsn,
    ],
    [
      'inventory_log_commit_last_seconds',
      "Duration of the log writer's last commit (write and sync per the fsync policy).",
      log.commitMicrosLast / US_PER_SECOND,
    ],
    [
      'inventory_log_commit_max_seconds',
      'Longest log commit since the node started.',
      log.commitMicrosMax / US_PER_SECOND,
    ],
    [
      'inventory_log_batch_records_last',
      "Records in the log writer's last group commit.",
      log.batchRecordsLast,
    ],
  ];
  writeScalars(out, 'gauge', gauges);
}

function renderNode(out: PrometheusWriter, main: MainStats): void {
  const gauges: [string, string, number][] = [
    ['inventory_ready', 'Whether the node is ready (1) to serve.', main.ready ? 1 : 0],
    ['inventory_workers', 'Worker threads serving connections.', main.workers],
    ['inventory_workers_listening', 'Worker threads listening.', main.workersListening],
    ['inventory_uptime_seconds', 'Seconds since the node started.', main.uptimeSeconds],
    [
      'process_resident_memory_bytes',
      'Resident memory of the node process (all threads).',
      main.memory.rss,
    ],
    ['nodejs_heap_used_bytes', 'JavaScript heap in use on the main thread.', main.memory.heapUsed],
    [
      'nodejs_external_memory_bytes',
      'Memory outside the JavaScript heap (shared stock, buffers).',
      main.memory.external,
    ],
  ];
  writeScalars(out, 'gauge', gauges);
}

/** Families of one unlabelled sample each: [name, help, value]. */
function writeScalars(
  out: PrometheusWriter,
  type: 'gauge' | 'counter',
  rows: readonly [string, string, number][],
): void {
  for (const [name, help, value] of rows) {
    out.family(name, type, help);
    out.sample(name, null, value);
  }
}

function renderSnapshots(out: PrometheusWriter, snapshots: SnapshotStats): void {
  const counters: [string, string, number][] = [
    [
      'inventory_snapshots_started_total',
      'Snapshots the node started (folding the log in a background thread).',
      snapshots.taken + snapshots.failed + (snapshots.running ? 1 : 0),
    ],
    ['inventory_snapshots_total', 'Snapshots taken (written, the log compacted).', snapshots.taken],
    ['inventory_snapshot_failures_total', 'Snapshots that failed.', snapshots.failed],
  ];
  writeScalars(out, 'counter', counters);
  const gauges: [string, string, number][] = [
    [
      'inventory_snapshot_running',
      'Whether a snapshot is being taken (1) now.',
      snapshots.running ? 1 : 0,
    ],
    [
      'inventory_snapshot_last_duration_seconds',
      'Duration of the last snapshot that finished.',
      snapshots.lastSeconds,
    ],
  ];
  writeScalars(out, 'gauge', gauges);
}

function renderThreads(out: PrometheusWriter, threads: readonly ThreadCpuSample[]): void {
  if (threads.length === 0) return;
  const name = 'inventory_thread_cpu_seconds_total';
  out.family(
    name,
    'counter',
    'CPU time by thread and mode: main, each worker, the log writer, and other (the rest of ' +
      'the process: V8 helpers, GC, libuv, snapshots).',
  );
  for (const { thread, userSeconds, systemSeconds } of threads) {
    out.sample(name, { thread, mode: 'user' }, userSeconds);
    out.sample(name, { thread, mode: 'system' }, systemSeconds);
  }
}

/**
 * A worker thread's metrics recorder: per operation and transport, an HDR histogram of request
 * latency (microseconds), counts per latency bucket (LATENCY_BUCKET_BOUNDS_US, for Prometheus
 * histograms) and counts by outcome (ok or error code). Everything is allocated at start: one
 * histogram per (op, transport) "series", typed arrays for counts and sums, so recording a
 * request allocates nothing.
 *
 * Cost per request: answers computed while a WebSocket frame is processed all leave with the
 * frame's answers, so they share one latency, read once at the frame's end (`endFrame`): such a
 * request costs two array increments, and its frame one clock read and one histogram record per
 * op. An answer that completes later (a mutation waiting for durability, an HTTP request) takes
 * a clock read and a histogram record of its own (`observe`).
 *
 * Histograms hold the current interval only: the main thread asks for a report every
 * METRICS_COLLECT_INTERVAL_MS (and on each /metrics scrape), which encodes the histograms that
 * changed and resets them. Counts, bucket counts and latency sums are cumulative since the thread
 * started, so a lost report loses no count, and the main thread merges threads by adding them.
 * The HDR histograms give exact quantiles of the recent window for the live view; the buckets
 * give what Prometheus can add across threads, nodes and time (histogram_quantile).
 *
 * Invariants: every histogram is built with `latencyHistogramOptions` (so any two merge
 * exactly); values are clamped to [1, LATENCY_US_MAX] µs, so a stall past the range counts as
 * the maximum instead of throwing.
 */

import { performance } from 'node:perf_hooks';
import {
  type BuildRequest,
  build,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js';
import { ERROR_CODE_LIST, type Op, OP_LIST } from '../protocol/index.js';
import { LATENCY_US_MAX } from './constants.js';

export const TRANSPORTS = ['ws', 'http'] as const;
export type TransportName = (typeof TRANSPORTS)[number];
export const TRANSPORT_WS = 0;
export const TRANSPORT_HTTP = 1;
export type Transport = typeof TRANSPORT_WS | typeof TRANSPORT_HTTP;

/** Outcomes a request is counted under: `ok`, or the code of its error answer. */
export const OUTCOMES: readonly string[] = ['ok', ...ERROR_CODE_LIST];
const OUTCOME_INDEX = new Map(OUTCOMES.map((outcome, index) => [outcome, index]));
const OUTCOME_INTERNAL = OUTCOME_INDEX.get('INTERNAL')!;

const OP_INDEX = new Map<string, number>(OP_LIST.map((op, index) => [op, index]));
export const SERIES_COUNT = OP_LIST.length * TRANSPORTS.length;

/** The series (op, transport) index used by every array here. */
export function seriesOf(op: Op, transport: Transport): number {
  return OP_INDEX.get(op)! * TRANSPORTS.length + transport;
}

export function seriesLabels(series: number): { op: Op; transport: TransportName } {
  return {
    op: OP_LIST[Math.floor(series / TRANSPORTS.length)],
    transport: TRANSPORTS[series % TRANSPORTS.length],
  };
}

/**
 * Three significant digits (0.1% resolution), 1 µs to a minute, 32-bit counts (an interval
 * never holds 2^32 samples in one bucket), plain JavaScript (no WebAssembly to load per thread).
 */
export const latencyHistogramOptions: Readonly<BuildRequest> = {
  bitBucketSize: 32,
  autoResize: false,
  lowestDiscernibleValue: 1,
  highestTrackableValue: LATENCY_US_MAX,
  numberOfSignificantValueDigits: 3,
  useWebAssembly: false,
};

/** Whole microseconds from `startMs` to `nowMs`, clamped into the histograms' range. */
function latencyUsSince(nowMs: number, startMs: number): number {
  const latencyUs = Math.round((nowMs - startMs) * 1000);
  if (latencyUs < 1) return 1;
  return Math.min(latencyUs, LATENCY_US_MAX);
}

/**
 * Upper bounds (inclusive, µs) of the request latency buckets, the `le` labels of
 * `inventory_request_duration_seconds_bucket`. Chosen for this engine: a request answered
 * within its WebSocket frame takes tens of microseconds, an HTTP read about a hundred, a
 * durable order one group commit (16 µs to 1 ms with `--fsync write`, 0.5 to 10 ms with
 * `fsync`), and a stalled disk or a long GC pause up to seconds. A 1-2-5 ladder from 20 µs to
 * 2 s covers that in 16 buckets (each bound 2 to 2.5 times the last, so histogram_quantile is
 * within a bucket's width), and puts a bound exactly on each latency bar of the README
 * (availability p99 ≤ 2 ms, orders p99 ≤ 5 ms): an alert at a bar then fires exactly when more
 * than 1 % of requests were slower than it, with no interpolation error.
 */
export const LATENCY_BUCKET_BOUNDS_US: readonly number[] = [
  20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
  1_000_000, 2_000_000,
];
/** Buckets per series: one per bound, and one past the last (the `+Inf` bucket's own part). */
export const LATENCY_BUCKETS = LATENCY_BUCKET_BOUNDS_US.length + 1;

/** The bucket of a latency: the first whose bound is at least it, or the one past the last. */
export function latencyBucketOf(latencyUs: number): number {
  let bucket = 0;
  while (bucket < LATENCY_BUCKET_BOUNDS_US.length && latencyUs > LATENCY_BUCKET_BOUNDS_US[bucket]) {
    bucket++;
  }
  return bucket;
}

export function createLatencyHistogram(): Histogram {
  return build({ ...latencyHistogramOptions });
}

/** What a worker reports to the main thread (structured-cloneable). */
export interface MetricsReport {
  thread: number;
  /** Cumulative counts, index series × OUTCOMES.length + outcome. */
  outcomes: Float64Array;
  /** Cumulative latency sums in µs, per series. */
  latencySumsUs: Float64Array;
  /**
   * Cumulative requests per latency bucket, index series × LATENCY_BUCKETS + bucket; each
   * bucket counts its own range only (the renderer adds them up for `le`).
   */
  latencyBuckets: Float64Array;
  /** The histograms of the interval since the last report, for the series that recorded. */
  histograms: { series: number; encoded: string }[];
  /** Cumulative totals (order events by type, pushes, connections opened...). */
  totals: Record<string, number>;
  /** Current values (open connections, subscriptions by kind...). */
  gauges: Record<string, number>;
}

export class ThreadMetrics {
  private readonly histograms: Histogram[] = [];
  private readonly recorded = new Uint8Array(SERIES_COUNT);
  private readonly outcomes = new Float64Array(SERIES_COUNT * OUTCOMES.length);
  private readonly latencySumsUs = new Float64Array(SERIES_COUNT);
  private readonly latencyBuckets = new Float64Array(SERIES_COUNT * LATENCY_BUCKETS);
  /** Answers of the current frame per WebSocket series, and which series have some. */
  private readonly frameCounts = new Uint32Array(OP_LIST.length);
  private readonly frameOps = new Int32Array(OP_LIST.length);
  private frameOpCount = 0;

  constructor(
    readonly thread: number,
    /** A monotonic clock in milliseconds (performance.now). */
    readonly now: () => number = () => performance.now(),
  ) {
    for (let series = 0; series < SERIES_COUNT; series++) {
      this.histograms.push(createLatencyHistogram());
    }
  }

  /**
   * Counts one answered request: its op, transport, error code (null when ok) and the time it
   * took since `startMs` (a reading of `now`).
   */
  observe(op: Op, transport: Transport, code: string | null, startMs: number): void {
    const series = OP_INDEX.get(op)! * TRANSPORTS.length + transport;
    this.countOutcome(series, code);
    this.record(series, latencyUsSince(this.now(), startMs), 1);
  }

  /** Counts a WebSocket answer ready within the current frame; `endFrame` records its latency. */
  answeredInFrame(op: Op, code: string | null): void {
    const opIndex = OP_INDEX.get(op)!;
    this.countOutcome(opIndex * TRANSPORTS.length + TRANSPORT_WS, code);
    if (this.frameCounts[opIndex]++ === 0) this.frameOps[this.frameOpCount++] = opIndex;
  }

  /** Records the frame's answers with the frame's latency: from `startMs` to now. */
  endFrame(startMs: number): void {
    if (this.frameOpCount === 0) return;
    const latencyUs = latencyUsSince(this.now(), startMs);
    for (let at = 0; at < this.frameOpCount; at++) {
      const opIndex = this.frameOps[at];
      this.record(opIndex * TRANSPORTS.length + TRANSPORT_WS, latencyUs, this.frameCounts[opIndex]);
      this.frameCounts[opIndex] = 0;
    }
    this.frameOpCount = 0;
  }

  private countOutcome(series: number, code: string | null): void {
    const outcome = code === null ? 0 : (OUTCOME_INDEX.get(code) ?? OUTCOME_INTERNAL);
    this.outcomes[series * OUTCOMES.length + outcome]++;
  }

  private record(series: number, latencyUs: number, count: number): void {
    this.latencySumsUs[series] += latencyUs * count;
    this.latencyBuckets[series * LATENCY_BUCKETS + latencyBucketOf(latencyUs)] += count;
    if (count === 1) this.histograms[series].recordValue(latencyUs);
    else this.histograms[series].recordValueWithCount(latencyUs, count);
    this.recorded[series] = 1;
  }

  /** Encodes and resets the interval's histograms; copies the cumulative counts. */
  report(totals: Record<string, number>, gauges: Record<string, number>): MetricsReport {
    const histograms: MetricsReport['histograms'] = [];
    for (let series = 0; series < SERIES_COUNT; series++) {
      if (this.recorded[series] === 0) continue;
      histograms.push({ series, encoded: encodeIntoCompressedBase64(this.histograms[series]) });
      this.histograms[series].reset();
      this.recorded[series] = 0;
    }
    return {
      thread: this.thread,
      outcomes: this.outcomes.slice(),
      latencySumsUs: this.latencySumsUs.slice(),
      latencyBuckets: this.latencyBuckets.slice(),
      histograms,
      totals,
      gauges,
    };
  }
}

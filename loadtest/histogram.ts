/**
 * Latency histograms for the load tests: one HDR histogram per op type, recorded in
 * microseconds, encoded as compressed base64 to cross process boundaries, merged, summarised
 * and sampled on a "nines" percentile scale for the latency plots.
 *
 * Invariants: every histogram here is built with the same explicit options (so any two can be
 * merged exactly); values are clamped into [1 µs, LATENCY_US_MAX] before recording, so a stall
 * longer than the trackable range still counts (as the maximum) instead of throwing.
 */

import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js';

/** Longest latency tracked exactly: a minute, far past any timeout the load tests use. */
export const LATENCY_US_MAX = 60_000_000;
/** Three significant digits: 0.1% resolution at every magnitude. */
const SIGNIFICANT_DIGITS = 3;
/** Counts per bucket: int32 holds 2 billion samples per bucket, more than any bounded run. */
const BIT_BUCKET_SIZE = 32;
/** Points of the nines-scale percentile series per decade (one decade = one more nine). */
const SERIES_POINTS_PER_DECADE = 20;

export function createLatencyHistogram(): Histogram {
  return build({
    bitBucketSize: BIT_BUCKET_SIZE,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: LATENCY_US_MAX,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    useWebAssembly: false,
  });
}

/** Records one latency given in (fractional) microseconds. */
/** Records a latency (µs), clamped to the histogram's range, `count` times (a batch's entries). */
export function recordLatencyUs(histogram: Histogram, latencyUs: number, count = 1): void {
  const value = Math.min(LATENCY_US_MAX, Math.max(1, latencyUs));
  histogram.recordValueWithCount(Math.round(value), count);
}

export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

/** A histogram from `encodeHistogram`, copied into one with this module's options. */
export function decodeHistogram(encoded: string): Histogram {
  const decoded = decodeFromCompressedBase64(encoded, BIT_BUCKET_SIZE, false, LATENCY_US_MAX);
  const histogram = createLatencyHistogram();
  histogram.add(decoded);
  return histogram;
}

/** One histogram holding every sample of `parts` (base64 or histograms). */
export function mergeHistograms(parts: readonly (string | Histogram)[]): Histogram {
  const merged = createLatencyHistogram();
  for (const part of parts) merged.add(typeof part === 'string' ? decodeHistogram(part) : part);
  return merged;
}

/**
 * Percentiles in milliseconds. `max` is the top of the highest bucket (within 0.1% above the
 * largest sample), which stays the same when histograms are merged, unlike the exact maximum.
 */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

const US_PER_MS = 1000;

export function summarize(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) {
    return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  }
  return {
    count: histogram.totalCount,
    p50: histogram.getValueAtPercentile(50) / US_PER_MS,
    p90: histogram.getValueAtPercentile(90) / US_PER_MS,
    p99: histogram.getValueAtPercentile(99) / US_PER_MS,
    p999: histogram.getValueAtPercentile(99.9) / US_PER_MS,
    max: histogram.getValueAtPercentile(100) / US_PER_MS,
    mean: histogram.mean / US_PER_MS,
  };
}

export interface PercentilePoint {
  /** Percentile in [0, 100). */
  percentile: number;
  /** Nines: -log10(1 - percentile / 100); 1 is p90, 2 is p99, 3 is p99.9. */
  nines: number;
  latencyMs: number;
}

/**
 * The latency at evenly spaced points of the nines scale, from p0 up to the last percentile
 * the sample count can resolve (1 - 1/count), then the maximum.
 */
export function percentileSeries(histogram: Histogram): PercentilePoint[] {
  const count = histogram.totalCount;
  if (count === 0) return [];
  const ninesMax = Math.log10(count);
  const steps = Math.ceil(ninesMax * SERIES_POINTS_PER_DECADE);
  const points: PercentilePoint[] = [];
  for (let step = 0; step < steps; step++) {
    const nines = step / SERIES_POINTS_PER_DECADE;
    const percentile = 100 * (1 - 10 ** -nines);
    points.push({
      percentile,
      nines,
      latencyMs: histogram.getValueAtPercentile(percentile) / US_PER_MS,
    });
  }
  points.push({
    percentile: 100 * (1 - 1 / count),
    nines: ninesMax,
    latencyMs: histogram.getValueAtPercentile(100) / US_PER_MS,
  });
  return points;
}

/** `1.234` → `'1.23'`: milliseconds with three significant figures, as the histogram has. */
export function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

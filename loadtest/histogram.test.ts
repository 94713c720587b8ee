import { describe, expect, it } from 'vitest';
import { describeSeed, Prng, seedFromEnv } from '../engine/testing/index.js';
import {
  createLatencyHistogram,
  decodeHistogram,
  encodeHistogram,
  LATENCY_US_MAX,
  mergeHistograms,
  percentileSeries,
  recordLatencyUs,
  summarize,
} from './histogram.js';

describe('latency histograms', () => {
  it('merges encoded parts into exactly the histogram of all samples', () => {
    const seed = seedFromEnv(7);
    const prng = new Prng(seed);
    const whole = createLatencyHistogram();
    const parts = [createLatencyHistogram(), createLatencyHistogram(), createLatencyHistogram()];
    for (let sample = 0; sample < 30_000; sample++) {
      // Log-uniform over 10 µs .. 1 s, like a latency distribution with a long tail.
      const latencyUs = 10 * 10 ** (prng.next() * 5);
      recordLatencyUs(whole, latencyUs);
      recordLatencyUs(parts[prng.int(parts.length)], latencyUs);
    }
    const merged = mergeHistograms(parts.map(encodeHistogram));
    const context = describeSeed(seed);
    expect(merged.totalCount, context).toBe(whole.totalCount);
    for (const percentile of [1, 50, 90, 99, 99.9, 99.99, 100]) {
      expect(merged.getValueAtPercentile(percentile), `${context} p${percentile}`).toBe(
        whole.getValueAtPercentile(percentile),
      );
    }
    expect(summarize(merged), context).toEqual(summarize(whole));
  });

  it('round-trips through base64 and accepts histograms and strings alike', () => {
    const histogram = createLatencyHistogram();
    for (let value = 1; value <= 1000; value++) recordLatencyUs(histogram, value);
    const decoded = decodeHistogram(encodeHistogram(histogram));
    expect(decoded.totalCount).toBe(1000);
    expect(summarize(decoded)).toEqual(summarize(histogram));
    const mixed = mergeHistograms([histogram, encodeHistogram(histogram)]);
    expect(mixed.totalCount).toBe(2000);
    expect(mixed.getValueAtPercentile(50)).toBe(500);
  });

  it('clamps values outside the trackable range instead of throwing', () => {
    const histogram = createLatencyHistogram();
    recordLatencyUs(histogram, 0);
    recordLatencyUs(histogram, -5);
    recordLatencyUs(histogram, LATENCY_US_MAX * 10);
    expect(histogram.totalCount).toBe(3);
    expect(histogram.getValueAtPercentile(50)).toBe(1);
    expect(summarize(histogram).max).toBeGreaterThanOrEqual(LATENCY_US_MAX / 1000 - 60);
  });

  it('summarises in milliseconds and samples the nines scale up to the maximum', () => {
    const histogram = createLatencyHistogram();
    for (let value = 1; value <= 10_000; value++) recordLatencyUs(histogram, value * 10);
    const summary = summarize(histogram);
    expect(summary.count).toBe(10_000);
    expect(summary.p50).toBeCloseTo(50, 0);
    expect(summary.p99).toBeCloseTo(99, 0);
    expect(summary.max).toBeCloseTo(100, 0);
    const series = percentileSeries(histogram);
    expect(series[0].nines).toBe(0);
    expect(series.at(-1)!.nines).toBeCloseTo(4, 6);
    expect(series.at(-1)!.latencyMs).toBe(summary.max);
    for (let index = 1; index < series.length; index++) {
      expect(series[index].nines).toBeGreaterThan(series[index - 1].nines);
      expect(series[index].latencyMs).toBeGreaterThanOrEqual(series[index - 1].latencyMs);
    }
    expect(summarize(createLatencyHistogram()).count).toBe(0);
    expect(percentileSeries(createLatencyHistogram())).toEqual([]);
  });
});

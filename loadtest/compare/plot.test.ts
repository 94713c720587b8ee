import { describe, expect, it } from 'vitest';
import { createLatencyHistogram, percentileSeries, recordLatencyUs } from '../histogram.js';
import { htmlReport, svgChart } from './plot.js';

function series(label: string, scaleUs: number) {
  const histogram = createLatencyHistogram();
  for (let value = 1; value <= 5_000; value++) recordLatencyUs(histogram, value * scaleUs);
  return { label, points: percentileSeries(histogram) };
}

describe('HDR percentile plot', () => {
  it('draws one line per system, a nines axis and a log latency axis', () => {
    const svg = svgChart({
      title: 'orders <hot>',
      series: [series('engine', 0.2), series('postgres & co', 80)],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    // 5,000 samples resolve up to p99.98: the axis runs to four nines.
    for (const label of ['p0', 'p90', 'p99', 'p99.9', 'p99.99'])
      expect(svg).toContain(`>${label}<`);
    expect(svg).toContain('>0.01 ms<');
    expect(svg).toContain('>1000 ms<');
    expect(svg).toContain('orders &lt;hot&gt;');
    expect(svg).toContain('postgres &amp; co');
    for (const match of svg.matchAll(/points="([^"]+)"/g)) {
      const coordinates = match[1].split(' ').map((pair) => pair.split(',').map(Number));
      for (const [x, y] of coordinates) {
        expect(Number.isFinite(x) && Number.isFinite(y)).toBe(true);
        expect(x >= 0 && x <= 900 && y >= 0 && y <= 420).toBe(true);
      }
      for (let index = 1; index < coordinates.length; index++) {
        // Later percentiles are to the right and never faster (higher on screen is slower).
        expect(coordinates[index][0]).toBeGreaterThan(coordinates[index - 1][0]);
        expect(coordinates[index][1]).toBeLessThanOrEqual(coordinates[index - 1][1]);
      }
    }
  });

  it('wraps charts in a self-contained page', () => {
    const page = htmlReport('side by side', ['a < b'], [{ title: 't', series: [] }]);
    expect(page).toContain('<!doctype html>');
    expect(page).toContain('a &lt; b');
    expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });
});

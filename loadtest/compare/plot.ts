/**
 * The comparison's latency picture: an HTML page with one inline SVG chart per scenario, each
 * an HDR percentile plot (x: percentile on a "nines" scale, 0 → p0, 1 → p90, 2 → p99, ...;
 * y: latency in ms on a log scale, so 0.5 ms and 500 ms fit one chart) with a line per system.
 * No script and no external resources: the file opens anywhere.
 */

import type { PercentilePoint } from '../histogram.js';

const WIDTH = 900;
const PLOT_HEIGHT = 380;
/** Legend rows go under the axis label, so they never hide a line. */
const LEGEND_ROW_HEIGHT = 18;
const MARGIN = { left: 70, right: 45, top: 30 };
const PALETTE = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d'];
/** Lowest latency shown: below this a log axis would spend its height on noise. */
const LATENCY_MS_FLOOR = 0.01;

export interface PlotSeries {
  label: string;
  points: PercentilePoint[];
}

export interface PlotChart {
  title: string;
  series: PlotSeries[];
}

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

function ninesLabel(nines: number): string {
  if (nines === 0) return 'p0';
  const percentile = 100 * (1 - 10 ** -nines);
  return `p${Number(percentile.toFixed(nines))}`;
}

function msLabel(ms: number): string {
  return ms >= 1 ? `${ms} ms` : `${Number(ms.toPrecision(1))} ms`;
}

/** One chart as an SVG element. */
export function svgChart(chart: PlotChart): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PLOT_HEIGHT;
  const axisLabelY = MARGIN.top + plotHeight + 40;
  const height = axisLabelY + 10 + chart.series.length * LEGEND_ROW_HEIGHT + 10;
  const all = chart.series.flatMap((series) => series.points);
  const ninesMax = Math.max(1, Math.ceil(Math.max(0, ...all.map((point) => point.nines))));
  const latencies = all.map((point) => Math.max(LATENCY_MS_FLOOR, point.latencyMs));
  const decadeLow = Math.floor(Math.log10(Math.min(1, ...latencies)));
  const decadeHigh = Math.max(decadeLow + 1, Math.ceil(Math.log10(Math.max(1, ...latencies))));
  const x = (nines: number) => MARGIN.left + (nines / ninesMax) * plotWidth;
  const y = (ms: number) => {
    const decade = Math.log10(Math.max(LATENCY_MS_FLOOR, ms));
    return MARGIN.top + plotHeight * (1 - (decade - decadeLow) / (decadeHigh - decadeLow));
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="15">` +
      `${escapeXml(chart.title)}</text>`,
  ];
  const bottom = MARGIN.top + plotHeight;
  const right = MARGIN.left + plotWidth;
  for (let nines = 0; nines <= ninesMax; nines++) {
    const at = x(nines).toFixed(1);
    parts.push(
      `<line x1="${at}" y1="${MARGIN.top}" x2="${at}" y2="${bottom}" stroke="#ddd"/>`,
      `<text x="${at}" y="${bottom + 18}" text-anchor="middle">${ninesLabel(nines)}</text>`,
    );
  }
  for (let decade = decadeLow; decade <= decadeHigh; decade++) {
    const at = y(10 ** decade).toFixed(1);
    parts.push(
      `<line x1="${MARGIN.left}" y1="${at}" x2="${right}" y2="${at}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${at}" text-anchor="end" dominant-baseline="middle">` +
        `${msLabel(10 ** decade)}</text>`,
    );
  }
  parts.push(
    `<text x="${MARGIN.left + plotWidth / 2}" y="${axisLabelY}" text-anchor="middle">` +
      'percentile</text>',
    `<text transform="translate(16 ${MARGIN.top + plotHeight / 2}) rotate(-90)" ` +
      `text-anchor="middle">latency (log scale)</text>`,
  );
  chart.series.forEach((series, index) => {
    const color = PALETTE[index % PALETTE.length];
    const path = series.points
      .map((point) => `${x(point.nines).toFixed(1)},${y(point.latencyMs).toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${path}"/>`);
    const legendY = axisLabelY + 20 + index * LEGEND_ROW_HEIGHT;
    parts.push(
      `<rect x="${MARGIN.left + 10}" y="${legendY - 6}" width="14" height="4" fill="${color}"/>`,
      `<text x="${MARGIN.left + 30}" y="${legendY}" dominant-baseline="middle">` +
        `${escapeXml(series.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** A self-contained HTML page: a title, notes, then one chart per scenario. */
export function htmlReport(title: string, notes: readonly string[], charts: readonly PlotChart[]) {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeXml(title)}</title>`,
    '<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}' +
      'pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style>',
    '</head><body>',
    `<h1>${escapeXml(title)}</h1>`,
    `<pre>${escapeXml(notes.join('\n'))}</pre>`,
    ...charts.map((chart) => `<figure>${svgChart(chart)}</figure>`),
    '</body></html>',
    '',
  ].join('\n');
}

/**
 * The stats table from two scrapes: throughput from the count difference, error rate, the
 * node's quantiles in milliseconds, rows ordered by throughput, and the rendered columns.
 */

import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../edge/index.js';
import { renderTable, summarize } from './stats.js';

function scrape(orders: number, errors: number, reads: number): string {
  return `# TYPE inventory_requests_total counter
inventory_requests_total{op="placeOrder",transport="ws",outcome="ok"} ${orders - errors}
inventory_requests_total{op="placeOrder",transport="ws",outcome="OUT_OF_STOCK"} ${errors}
inventory_requests_total{op="availability",transport="http",outcome="ok"} ${reads}
# TYPE inventory_stock_outs_total counter
inventory_stock_outs_total ${errors}
# TYPE inventory_request_latency_seconds summary
inventory_request_latency_seconds{op="placeOrder",transport="ws",quantile="0.5"} 0.0012
inventory_request_latency_seconds{op="placeOrder",transport="ws",quantile="0.9"} 0.002
inventory_request_latency_seconds{op="placeOrder",transport="ws",quantile="0.99"} 0.004
inventory_request_latency_seconds{op="placeOrder",transport="ws",quantile="0.999"} 0.009
inventory_request_latency_seconds_sum{op="placeOrder",transport="ws"} 3
inventory_request_latency_seconds_count{op="placeOrder",transport="ws"} ${orders}
inventory_request_latency_seconds{op="availability",transport="http",quantile="0.5"} NaN
inventory_request_latency_seconds_count{op="availability",transport="http"} ${reads}
# TYPE inventory_request_latency_max_seconds gauge
inventory_request_latency_max_seconds{op="placeOrder",transport="ws"} 0.011
# TYPE inventory_ready gauge
inventory_ready 1
# TYPE inventory_ws_connections gauge
inventory_ws_connections{thread="0"} 3
inventory_ws_connections{thread="1"} 4
`;
}

describe('stats', () => {
  it('computes rates between scrapes and takes the quantiles as they are', () => {
    const before = parsePrometheusText(scrape(1_000, 10, 5_000));
    const now = parsePrometheusText(scrape(3_000, 30, 5_500));
    const first = summarize(null, before, 0);
    expect(first.rows.map((row) => row.rate)).toEqual([null, null]);
    const summary = summarize(before, now, 2);
    expect(summary.connections).toBe(7);
    expect(summary.ready).toBe(1);
    expect(summary.stockOutRate).toBe(10);
    expect(summary.rows[0]).toMatchObject({
      op: 'placeOrder',
      transport: 'ws',
      rate: 1_000,
      errorRate: 10,
      count: 3_000,
      p50Ms: 1.2,
      p99Ms: 4,
      p999Ms: 9,
      maxMs: 11,
    });
    expect(summary.rows[1]).toMatchObject({ op: 'availability', rate: 250, errorRate: 0 });
    expect(Number.isNaN(summary.rows[1].p50Ms)).toBe(true);
    const table = renderTable(summary, 'http://node', new Date(0));
    expect(table).toContain('ready yes  connections 7');
    expect(table).toMatch(
      /^placeOrder\s+ws\s+1000\s+10\s+1\.200\s+4\.000\s+9\.000\s+11\.000\s+3000$/m,
    );
    expect(table).toMatch(/^availability\s+http\s+250\s+0\s+-\s+-\s+-\s+-\s+5500$/m);
  });
});

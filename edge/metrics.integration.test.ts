/**
 * `/metrics` on a real node: the text is valid Prometheus exposition format 0.0.4 (checked by
 * a small strict parser written here, independent of the node's own), the request counts match
 * exactly the operations this test made over WebSocket and HTTP, latency summaries are merged
 * across both worker threads, the latency and log histograms are well formed (cumulative
 * buckets, `+Inf` equal to `_count`) and agree with the counts, the endpoint needs a key unless
 * opened, `--no-metrics` turns it off, and the `stats` command renders a table from it.
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryClient } from '../protocol/client/index.js';
import { http, startTestNode, type TestNode } from './testing/harness.js';

const HERE = { lat: 60.1699, lng: 24.9384 };

// A strict reading of the text format, as a scraper does it.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/;
const TYPES = new Set(['counter', 'gauge', 'summary', 'histogram', 'untyped']);

function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  expect(text.endsWith('\n'), 'text ends with a newline').toBe(true);
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const closed = new Set<string>();
  let family = '';
  for (const line of text.slice(0, -1).split('\n')) {
    const type = new RegExp(`^# TYPE (${NAME}) (\\w+)$`).exec(line);
    if (type !== null) {
      expect(TYPES.has(type[2]), line).toBe(true);
      expect(types.has(type[1]), `${type[1]} typed twice`).toBe(false);
      if (family !== '') closed.add(family);
      family = type[1];
      types.set(family, type[2]);
      continue;
    }
    if (line.startsWith('#')) {
      expect(line, 'a comment is HELP or TYPE').toMatch(new RegExp(`^# HELP ${NAME} .*$`));
      continue;
    }
    const match = SAMPLE_LINE.exec(line);
    expect(match, `sample line: ${line}`).not.toBeNull();
    const [, name, labelText = '', valueText] = match!;
    const suffixed = name.replace(/_(sum|count|bucket)$/, '');
    const owner = name === family ? family : suffixed === family ? family : null;
    expect(owner, `${name} belongs to the family above it (${family})`).not.toBeNull();
    expect(closed.has(owner!), `${owner} samples are contiguous`).toBe(false);
    const labels: Record<string, string> = {};
    let rest = labelText;
    while (rest.length > 0) {
      const label = LABEL.exec(rest);
      expect(label, `labels of ${line}`).not.toBeNull();
      labels[label![1]] = label![2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
      rest = rest.slice(label![0].length);
    }
    const value =
      valueText === 'NaN' ? Number.NaN : Number(valueText.replace(/^\+Inf$/, 'Infinity'));
    expect(valueText === 'NaN' || !Number.isNaN(value), `value of ${line}`).toBe(true);
    if (types.get(owner!) === 'summary' && name === owner) {
      expect(['0.5', '0.9', '0.99', '0.999']).toContain(labels.quantile);
    }
    if (name.endsWith('_bucket') && name !== owner) {
      expect(types.get(owner!), `${name} is a histogram's bucket`).toBe('histogram');
      expect(labels.le, `${line} has an le`).toMatch(/^(\+Inf|\d+(\.\d+)?(e-?\d+)?)$/);
    }
    samples.push({ name, labels, value });
  }
  return { samples, types };
}

/**
 * Every series of every histogram: buckets in increasing `le`, counts that never decrease,
 * `+Inf` last and equal to `_count`, and a `_sum`.
 */
function checkHistograms(samples: Sample[], types: Map<string, string>): number {
  let checked = 0;
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const sample of samples) {
      if (sample.name !== `${family}_bucket`) continue;
      const { le: _, ...rest } = sample.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), sample]);
    }
    for (const [key, buckets] of series) {
      const les = buckets.map((bucket) => Number(bucket.labels.le.replace('+Inf', 'Infinity')));
      expect(les.at(-1), `${family} ${key} ends with +Inf`).toBe(Number.POSITIVE_INFINITY);
      for (let index = 1; index < buckets.length; index++) {
        expect(les[index]).toBeGreaterThan(les[index - 1]);
        expect(buckets[index].value).toBeGreaterThanOrEqual(buckets[index - 1].value);
      }
      const labels = JSON.parse(key) as Record<string, string>;
      expect(sampleSum(samples, `${family}_count`, labels), `${family} ${key} count`).toBe(
        buckets.at(-1)!.value,
      );
      expect(samples.some((sample) => sample.name === `${family}_sum`)).toBe(true);
      checked++;
    }
  }
  return checked;
}

function sampleSum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (sample) =>
      sample.name === name &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  return found.reduce((sum, sample) => sum + sample.value, 0);
}

let test: TestNode;
const clients: InventoryClient[] = [];

async function connect(key: string): Promise<InventoryClient> {
  const client = await InventoryClient.connect(test.node.wsUrl, { apiKey: key, reconnect: false });
  clients.push(client);
  return client;
}

async function scrape(node: TestNode = test, key: string | null = node.keys.reader) {
  const answer = await http(node.node.port, '/metrics', { key });
  return answer;
}

beforeAll(async () => {
  test = await startTestNode();
  const admin = await connect(test.keys.admin);
  await admin.upsertDc({ id: 'hel-1', name: 'Helsinki 1', location: HERE, radiusKm: 5 });
  await admin.upsertSku({ id: 'salmiakki', name: 'Salmiakki' });
  await admin.receive({ dc: 'hel-1', sku: 'salmiakki', qty: 100 });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await test?.stop();
});

describe('/metrics', () => {
  it('is Prometheus text whose counts match the operations made', async () => {
    const first = await scrape();
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const before = parseExposition(first.text).samples;
    // Several connections, so both worker threads serve some of the requests.
    const readers = await Promise.all(Array.from({ length: 6 }, () => connect(test.keys.reader)));
    const orderers = await Promise.all(Array.from({ length: 3 }, () => connect(test.keys.orderer)));
    for (let index = 0; index < 30; index++) {
      await readers[index % readers.length].availability({ ...HERE, skus: ['salmiakki'] });
    }
    const line = [{ sku: 'salmiakki', qty: 1 }];
    for (let index = 0; index < 9; index++) {
      const client = orderers[index % orderers.length];
      await client.placeOrder({
        orderId: `m-${index}`,
        location: HERE,
        lines: line,
        mode: 'commit',
      });
    }
    const tooMany = [{ sku: 'salmiakki', qty: 1_000 }];
    for (let index = 0; index < 4; index++) {
      await expect(
        orderers[0].placeOrder({
          orderId: `m-x${index}`,
          location: HERE,
          lines: tooMany,
          mode: 'commit',
        }),
      ).rejects.toMatchObject({ code: 'OUT_OF_STOCK' });
    }
    await expect(
      readers[0].placeOrder({ orderId: 'm-f', location: HERE, lines: line, mode: 'commit' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    for (let index = 0; index < 5; index++) {
      const answer = await http(test.node.port, '/v1/stock?dc=hel-1&sku=salmiakki', {
        key: test.keys.reader,
      });
      expect(answer.status).toBe(200);
    }
    expect((await http(test.node.port, '/v1/stock?dc=hel-1&sku=salmiakki', {})).status).toBe(401);

    const second = await scrape();
    const { samples, types } = parseExposition(second.text);
    const delta = (name: string, labels: Record<string, string>) =>
      sampleSum(samples, name, labels) - sampleSum(before, name, labels);
    const requests = 'inventory_request_latency_seconds';
    expect(types.get('inventory_requests_total')).toBe('counter');
    expect(types.get(requests)).toBe('summary');
    const ws = { transport: 'ws' };
    expect(delta('inventory_requests_total', { op: 'availability', ...ws, outcome: 'ok' })).toBe(
      30,
    );
    expect(delta('inventory_requests_total', { op: 'placeOrder', ...ws, outcome: 'ok' })).toBe(9);
    expect(
      delta('inventory_requests_total', { op: 'placeOrder', ...ws, outcome: 'OUT_OF_STOCK' }),
    ).toBe(4);
    expect(
      delta('inventory_requests_total', { op: 'placeOrder', ...ws, outcome: 'FORBIDDEN' }),
    ).toBe(1);
    expect(delta('inventory_requests_total', { op: 'hello', ...ws, outcome: 'ok' })).toBe(9);
    const httpStock = { op: 'getStock', transport: 'http' };
    expect(delta('inventory_requests_total', { ...httpStock, outcome: 'ok' })).toBe(5);
    expect(delta('inventory_requests_total', { ...httpStock, outcome: 'UNAUTHORIZED' })).toBe(1);
    expect(delta('inventory_stock_outs_total', {})).toBe(4);
    expect(delta(`${requests}_count`, { op: 'placeOrder', ...ws })).toBe(14);
    expect(delta(`${requests}_count`, httpStock)).toBe(6);
    expect(delta(`${requests}_sum`, { op: 'placeOrder', ...ws })).toBeGreaterThan(0);
    // The quantiles of the window, merged over both threads, in order, under the maximum.
    const quantile = (q: string) =>
      sampleSum(samples, requests, { op: 'availability', ...ws, quantile: q });
    const [p50, p90, p99, p999] = ['0.5', '0.9', '0.99', '0.999'].map(quantile);
    const max = sampleSum(samples, 'inventory_request_latency_max_seconds', {
      op: 'availability',
      ...ws,
    });
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p90);
    expect(p90).toBeLessThanOrEqual(p99);
    expect(p99).toBeLessThanOrEqual(p999);
    expect(p999).toBeLessThanOrEqual(max);
    expect(max).toBeLessThan(1);
    // Connections by thread: both workers report.
    const threads = samples.filter((sample) => sample.name === 'inventory_ws_connections');
    expect(threads.map((sample) => sample.labels.thread).sort()).toEqual(['0', '1']);
    expect(sampleSum(samples, 'inventory_ws_connections')).toBeGreaterThanOrEqual(10);
    expect(sampleSum(samples, 'inventory_log_writable')).toBe(1);
    expect(sampleSum(samples, 'inventory_log_commits_total')).toBeGreaterThan(0);
    expect(sampleSum(samples, 'inventory_ready')).toBe(1);
    expect(delta('inventory_order_events_total', { type: 'placed' })).toBe(9);
    // Histograms: well formed, and counting what the summaries count.
    const histogram = 'inventory_request_duration_seconds';
    expect(types.get(histogram)).toBe('histogram');
    expect(checkHistograms(samples, types)).toBeGreaterThanOrEqual(5);
    expect(delta(`${histogram}_count`, httpStock)).toBe(6);
    expect(delta(`${histogram}_bucket`, { ...httpStock, le: '+Inf' })).toBe(6);
    expect(sampleSum(samples, `${histogram}_sum`, httpStock)).toBeCloseTo(
      sampleSum(samples, `${requests}_sum`, httpStock),
      9,
    );
    // Every stock read answered in under 2 s on this idle node.
    expect(delta(`${histogram}_bucket`, { ...httpStock, le: '2' })).toBe(6);
    const commits = sampleSum(samples, 'inventory_log_commits_total');
    const commit = 'inventory_log_commit_duration_seconds';
    expect(types.get(commit)).toBe('histogram');
    expect(sampleSum(samples, `${commit}_count`)).toBe(commits);
    expect(sampleSum(samples, `${commit}_bucket`, { le: '1' })).toBeGreaterThan(0);
    expect(sampleSum(samples, `${commit}_sum`)).toBeGreaterThan(0);
    const batch = 'inventory_log_batch_records';
    expect(sampleSum(samples, `${batch}_count`)).toBe(commits);
    // At least one record per commit, and the 9 orders' records since the first scrape.
    expect(sampleSum(samples, `${batch}_sum`)).toBeGreaterThanOrEqual(commits);
    expect(delta(`${batch}_sum`, {})).toBeGreaterThanOrEqual(9);
    expect(sampleSum(samples, 'inventory_log_ring_capacity_bytes')).toBeGreaterThan(0);
  });

  it('needs a key of any role unless the node opens it', async () => {
    expect((await scrape(test, null)).status).toBe(401);
    expect((await scrape(test, 'not-a-key-0123456789')).status).toBe(401);
    expect((await scrape(test, test.keys.orderer)).status).toBe(200);
  });

  it('serves the stats table', async () => {
    const script = fileURLToPath(new URL('../dist/tools/stats.js', import.meta.url));
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          script,
          '--url',
          test.node.url,
          '--key',
          test.keys.reader,
          '--seconds',
          '2',
          '--interval-ms',
          '500',
        ],
        { timeout: 20_000 },
        (error, stdout) => (error === null ? resolve(stdout) : reject(error)),
      );
    });
    expect(output).toContain('p99.9 ms');
    expect(output).toMatch(/^availability\s+ws\s+\d+\s+\d+\s+[\d.]+/m);
    expect(output).toMatch(/^placeOrder\s+ws\s/m);
    // After the first scrape the rate column has numbers.
    expect(output).toMatch(/^getStock\s+http\s+0\s+0\s/m);
  });
});

describe('metrics switches', () => {
  it('opens /metrics with metricsOpen, and turns it off with metrics: false', async () => {
    const open = await startTestNode({ metricsOpen: true });
    const off = await startTestNode({ metrics: false });
    try {
      const answer = await scrape(open, null);
      expect(answer.status).toBe(200);
      expect(parseExposition(answer.text).types.get('inventory_ready')).toBe('gauge');
      const none = await scrape(off);
      expect(none.status).toBe(404);
      expect(none.body.error.code).toBe('NOT_FOUND');
      const health = await http(off.node.port, '/healthz');
      expect(health.status).toBe(200);
    } finally {
      await Promise.all([open.stop(), off.stop()]);
    }
  });
});

/**
 * The SRE's tools against a real node: a real Prometheus (Debian's package, installed here when
 * missing) scrapes a node started in-process every second while the test drives a few seconds
 * of HTTP orders and reads; then Prometheus's HTTP API must give an order p99 from the
 * histogram buckets that agrees with the node's own HDR p99, a request rate that agrees with
 * what the test sent, exact counts and error codes, the log's commit histogram, every rule of
 * ops/prometheus/alerts.yml evaluated without error, and every query of the Grafana dashboard
 * answered with data. `promtool` checks the rules, runs their unit tests and checks the
 * example configuration.
 *
 * Bounded: the install, Prometheus's start, every wait and the load have a deadline; Prometheus
 * runs under `timeout`, so it dies by itself even if this process is killed, and is stopped by
 * PID when the tests end. Everything listens on 127.0.0.1 only.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODE_LIST } from '../protocol/codes.js';
import { parsePrometheusText } from './prometheus-text.js';
import { http, startTestNode, type TestNode } from './testing/harness.js';

const OPS_DIR = fileURLToPath(new URL('../ops/', import.meta.url));
const RULES_FILE = join(OPS_DIR, 'prometheus', 'alerts.yml');
const RULES_TEST_FILE = join(OPS_DIR, 'prometheus', 'alerts.test.yml');
const EXAMPLE_CONFIG_FILE = join(OPS_DIR, 'prometheus', 'prometheus.yml');
const DASHBOARD_FILE = join(OPS_DIR, 'grafana', 'dashboard.json');

/** apt-get update and install on a machine that has never seen the package. */
const APT_UPDATE_MS_MAX = 180_000;
const APT_INSTALL_MS_MAX = 300_000;
const INSTALL_HOOK_MS_MAX = APT_UPDATE_MS_MAX + APT_INSTALL_MS_MAX + 30_000;
/** Prometheus dies by itself after this, whatever happens to this process. */
const PROMETHEUS_LIFETIME_SECONDS = 240;
const PROMETHEUS_START_MS_MAX = 30_000;
const PROMETHEUS_STOP_MS_MAX = 10_000;
const PROMTOOL_MS_MAX = 30_000;
const QUERY_TIMEOUT_MS = 5_000;
const POLL_MS = 200;
/** Waits for a scrape or a rule evaluation: several 1 s intervals on a busy machine. */
const SCRAPE_WAIT_MS_MAX = 15_000;
/** The load: a few seconds, a few connections, so the two shared cores stay usable. */
const LOAD_MS = 5_000;
const LOAD_CONNECTIONS = 4;
/** Rates and quantiles are read over this window, which ends when the load ends. */
const WINDOW_SECONDS = 4;
/** One request in this many is an order that cannot be served: it answers OUT_OF_STOCK. */
const REFUSED_EVERY = 10;
/** One request in this many is an availability read. */
const READ_EVERY = 3;
const STDERR_KEPT_CHARS = 8_192;
const STOCK_UNITS = 10_000_000;
const HERE = { lat: 60.1699, lng: 24.9384 };

// Processes, bounded in time.

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

interface Tools {
  prometheus: string;
  promtool: string;
}

/** Debian's `prometheus` package (which brings promtool), installed when missing. */
async function ensurePrometheus(): Promise<Tools> {
  const found = () => {
    const prometheus = findOnPath('prometheus');
    const promtool = findOnPath('promtool');
    return prometheus !== null && promtool !== null ? { prometheus, promtool } : null;
  };
  const present = found();
  if (present !== null) return present;
  if (process.getuid?.() !== 0) {
    throw new Error('prometheus is not installed; as root: apt-get install -y prometheus');
  }
  const update = await run('apt-get', ['update'], APT_UPDATE_MS_MAX);
  if (update.code !== 0) throw new Error(`apt-get update failed: ${update.stderr.slice(-2_000)}`);
  // The package's service is never started here (no init system); this test starts its own.
  const install = await run(
    'apt-get',
    ['install', '-y', '--no-install-recommends', 'prometheus'],
    APT_INSTALL_MS_MAX,
  );
  const installed = found();
  if (install.code !== 0 || installed === null) {
    throw new Error(`apt-get install prometheus failed: ${install.stderr.slice(-2_000)}`);
  }
  return installed;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${String(last)}`);
}

// A Prometheus of our own.

interface Prometheus {
  url: string;
  pid: number;
  stderr(): string;
  stop(): Promise<void>;
}

async function startPrometheus(binary: string, config: object): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  // JSON is YAML: no YAML library needed to write the configuration.
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const port = await freePort();
  const child: ChildProcess = spawn(
    'timeout',
    [
      '--kill-after=5',
      String(PROMETHEUS_LIFETIME_SECONDS),
      binary,
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEPT_CHARS);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // `timeout` passes the signal on to Prometheus, which then flushes and exits.
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), PROMETHEUS_STOP_MS_MAX);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await until('Prometheus to be ready', PROMETHEUS_START_MS_MAX, async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
      const answer = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      return answer.status === 200 ? true : null;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: child.pid!, stderr: () => stderr, stop };
}

interface Vector {
  metric: Record<string, string>;
  value: [number, string];
}

async function prometheusApi<T>(prometheus: Prometheus, path: string): Promise<T> {
  const answer = await fetch(`${prometheus.url}${path}`, {
    signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
  });
  const body = (await answer.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
  return body.data;
}

/** An instant query, at `timeSeconds` or now. */
async function query(prometheus: Prometheus, expr: string, timeSeconds?: number) {
  const time = timeSeconds === undefined ? '' : `&time=${timeSeconds}`;
  const path = `/api/v1/query?query=${encodeURIComponent(expr)}${time}`;
  const data = await prometheusApi<{ resultType: string; result: Vector[] }>(prometheus, path);
  expect(data.resultType, expr).toBe('vector');
  return data.result;
}

async function scalar(prometheus: Prometheus, expr: string, timeSeconds?: number) {
  const result = await query(prometheus, expr, timeSeconds);
  expect(result, `${expr} has one series`).toHaveLength(1);
  return Number(result[0].value[1]);
}

// The load: HTTP JSON, which every client can speak, so the series it lands in are known.

interface LoadResult {
  placed: number;
  refused: number;
  reads: number;
  startedSeconds: number;
  endedSeconds: number;
  /** Answers with a status the route does not give for that request. */
  unexpected: string[];
}

async function setUpStock(test: TestNode): Promise<void> {
  const admin = test.keys.admin;
  const port = test.node.port;
  const dc = { name: 'Helsinki 1', location: HERE, radiusKm: 5 };
  expect((await http(port, '/v1/dcs/hel-1', { method: 'PUT', key: admin, json: dc })).status).toBe(
    201,
  );
  const sku = { name: 'Salmiakki', category: 'sweets' };
  expect(
    (await http(port, '/v1/skus/salmiakki', { method: 'PUT', key: admin, json: sku })).status,
  ).toBe(201);
  const receive = { dc: 'hel-1', sku: 'salmiakki', qty: STOCK_UNITS };
  expect((await http(port, '/v1/stock/receive', { key: admin, json: receive })).status).toBe(200);
}

async function drive(test: TestNode, durationMs: number): Promise<LoadResult> {
  const base = test.node.url;
  const result: LoadResult = {
    placed: 0,
    refused: 0,
    reads: 0,
    startedSeconds: Date.now() / 1000,
    endedSeconds: 0,
    unexpected: [],
  };
  const deadline = Date.now() + durationMs;
  let sequence = 0;
  const loop = async () => {
    while (Date.now() < deadline) {
      const index = sequence++;
      if (index % READ_EVERY === 0) {
        const path = `/v1/availability?lat=${HERE.lat}&lng=${HERE.lng}&skus=salmiakki`;
        const status = await send(base, path, test.keys.reader, null);
        if (status === 200) result.reads++;
        else result.unexpected.push(`availability ${status}`);
        continue;
      }
      const refused = index % REFUSED_EVERY === 0;
      const order = {
        orderId: `prom-${index}`,
        location: HERE,
        lines: [{ sku: 'salmiakki', qty: refused ? STOCK_UNITS * 2 : 1 }],
        mode: 'commit',
      };
      const status = await send(base, '/v1/orders', test.keys.orderer, order);
      if (status === (refused ? 409 : 201)) result[refused ? 'refused' : 'placed']++;
      else result.unexpected.push(`placeOrder ${status}`);
    }
  };
  await Promise.all(Array.from({ length: LOAD_CONNECTIONS }, loop));
  result.endedSeconds = Date.now() / 1000;
  return result;
}

/** One request on fetch's kept-alive connections; returns the status. */
async function send(base: string, path: string, key: string, json: unknown): Promise<number> {
  const answer = await fetch(`${base}${path}`, {
    method: json === null ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      ...(json === null ? {} : { 'content-type': 'application/json' }),
    },
    body: json === null ? undefined : JSON.stringify(json),
    signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
  });
  await answer.arrayBuffer();
  return answer.status;
}

/** Codes only the client SDK raises (codes.ts says no node sends them). */
const CLIENT_SIDE_CODES = ['ABORTED', 'CONNECT_FAILED', 'CONNECTION_LOST', 'CLOSED'];
const ERROR_ALERTS = ['InventoryServerErrors', 'InventoryOverloaded', 'InventoryClientErrors'];

/** The `outcome=~"..."` regex of an alert of alerts.yml, anchored as PromQL anchors it. */
function outcomeRegex(rules: string, alert: string): RegExp {
  const start = rules.indexOf(`- alert: ${alert}\n`);
  expect(start, alert).toBeGreaterThan(0);
  const match = /outcome=~"([^"]+)"/.exec(rules.slice(start));
  expect(match, `${alert} selects outcomes`).not.toBeNull();
  return new RegExp(`^(?:${match![1]})$`);
}

function ruleCount(): number {
  return (readFileSync(RULES_FILE, 'utf8').match(/^\s+- alert: /gm) ?? []).length;
}

let tools: Tools;

beforeAll(async () => {
  tools = await ensurePrometheus();
}, INSTALL_HOOK_MS_MAX);

describe('promtool', () => {
  it('checks the alerting rules', async () => {
    const checked = await run(tools.promtool, ['check', 'rules', RULES_FILE], PROMTOOL_MS_MAX);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    expect(ruleCount()).toBeGreaterThanOrEqual(10);
    expect(checked.stdout).toContain(`SUCCESS: ${ruleCount()} rules found`);
  });

  it('passes the rules unit tests (alerts fire, and only when they should)', async () => {
    const tested = await run(tools.promtool, ['test', 'rules', RULES_TEST_FILE], PROMTOOL_MS_MAX);
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
    expect(tested.stdout).toContain('SUCCESS');
  });

  it('refuses a broken rule, so a passing check means something', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inventory-rules-'));
    try {
      const broken = join(dir, 'broken.yml');
      const text = readFileSync(RULES_FILE, 'utf8').replace(
        'expr: inventory_log_writable == 0',
        'expr: inventory_log_writable == (0',
      );
      expect(text).toContain('== (0');
      writeFileSync(broken, text);
      const checked = await run(tools.promtool, ['check', 'rules', broken], PROMTOOL_MS_MAX);
      expect(checked.code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts every code a node answers with in exactly one class of error alert', () => {
    const rules = readFileSync(RULES_FILE, 'utf8');
    const business = /^ {2}# business: (.+)$/m.exec(rules);
    expect(business, 'the business codes comment').not.toBeNull();
    const classes = [
      ...ERROR_ALERTS.map((alert) => ({
        name: alert,
        has: (code: string) => outcomeRegex(rules, alert).test(code),
      })),
      { name: 'business', has: (code: string) => business![1].split(' ').includes(code) },
    ];
    const nodeCodes = ERROR_CODE_LIST.filter((code) => !CLIENT_SIDE_CODES.includes(code));
    expect(nodeCodes.length).toBeGreaterThan(30);
    for (const code of nodeCodes) {
      const owners = classes.filter((entry) => entry.has(code)).map((entry) => entry.name);
      expect({ code, owners: owners.length }, owners.join(', ')).toEqual({ code, owners: 1 });
    }
  });

  it('checks the example configuration with its key file and rules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inventory-config-'));
    try {
      const keyFile = join(dir, 'reader.key');
      writeFileSync(keyFile, 'an-example-key-0123456789', { mode: 0o600 });
      const text = readFileSync(EXAMPLE_CONFIG_FILE, 'utf8')
        .replace('/etc/prometheus/inventory-reader.key', keyFile)
        .replace('  - alerts.yml', `  - ${RULES_FILE}`);
      const config = join(dir, 'prometheus.yml');
      writeFileSync(config, text);
      const checked = await run(tools.promtool, ['check', 'config', config], PROMTOOL_MS_MAX);
      expect(checked.code, checked.stdout + checked.stderr).toBe(0);
      expect(checked.stdout).toContain(`SUCCESS: ${ruleCount()} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Prometheus scraping a node under load', () => {
  let test: TestNode;
  let prometheus: Prometheus | null = null;
  let load: LoadResult;
  /** The node's own p99 for HTTP orders (HDR, over its window), read as the load ended. */
  let nodeP99Seconds: number;

  beforeAll(async () => {
    test = await startTestNode();
    await setUpStock(test);
    prometheus = await startPrometheus(tools.prometheus, {
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: [RULES_FILE],
      scrape_configs: [
        {
          job_name: 'inventory',
          metrics_path: '/metrics',
          authorization: { type: 'Bearer', credentials: test.keys.reader },
          static_configs: [{ targets: [`127.0.0.1:${test.node.port}`] }],
        },
      ],
    });
    const live = prometheus;
    // Scraping before the load starts, so the rate window has samples from its start.
    await until('the node to be scraped', SCRAPE_WAIT_MS_MAX, async () => {
      const up = await query(live, 'up{job="inventory"}');
      return up.length === 1 && up[0].value[1] === '1' ? true : null;
    });
    load = await drive(test, LOAD_MS);
    const scraped = await http(test.node.port, '/metrics', { key: test.keys.reader });
    const labels = { op: 'placeOrder', transport: 'http', quantile: '0.99' };
    nodeP99Seconds = parsePrometheusText(scraped.text).samples.find(
      (sample) =>
        sample.name === 'inventory_request_latency_seconds' &&
        Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    )!.value;
    // The last scrape after the load: Prometheus's counts are then the node's final ones.
    const answered = load.placed + load.refused;
    await until('the final counts to be scraped', SCRAPE_WAIT_MS_MAX, async () => {
      const expr = 'sum(inventory_requests_total{job="inventory",op="placeOrder"})';
      return (await scalar(live, expr)) === answered ? true : null;
    });
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    await test?.stop();
  });

  it('ran the load it meant to', () => {
    expect(load.unexpected).toEqual([]);
    expect(load.placed).toBeGreaterThan(100);
    expect(load.refused).toBeGreaterThan(10);
    expect(load.reads).toBeGreaterThan(50);
  });

  it('computes an order p99 from the buckets that agrees with the node', async () => {
    const series = 'inventory_request_duration_seconds_bucket{job="inventory",op="placeOrder"}';
    const quantile = (q: number) =>
      `histogram_quantile(${q}, sum by (le) (rate(${series}[${WINDOW_SECONDS}s])))`;
    const p99 = await scalar(prometheus!, quantile(0.99), load.endedSeconds);
    const p50 = await scalar(prometheus!, quantile(0.5), load.endedSeconds);
    expect(Number.isFinite(p99), `p99 ${p99}`).toBe(true);
    expect(p99).toBeGreaterThan(0);
    expect(p99).toBeLessThan(1);
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p99);
    // Buckets are 2 to 2.5 times apart and the windows differ a little: within a factor of 4.
    expect(nodeP99Seconds).toBeGreaterThan(0);
    expect(p99 / nodeP99Seconds).toBeGreaterThan(0.25);
    expect(p99 / nodeP99Seconds).toBeLessThan(4);
  });

  it('computes the request rate the test sent', async () => {
    const expr = `sum(rate(inventory_requests_total{job="inventory",op="placeOrder",transport="http"}[${WINDOW_SECONDS}s]))`;
    const rate = await scalar(prometheus!, expr, load.endedSeconds);
    const sent = (load.placed + load.refused) / (load.endedSeconds - load.startedSeconds);
    expect(rate / sent, `rate ${rate}/s, sent ${sent}/s`).toBeGreaterThan(0.5);
    expect(rate / sent, `rate ${rate}/s, sent ${sent}/s`).toBeLessThan(1.5);
    const reads = await scalar(
      prometheus!,
      `sum(inventory_requests_total{job="inventory",op="availability",transport="http"})`,
    );
    expect(reads).toBe(load.reads);
  });

  it('counts errors by code and histograms exactly', async () => {
    const errors = await query(
      prometheus!,
      'sum by (outcome) (inventory_requests_total{job="inventory",op="placeOrder",outcome!="ok"})',
    );
    expect(errors.map((entry) => [entry.metric.outcome, Number(entry.value[1])])).toEqual([
      ['OUT_OF_STOCK', load.refused],
    ]);
    const count = await scalar(
      prometheus!,
      'sum(inventory_request_duration_seconds_bucket{job="inventory",op="placeOrder",le="+Inf"})',
    );
    expect(count).toBe(load.placed + load.refused);
  });

  it("sees the log's commit latency and batch sizes", async () => {
    const at = load.endedSeconds;
    const window = `${WINDOW_SECONDS}s`;
    const commitP99 = await scalar(
      prometheus!,
      `histogram_quantile(0.99, sum by (le) (rate(inventory_log_commit_duration_seconds_bucket{job="inventory"}[${window}])))`,
      at,
    );
    expect(commitP99).toBeGreaterThan(0);
    expect(commitP99).toBeLessThan(1);
    const perCommit = await scalar(
      prometheus!,
      `sum(rate(inventory_log_batch_records_sum[${window}])) / sum(rate(inventory_log_batch_records_count[${window}]))`,
      at,
    );
    expect(perCommit).toBeGreaterThanOrEqual(1);
    // Every order placed wrote at least one record; a refused one wrote none.
    const records = await scalar(prometheus!, 'sum(inventory_log_batch_records_sum)');
    expect(records).toBeGreaterThanOrEqual(load.placed);
  });

  it('evaluates every alerting rule without error, and none fires', async () => {
    const since = load.endedSeconds;
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string };
    const rules = await until(
      'every rule to be evaluated after the load',
      SCRAPE_WAIT_MS_MAX,
      async () => {
        const data = await prometheusApi<{ groups: { rules: Rule[] }[] }>(
          prometheus!,
          '/api/v1/rules',
        );
        const all = data.groups.flatMap((group) => group.rules);
        const fresh = all.every((rule) => Date.parse(rule.lastEvaluation) / 1000 > since);
        return fresh ? all : null;
      },
    );
    expect(rules).toHaveLength(ruleCount());
    for (const rule of rules) {
      expect({ name: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({
        name: rule.name,
        health: 'ok',
        error: '',
      });
    }
    const { alerts } = await prometheusApi<{
      alerts: { labels: Record<string, string>; state: string }[];
    }>(prometheus!, '/api/v1/alerts');
    expect(alerts.filter((alert) => alert.state === 'firing')).toEqual([]);
    expect(alerts.map((alert) => alert.labels.alertname)).not.toContain('InventoryNodeDown');
  });

  it('answers every query of the Grafana dashboard with data', async () => {
    type Panel = { title: string; type: string; targets?: { expr: string }[] };
    const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
      panels: Panel[];
      templating: { list: { name: string }[] };
    };
    expect(dashboard.templating.list.map((variable) => variable.name)).toEqual([
      'datasource',
      'job',
      'instance',
    ]);
    const targets = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ title: panel.title, expr: target.expr })),
    );
    expect(targets.length).toBeGreaterThanOrEqual(15);
    for (const { title, expr } of targets) {
      const concrete = expr
        .replaceAll('$__rate_interval', `${WINDOW_SECONDS}s`)
        .replaceAll('$job', 'inventory')
        .replaceAll('$instance', '.+');
      expect(concrete, title).not.toContain('$');
      const result = await query(prometheus!, concrete, load.endedSeconds);
      expect(result.length, `${title}: ${concrete}`).toBeGreaterThan(0);
    }
  });
});

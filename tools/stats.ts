/**
 * `npm run stats -- --url http://127.0.0.1:8080 [--seconds N]`: a live table of a
 * running node, refreshed every second; `https://` for a node with TLS, trusting `--ca` or
 * INVENTORY_CA_FILE (else the system's CAs). It scrapes `/metrics` (Prometheus text, parsed here),
 * and computes throughput per operation from the difference of successive request counts;
 * p50 / p99 / p99.9 and max are the node's own, over its sliding window (about 10 s).
 *
 * Bounded: it stops on Ctrl-C (SIGINT/SIGTERM) or after `--seconds`; every scrape has a
 * timeout. Exit codes: 0 done, 64 bad flags or a refused key, 1 the node never answered.
 */

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  CA_FILE_VARIABLE,
  type Labels,
  type ParsedMetrics,
  parsePrometheusText,
  readCaOption,
} from '../edge/index.js';
import { ExitCodes } from '../protocol/index.js';
import {
  isEntryPoint,
  KEY_VARIABLES,
  keyFromEnvironment,
  parseCommandLine,
  runMain,
  showUsage,
  UsageError,
} from '../wal/index.js';

const USAGE = `Usage: npm run stats -- [options]

  --url <http url>      the node (default http://127.0.0.1:8080; https://... with TLS)
  --ca <file>           PEM CA to trust for https:// (a self-signed node: its certificate)
  --key <api key>       a key of any role; not needed when the node runs with --metrics-open.
                        Better from the environment: npm prints the command line, flags included
  --seconds <n>         stop after n seconds (default: run until Ctrl-C)
  --interval-ms <n>     refresh period (default 1000)
  -h, --help            this text

Environment:
  ${KEY_VARIABLES.any.join(', ')}
                        the key when --key is not given, the first set wins
  ${CA_FILE_VARIABLE}     the CA file when --ca is not given
`;

const EXIT_USAGE = ExitCodes.USAGE;
const EXIT_FAILURE = ExitCodes.FAILURE;
const INTERVAL_MS_DEFAULT = 1_000;
const INTERVAL_MS_MIN = 100;
const SECONDS_MAX = 7 * 24 * 3600;
const MS_PER_SECOND = 1_000;
/** A /metrics answer larger than this is not a node's: the scrape fails instead of growing. */
const SCRAPE_BYTES_MAX = 64 * 1024 * 1024;

export interface StatsRow {
  op: string;
  transport: string;
  /** Requests per second between the last two scrapes (null on the first). */
  rate: number | null;
  /** Error answers per second between the last two scrapes. */
  errorRate: number | null;
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface StatsSummary {
  rows: StatsRow[];
  ready: number;
  connections: number;
  subscriptions: number;
  logLagBytes: number;
  logCommitMs: number;
  stockOutRate: number | null;
  holdsExpired: number;
}

function key(labels: Labels): string {
  return `${labels.op}\u0000${labels.transport}`;
}

function sumOf(metrics: ParsedMetrics, name: string, filter?: (labels: Labels) => boolean) {
  let sum = 0;
  for (const sample of metrics.samples) {
    if (sample.name === name && (filter === undefined || filter(sample.labels))) {
      sum += sample.value;
    }
  }
  return sum;
}

function ms(seconds: number | undefined): number {
  return seconds === undefined ? Number.NaN : seconds * MS_PER_SECOND;
}

function perSecond(now: number, before: number | undefined, seconds: number): number | null {
  if (before === undefined || seconds <= 0) return null;
  return Math.max(0, now - before) / seconds;
}

/** The table's rows and headline figures from two successive scrapes (`before` may be null). */
export function summarize(
  before: ParsedMetrics | null,
  now: ParsedMetrics,
  seconds: number,
): StatsSummary {
  const latency = 'inventory_request_latency_seconds';
  const rows = new Map<string, StatsRow>();
  const quantiles = new Map<string, Map<string, number>>();
  for (const sample of now.samples) {
    if (sample.name === `${latency}_count`) {
      rows.set(key(sample.labels), {
        op: sample.labels.op,
        transport: sample.labels.transport,
        rate: null,
        errorRate: null,
        count: sample.value,
        p50Ms: Number.NaN,
        p99Ms: Number.NaN,
        p999Ms: Number.NaN,
        maxMs: Number.NaN,
      });
    } else if (sample.name === latency) {
      const series = quantiles.get(key(sample.labels)) ?? new Map<string, number>();
      series.set(sample.labels.quantile, sample.value);
      quantiles.set(key(sample.labels), series);
    }
  }
  const counts = countsBySeries(before);
  const errorsBefore = errorsBySeries(before);
  const errorsNow = errorsBySeries(now);
  for (const sample of now.samples) {
    if (sample.name !== 'inventory_request_latency_max_seconds') continue;
    const row = rows.get(key(sample.labels));
    if (row !== undefined) row.maxMs = ms(sample.value);
  }
  for (const [series, row] of rows) {
    const values = quantiles.get(series);
    row.p50Ms = ms(values?.get('0.5'));
    row.p99Ms = ms(values?.get('0.99'));
    row.p999Ms = ms(values?.get('0.999'));
    row.rate = perSecond(row.count, counts.get(series), seconds);
    if (before !== null) {
      row.errorRate = perSecond(errorsNow.get(series) ?? 0, errorsBefore.get(series) ?? 0, seconds);
    }
  }
  const sorted = [...rows.values()].sort(
    (a, b) => (b.rate ?? 0) - (a.rate ?? 0) || b.count - a.count || a.op.localeCompare(b.op),
  );
  const stockOuts = sumOf(now, 'inventory_stock_outs_total');
  return {
    rows: sorted,
    ready: sumOf(now, 'inventory_ready'),
    connections: sumOf(now, 'inventory_ws_connections'),
    subscriptions: sumOf(now, 'inventory_subscriptions'),
    logLagBytes: sumOf(now, 'inventory_log_lag_bytes'),
    logCommitMs: ms(sumOf(now, 'inventory_log_commit_last_seconds')),
    stockOutRate:
      before === null
        ? null
        : perSecond(stockOuts, sumOf(before, 'inventory_stock_outs_total'), seconds),
    holdsExpired: sumOf(now, 'inventory_holds_expired_total'),
  };
}

function countsBySeries(metrics: ParsedMetrics | null): Map<string, number> {
  const counts = new Map<string, number>();
  if (metrics === null) return counts;
  for (const sample of metrics.samples) {
    if (sample.name === 'inventory_request_latency_seconds_count') {
      counts.set(key(sample.labels), sample.value);
    }
  }
  return counts;
}

function errorsBySeries(metrics: ParsedMetrics | null): Map<string, number> {
  const errors = new Map<string, number>();
  if (metrics === null) return errors;
  for (const sample of metrics.samples) {
    if (sample.name !== 'inventory_requests_total' || sample.labels.outcome === 'ok') continue;
    const series = key(sample.labels);
    errors.set(series, (errors.get(series) ?? 0) + sample.value);
  }
  return errors;
}

function fixed(value: number | null, digits: number): string {
  return value === null || Number.isNaN(value) ? '-' : value.toFixed(digits);
}

const COLUMNS = [
  'op',
  'transport',
  'req/s',
  'err/s',
  'p50 ms',
  'p99 ms',
  'p99.9 ms',
  'max ms',
  'total',
];

/** The table as text, one line per series, columns aligned. */
export function renderTable(summary: StatsSummary, url: string, at: Date): string {
  const lines: string[][] = [COLUMNS];
  for (const row of summary.rows) {
    lines.push([
      row.op,
      row.transport,
      fixed(row.rate, 0),
      fixed(row.errorRate, 0),
      fixed(row.p50Ms, 3),
      fixed(row.p99Ms, 3),
      fixed(row.p999Ms, 3),
      fixed(row.maxMs, 3),
      String(row.count),
    ]);
  }
  const widths = COLUMNS.map((_, column) => Math.max(...lines.map((line) => line[column].length)));
  const table = lines.map((line) =>
    line
      .map((cell, column) =>
        column < 2 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]),
      )
      .join('  '),
  );
  const header =
    `${url}  ${at.toISOString()}  ready ${summary.ready === 1 ? 'yes' : 'no'}  ` +
    `connections ${summary.connections}  subscriptions ${summary.subscriptions}\n` +
    `log lag ${summary.logLagBytes} B  last commit ${fixed(summary.logCommitMs, 3)} ms  ` +
    `stock-outs/s ${fixed(summary.stockOutRate, 1)}  holds expired ${summary.holdsExpired}`;
  return `${header}\n\n${table.join('\n')}\n`;
}

interface StatsOptions {
  url: string;
  key: string | undefined;
  /** PEM CA for https://, or null for the system's. */
  ca: Buffer | null;
  seconds: number;
  intervalMs: number;
}

const FLAGS = {
  url: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  seconds: { type: 'string' },
  'interval-ms': { type: 'string' },
} as const;

function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv): StatsOptions | null {
  const command = parseCommandLine(argv, FLAGS);
  if (command.help) return null;
  const { values } = command;
  const url = (values.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(url)) {
    throw new UsageError(`--url must be http://host:port or https://host:port`);
  }
  const seconds = values.seconds === undefined ? 0 : Number(values.seconds);
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > SECONDS_MAX) {
    throw new UsageError(`--seconds must be an integer in [0, ${SECONDS_MAX}]`);
  }
  const intervalMs =
    values['interval-ms'] === undefined ? INTERVAL_MS_DEFAULT : Number(values['interval-ms']);
  if (!Number.isInteger(intervalMs) || intervalMs < INTERVAL_MS_MIN || intervalMs > 60_000) {
    throw new UsageError(`--interval-ms must be an integer in [${INTERVAL_MS_MIN}, 60000]`);
  }
  let ca: Buffer | null;
  try {
    ca = readCaOption(values.ca, env)?.pem ?? null;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const key = values.key ?? keyFromEnvironment(env, 'any');
  return { url, key, ca, seconds, intervalMs };
}

/**
 * GET /metrics with node:http or node:https (which, unlike fetch, takes a CA per request),
 * bounded by a timeout and a size.
 */
function scrape(options: StatsOptions): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  if (options.key !== undefined && options.key !== '') {
    headers.authorization = `Bearer ${options.key}`;
  }
  const url = new URL(`${options.url}/metrics`);
  const secure = url.protocol === 'https:';
  const request = secure ? httpsRequest : httpRequest;
  const timeoutMs = Math.max(2 * options.intervalMs, 2_000);
  return new Promise((done, fail) => {
    const req = request(
      url,
      {
        method: 'GET',
        headers,
        timeout: timeoutMs,
        ca: secure ? (options.ca ?? undefined) : undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > SCRAPE_BYTES_MAX) req.destroy(new Error('the /metrics answer is too large'));
          else chunks.push(chunk);
        });
        res.on('end', () =>
          done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end();
  });
}

async function run(options: StatsOptions): Promise<number> {
  let stopped = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const deadline =
    options.seconds === 0 ? Number.POSITIVE_INFINITY : Date.now() + options.seconds * MS_PER_SECOND;
  const clear = process.stdout.isTTY ? '\x1b[2J\x1b[H' : '';
  let before: { metrics: ParsedMetrics; atMs: number } | null = null;
  let answered = false;
  while (!stopped && Date.now() < deadline) {
    const startedMs = Date.now();
    try {
      const { status, text } = await scrape(options);
      if (status === 401 || status === 403) {
        process.stderr.write(
          `the node refused the key (HTTP ${status}): set INVENTORY_KEY or pass --key\n`,
        );
        return EXIT_USAGE;
      }
      if (status !== 200) throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`);
      const metrics = parsePrometheusText(text);
      const now = Date.now();
      const seconds = before === null ? 0 : (now - before.atMs) / MS_PER_SECOND;
      const summary = summarize(before?.metrics ?? null, metrics, seconds);
      process.stdout.write(`${clear}${renderTable(summary, options.url, new Date(now))}\n`);
      before = { metrics, atMs: now };
      answered = true;
    } catch (error) {
      process.stdout.write(`${clear}${options.url}: ${(error as Error).message}\n`);
    }
    const waitMs = Math.min(options.intervalMs - (Date.now() - startedMs), deadline - Date.now());
    if (waitMs > 0 && !stopped) {
      await new Promise<void>((done) => {
        wake = done;
        setTimeout(done, waitMs);
      });
    }
  }
  return answered ? 0 : EXIT_FAILURE;
}

async function main(): Promise<number> {
  const options = readOptions(process.argv.slice(2), process.env);
  if (options === null) return showUsage(USAGE);
  return run(options);
}

/** Runs only as the command, not when a test imports the functions above. */
if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

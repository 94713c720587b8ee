/**
 * `npm run loadtest`: the project's WebSocket load generator. Drives a running node (`--url`)
 * or one it starts itself (`--start`) with SDK connections that keep a bounded window of
 * requests in flight, mixing availability queries (20 SKUs) and 3-line orders over a Zipf SKU
 * popularity; prints throughput and p50/p90/p99/p99.9/max per op type and writes a JSON result.
 * `--processes K` forks K generator processes and merges their HDR histograms, so the load can
 * use more than one core; the CPU time each party used is measured and printed, so the split of
 * the machine's cores between node and generator is visible.
 *
 * TLS: `--url wss://...` with `--ca` (or INVENTORY_CA_FILE) drives a node that serves TLS;
 * `--start --tls` starts one with a fresh self-signed certificate. The generators, which
 * connect as plain SDK users, trust the CA through NODE_EXTRA_CA_CERTS, which Node reads only
 * at a process's start: so with a CA the generators run in forked processes (set in their
 * environment), unless this process was itself started with NODE_EXTRA_CA_CERTS naming it.
 *
 * Invariants: the run is bounded by time and by count; the dataset is provisioned through the
 * admin API before the clock starts; a node this command started is stopped (by its PID) on
 * every exit path, and the certificate made for it removed.
 */

import type { DurabilityPolicy } from '../wal/index.js';
import { ORDERS_PER_BATCH_MAX } from '../protocol/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedFromEnv } from '../engine/testing/index.js';
import { CA_FILE_VARIABLE, makeSelfSignedCertificate, readCaOption } from '../edge/index.js';
import {
  choiceFlag,
  intFlag,
  isEntryPoint,
  numberFlag,
  parseCommandLine,
  policyFlag,
  runMain,
  showUsage,
  stopOnSignal,
  UsageError,
} from './cli.js';
import {
  type NodeKeys,
  type NodeProcess,
  nodeUrls,
  readKeysFile,
  startNodeProcess,
  startedNodeThreads,
} from './node-process.js';
import { formatMs } from './histogram.js';
import { provisionAt } from './provision.js';
import { formatStageBudget, runScraped, type StageBudget } from './stage-budget.js';
import {
  describeLoad,
  describeMachine,
  fileStamp,
  formatCount,
  latencyTable,
  machineInfo,
  outDir,
  processCpuSeconds,
  writeJson,
} from './report.js';
import {
  CHILD_FLAG,
  type GeneratorOutcome,
  type MergedRun,
  mergeResults,
  runChild,
  runForked,
  runInProcess,
} from './ws-processes.js';
import { CONNECTIONS_PER_PROCESS_MAX, type WsRunConfig } from './ws-runner.js';
import {
  DATASET_DCS_DEFAULT,
  DATASET_SKUS_DEFAULT,
  LINES_PER_ORDER_DEFAULT,
  buildDataset,
  makeRunId,
  QTY_PER_LINE_MAX_DEFAULT,
  SKUS_PER_QUERY_DEFAULT,
  STOCK_PER_CELL_DEFAULT,
  STOCK_PER_CELL_MAX,
  ZIPF_EXPONENT_DEFAULT,
} from './workload.js';

const SEED_DEFAULT = 20_241_121;
const PROCESSES_MAX = 64;
const WINDOW_MAX = 4_096;
const DURATION_S_MAX = 3_600;
const OPS_MAX_DEFAULT = 20_000_000;
const OPS_MAX_CEILING = 1_000_000_000;
const TIMEOUT_MS_DEFAULT = 30_000;
/**
 * Order-table slots of a started node: 4 M. Committed orders stay live until fulfilled, so a
 * table holds about 85 % of itself in orders before refusing them (CAPACITY_EXHAUSTED): 4 M
 * slots hold a 2 s warm-up and 10 s at more than 250,000 orders/s. The node commits the
 * table's pages at start (`--commit-order-table`, about 0.55 s).
 */
const ORDER_CAPACITY_DEFAULT = 1 << 22;
const CAPACITY_HINT =
  'CAPACITY_EXHAUSTED: the order table is full of live orders; start the node with a larger ' +
  '--order-capacity, or fulfil orders (--fulfil-share 1)';
const ORDER_CAPACITY_MAX = 1 << 26;

/** The SPEC's performance bars for this generator's two dedicated scenarios. */
const BARS = {
  order: { perSecondMin: 100_000, p99MsMax: 5, what: 'durable 3-line orders' },
  availability: { perSecondMin: 200_000, p99MsMax: 2, what: 'availability queries' },
} as const;

const SCENARIOS = ['mixed', 'orders', 'availability'] as const;
type Scenario = (typeof SCENARIOS)[number];
const SCENARIO_AVAILABILITY_SHARE: Record<Scenario, number> = {
  mixed: 0.5,
  orders: 0,
  availability: 1,
};
/**
 * Requests in flight per connection and entries per batch request, by scenario, when not
 * given: one batch in flight per connection. Throughput needs enough in flight to keep both
 * sides busy; the bars' p99 (2 ms for availability, 5 ms for orders) allows no more than
 * that: by Little's law the mean latency is what is in flight divided by the rate, so 128
 * queries at 200,000/s wait 0.64 ms on average and 256 orders at 100,000/s 2.6 ms (a commit
 * is about 0.5 ms of it). Two smaller batches in flight per connection did worse than one
 * (orders: 64 in batches of 32, 91 k/s and p99 6.3 ms, against 109 k/s and 5.4 ms in one
 * batch of 64). Measured in loadtest/RESULTS.md.
 */
const SCENARIO_WINDOW: Record<Scenario, { window: number; batch: number }> = {
  mixed: { window: 64, batch: 64 },
  orders: { window: 64, batch: 64 },
  availability: { window: 32, batch: 32 },
};

export const USAGE = `Usage: npm run loadtest -- [options]

Target (one of):
  --start                start a node on 127.0.0.1 in a temp dir (the default without --url)
  --url <url>            a running node: ws://host:port/v1/ws or http://host:port, or
                         wss://... / https://... for a node with TLS
Keys for --url: --key <key> (orders and queries), --admin-key <key> (provisioning; default
  --key), or --keys-file <data>/keys.json
TLS: --ca <file>         PEM CA to trust for wss:// (or ${CA_FILE_VARIABLE}); the generators
                         then run forked, with NODE_EXTRA_CA_CERTS set to it
Node started with --start:
  --tls                  serve wss:// with a self-signed certificate made for the run
  --threads <n>          worker threads (default: the cores the generator processes leave,
                         never fewer than 1; 1 here, the generator taking the other core)
  --fsync <policy>       fsync | write | none (default fsync)
  --node-cpus <list>     pin the node with taskset -c (e.g. 0)
  --order-capacity <n>   order-table slots, a power of two (default ${ORDER_CAPACITY_DEFAULT}):
                         committed orders stay live until fulfilled, so a long run needs room
  --node-pid <pid>       with --url: a local node's PID, to report the CPU time it used
Load:
  --scenario mixed|orders|availability   (default mixed: half queries, half orders)
  --availability-share <0..1>            override the scenario's share of queries
  --processes <k>        generator processes (default 1)    --load-cpus <list> pin them
  --connections <n>      SDK connections per process (default 4)
  --window <n>           requests (or batch entries) in flight per connection (default 64;
                         32 for --scenario availability)
  --batch <n>            entries per placeOrders / availabilityMany request (SDK batch API,
                         default: the window, one batch in flight per connection); 0: one
                         SDK call per order or query
  --duration <s>         measured seconds (default 10)      --warmup <s> (default 2)
  --max-ops <n>          requests in all, across processes (default ${OPS_MAX_DEFAULT})
  --hold-share <0..1>    orders placed as hold + confirm instead of commit (default 0)
  --fulfil-share <0..1>  confirmed orders then fulfilled (default 0; see loadtest/RESULTS.md)
  --customer-locations   orders from customer addresses, not the DCs' own locations
Workload:
  --dcs <n>              DCs (default ${DATASET_DCS_DEFAULT})
  --skus <n>             SKUs (default ${DATASET_SKUS_DEFAULT})
  --stock <n>            units per (DC, SKU) cell (default ${STOCK_PER_CELL_DEFAULT})
  --zipf <s>             SKU popularity exponent (default ${ZIPF_EXPONENT_DEFAULT})
  --lines <n>            lines per order (default ${LINES_PER_ORDER_DEFAULT})
  --qty-max <n>          units per line, 1..n (default ${QTY_PER_LINE_MAX_DEFAULT})
  --skus-per-query <n>   SKUs per availability query (default ${SKUS_PER_QUERY_DEFAULT})
  --no-breakdown         availability answers with totals only, no per-DC list
  --seed <n>             workload seed (or SEED=; default ${SEED_DEFAULT})
Output:
  --out <file.json>      result file (default loadtest/out/ws-load-<time>.json)
`;

const FLAGS = {
  start: { type: 'boolean' },
  url: { type: 'string' },
  key: { type: 'string' },
  'admin-key': { type: 'string' },
  'keys-file': { type: 'string' },
  ca: { type: 'string' },
  tls: { type: 'boolean' },
  threads: { type: 'string' },
  fsync: { type: 'string' },
  'node-cpus': { type: 'string' },
  'node-pid': { type: 'string' },
  'order-capacity': { type: 'string' },
  scenario: { type: 'string' },
  'availability-share': { type: 'string' },
  processes: { type: 'string' },
  'load-cpus': { type: 'string' },
  connections: { type: 'string' },
  window: { type: 'string' },
  batch: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  'max-ops': { type: 'string' },
  'hold-share': { type: 'string' },
  'fulfil-share': { type: 'string' },
  'customer-locations': { type: 'boolean' },
  dcs: { type: 'string' },
  skus: { type: 'string' },
  stock: { type: 'string' },
  zipf: { type: 'string' },
  lines: { type: 'string' },
  'qty-max': { type: 'string' },
  'skus-per-query': { type: 'string' },
  'no-breakdown': { type: 'boolean' },
  seed: { type: 'string' },
  out: { type: 'string' },
} as const;

export interface WsLoadOptions {
  start: boolean;
  url: string | null;
  keys: { load: string; admin: string } | null;
  /** The CA to trust for a wss:// --url. */
  ca: { file: string; pem: Buffer } | null;
  /** With --start: the node serves TLS with a certificate made for the run. */
  tls: boolean;
  threads: number;
  fsync: DurabilityPolicy;
  nodeCpus: string | null;
  nodePid: number | null;
  orderCapacity: number;
  scenario: Scenario;
  processes: number;
  loadCpus: string | null;
  out: string | null;
  /** Per-process run configuration, without url, key, run id and stream. */
  run: Omit<WsRunConfig, 'wsUrl' | 'apiKey' | 'runId' | 'stream'>;
}

function cpuListFlag(values: Record<string, unknown>, name: string): string | null {
  const text = values[name];
  if (text === undefined) return null;
  if (typeof text !== 'string' || !/^\d+([-,]\d+)*$/.test(text)) {
    throw new UsageError(`--${name} must be a CPU list such as 0 or 0,1 or 0-1`);
  }
  return text;
}

function orderCapacityFlag(values: Record<string, string | boolean | undefined>): number {
  const capacity = intFlag(
    values,
    'order-capacity',
    ORDER_CAPACITY_DEFAULT,
    16,
    ORDER_CAPACITY_MAX,
  );
  if ((capacity & (capacity - 1)) !== 0)
    throw new UsageError('--order-capacity must be a power of two');
  return capacity;
}

function keysOf(values: Record<string, string | boolean | undefined>) {
  const file = values['keys-file'];
  if (typeof file === 'string') {
    const keys = readKeysFile(file);
    return { load: keys.orderer, admin: keys.admin };
  }
  const key = values.key;
  if (typeof key !== 'string') return null;
  const admin = values['admin-key'];
  return { load: key, admin: typeof admin === 'string' ? admin : key };
}

export function parseWsLoadArgs(argv: readonly string[]): WsLoadOptions | null {
  const command = parseCommandLine(argv, FLAGS);
  if (command.help) return null;
  const { values } = command;
  const url = typeof values.url === 'string' ? values.url : null;
  if (values.start === true && url !== null)
    throw new UsageError('give --start or --url, not both');
  // Without --url the generator starts its own node, so a bare `npm run loadtest` just works.
  const start = url === null;
  const keys = keysOf(values);
  if (url !== null && keys === null) {
    throw new UsageError('--url needs --key (and --admin-key) or --keys-file');
  }
  if (values.tls === true && !start) {
    throw new UsageError('--tls starts a TLS node; for a running one give a wss:// --url and --ca');
  }
  let ca: WsLoadOptions['ca'];
  try {
    ca = readCaOption(typeof values.ca === 'string' ? values.ca : undefined, process.env);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const scenario = choiceFlag(values, 'scenario', 'mixed', SCENARIOS);
  const seed =
    values.seed === undefined ? seedFromEnv(SEED_DEFAULT) : intFlag(values, 'seed', 0, 0, 2 ** 32);
  const processes = intFlag(values, 'processes', 1, 1, PROCESSES_MAX);
  return {
    start,
    url,
    keys,
    ca,
    tls: values.tls === true,
    threads: intFlag(
      values,
      'threads',
      startedNodeThreads(availableParallelism(), processes),
      1,
      256,
    ),
    fsync: policyFlag(values, 'fsync', 'fsync', ['fsync', 'write', 'none'] as const),
    nodeCpus: cpuListFlag(values, 'node-cpus'),
    orderCapacity: orderCapacityFlag(values),
    nodePid: values['node-pid'] === undefined ? null : intFlag(values, 'node-pid', 0, 1, 2 ** 22),
    scenario,
    processes,
    loadCpus: cpuListFlag(values, 'load-cpus'),
    out: typeof values.out === 'string' ? values.out : null,
    run: {
      connections: intFlag(values, 'connections', 4, 1, CONNECTIONS_PER_PROCESS_MAX),
      window: intFlag(values, 'window', SCENARIO_WINDOW[scenario].window, 1, WINDOW_MAX),
      batch: intFlag(values, 'batch', SCENARIO_WINDOW[scenario].batch, 0, ORDERS_PER_BATCH_MAX),
      warmupMs: numberFlag(values, 'warmup', 2, 0, DURATION_S_MAX) * 1000,
      durationMs: numberFlag(values, 'duration', 10, 0.1, DURATION_S_MAX) * 1000,
      opsMax: Math.ceil(
        intFlag(values, 'max-ops', OPS_MAX_DEFAULT, 1, OPS_MAX_CEILING) / processes,
      ),
      timeoutMs: TIMEOUT_MS_DEFAULT,
      dataset: {
        seed,
        dcs: intFlag(values, 'dcs', DATASET_DCS_DEFAULT, 1, 200),
        skus: intFlag(values, 'skus', DATASET_SKUS_DEFAULT, 1, 10_000),
        stockPerCell: intFlag(values, 'stock', STOCK_PER_CELL_DEFAULT, 1, STOCK_PER_CELL_MAX),
      },
      mix: {
        linesPerOrder: intFlag(values, 'lines', LINES_PER_ORDER_DEFAULT, 1, 32),
        qtyPerLineMax: intFlag(values, 'qty-max', QTY_PER_LINE_MAX_DEFAULT, 1, 1_000),
        zipfExponent: numberFlag(values, 'zipf', ZIPF_EXPONENT_DEFAULT, 0, 5),
        hotSku: false,
      },
      availabilityShare: numberFlag(
        values,
        'availability-share',
        SCENARIO_AVAILABILITY_SHARE[scenario],
        0,
        1,
      ),
      holdShare: numberFlag(values, 'hold-share', 0, 0, 1),
      fulfilShare: numberFlag(values, 'fulfil-share', 0, 0, 1),
      skusPerQuery: intFlag(values, 'skus-per-query', SKUS_PER_QUERY_DEFAULT, 1, 500),
      breakdown: values['no-breakdown'] !== true,
      customerLocations: values['customer-locations'] === true,
    },
  };
}

interface Target {
  wsUrl: string;
  loadKey: string;
  adminKey: string;
  /** A local node's PID when known: its CPU time is measured. */
  pid: number | null;
  started: NodeProcess | null;
  /** The CA the clients trust (wss://), else null. */
  ca: { file: string; pem: Buffer } | null;
  /** Stops a started node and removes what was made for it. */
  stop(): Promise<void>;
}

async function openTarget(options: WsLoadOptions): Promise<Target> {
  if (!options.start) {
    return {
      wsUrl: nodeUrls(options.url!).wsUrl,
      loadKey: options.keys!.load,
      adminKey: options.keys!.admin,
      pid: options.nodePid,
      started: null,
      ca: options.ca,
      stop: async () => {},
    };
  }
  const certDir = options.tls ? mkdtempSync(join(tmpdir(), 'inventory-loadtest-tls-')) : null;
  const removeCert = () => {
    if (certDir !== null) rmSync(certDir, { recursive: true, force: true });
  };
  let node: NodeProcess;
  let ca: Target['ca'] = null;
  try {
    const certificate = certDir === null ? null : makeSelfSignedCertificate(certDir);
    if (certificate !== null) ca = { file: certificate.caFile, pem: certificate.ca };
    node = await startNodeProcess({
      threads: options.threads,
      fsync: options.fsync,
      cpus: options.nodeCpus,
      orderCapacity: options.orderCapacity,
      extraArgs: ['--no-demo'],
      tls: certificate,
    });
  } catch (error) {
    removeCert();
    throw error;
  }
  const keys: NodeKeys = node.keys;
  return {
    wsUrl: node.wsUrl,
    loadKey: keys.orderer,
    adminKey: keys.admin,
    pid: node.pid,
    started: node,
    ca,
    stop: () => node.stop().finally(removeCert),
  };
}

/**
 * Whether the generators must run forked to trust the target's CA: NODE_EXTRA_CA_CERTS is
 * read only when a process starts, so it is set here for the forked generators to inherit.
 */
function trustForForks(target: Target): boolean {
  if (target.ca === null || process.env.NODE_EXTRA_CA_CERTS === target.ca.file) return false;
  process.env.NODE_EXTRA_CA_CERTS = target.ca.file;
  return true;
}

function runConfigs(options: WsLoadOptions, target: Target, runId: string): WsRunConfig[] {
  return Array.from({ length: options.processes }, (_, stream) => ({
    ...options.run,
    wsUrl: target.wsUrl,
    apiKey: target.loadKey,
    runId,
    stream,
  }));
}

/** How the machine's cores were shared, as configured and as measured. */
function coreSplit(
  options: WsLoadOptions,
  target: Target,
  generators: GeneratorOutcome,
  nodeCpuSeconds: number | null,
  wallSeconds: number,
): string {
  const cores = machineInfo().logicalCpus;
  const share = (cpu: number) =>
    `${cpu.toFixed(1)} CPU-s = ${(cpu / wallSeconds).toFixed(2)} cores`;
  const pinning = (cpus: string | null) => (cpus === null ? 'unpinned' : `pinned to CPU ${cpus}`);
  const node = target.started
    ? `node: ${options.threads} worker thread(s) + main thread + log writer, ` +
      `fsync=${options.fsync}${options.tls ? ', TLS' : ''}, ` +
      `order capacity ${options.orderCapacity}, ` +
      pinning(options.nodeCpus)
    : `node: at ${target.wsUrl}` +
      (target.pid === null ? ' (CPU not measured)' : ` (pid ${target.pid})`);
  const load =
    `load generator: ${options.processes} process(es)` +
    `${target.ca === null ? '' : ' (forked, TLS)'} × ${options.run.connections} ` +
    `connection(s) × ${options.run.window} in flight` +
    (options.run.batch > 0 ? ` (batches of ${options.run.batch})` : ' (one call each)') +
    `, ${pinning(options.loadCpus)}, ${youngGeneration()}`;
  const lines = [`${cores} logical CPUs shared by`, `  ${node}`, `  ${load}`];
  if (nodeCpuSeconds !== null) lines.push(`  measured: node ${share(nodeCpuSeconds)}`);
  lines.push(`  measured: load generator ${share(generators.cpuSeconds)}`);
  return lines.join('\n');
}

function printBars(merged: MergedRun, scenario: Scenario): string[] {
  const lines: string[] = [];
  for (const op of ['order', 'availability'] as const) {
    const found = merged.ops.find((entry) => entry.op === op);
    if (found === undefined) continue;
    const bar = BARS[op];
    const met = found.row.perSecond >= bar.perSecondMin && found.row.latency.p99 <= bar.p99MsMax;
    const note = scenario === 'mixed' ? ' (mixed run: the bar is for a dedicated run)' : '';
    lines.push(
      `bar ${bar.what}: ≥ ${formatCount(bar.perSecondMin)}/s, p99 ≤ ${bar.p99MsMax} ms → ` +
        `${formatCount(found.row.perSecond)}/s, p99 ${formatMs(found.row.latency.p99)} ms: ` +
        `${met ? 'MET' : 'NOT MET'}${note}`,
    );
  }
  return lines;
}

interface Measured {
  generators: GeneratorOutcome;
  merged: MergedRun;
  nodeCpuSeconds: number | null;
  wallSeconds: number;
  /** The per-stage table; null when /metrics could not be read (TLS, a remote node's key). */
  budget: StageBudget | null;
}

async function measure(options: WsLoadOptions, target: Target, runId: string): Promise<Measured> {
  const dataset = buildDataset(options.run.dataset);
  const connect = { apiKey: target.adminKey, timeoutMs: TIMEOUT_MS_DEFAULT, ca: target.ca?.pem };
  const provisioned = await provisionAt(target.wsUrl, connect, dataset);
  process.stderr.write(`dataset: ${JSON.stringify(provisioned)}\n`);
  const configs = runConfigs(options, target, runId);
  const metricsUrl = `${nodeUrls(target.wsUrl).url}/metrics`;
  const forked = trustForForks(target) || options.processes > 1;
  const nodeCpuBefore = target.pid === null ? null : processCpuSeconds(target.pid);
  const scraped = await runScraped(metricsUrl, target.ca === null ? target.adminKey : null, () =>
    forked
      ? runForked(new URL(import.meta.url), configs, options.loadCpus)
      : runInProcess(configs[0], options.loadCpus),
  );
  const nodeCpuAfter = target.pid === null ? null : processCpuSeconds(target.pid);
  const generators = scraped.result;
  const merged = mergeResults(generators.results);
  const answersPerSecond = merged.ops.reduce((sum, entry) => sum + entry.row.perSecond, 0);
  return {
    generators,
    merged,
    budget: scraped.budget(answersPerSecond, generators.cpuSeconds),
    nodeCpuSeconds:
      nodeCpuBefore === null || nodeCpuAfter === null ? null : nodeCpuAfter - nodeCpuBefore,
    wallSeconds: scraped.spanSeconds,
  };
}

function report(
  options: WsLoadOptions,
  target: Target,
  measured: Measured,
  date: Date,
  argv: readonly string[],
  conditions: string,
): number {
  const { merged } = measured;
  const split = coreSplit(
    options,
    target,
    measured.generators,
    measured.nodeCpuSeconds,
    measured.wallSeconds,
  );
  const bars = printBars(merged, options.scenario);
  const machine = machineInfo();
  const out = options.out ?? join(outDir(), `ws-load-${fileStamp(date)}.json`);
  const seconds = (merged.measuredMs / 1000).toFixed(1);
  const errorLines = merged.ops
    .filter((entry) => entry.row.errors > 0)
    .map((entry) => `errors ${entry.op}: ${JSON.stringify(entry.errors)}`);
  if (errorLines.some((line) => line.includes('CAPACITY_EXHAUSTED'))) {
    errorLines.push(CAPACITY_HINT);
  }
  const lines = [
    '',
    `WebSocket load, scenario ${options.scenario}, ${seconds} s measured`,
    `machine: ${describeMachine(machine)}`,
    conditions,
    split,
    '',
    latencyTable(merged.ops.map((entry) => entry.row)),
    '',
    ...(measured.budget === null ? [] : [formatStageBudget(measured.budget), '']),
    ...errorLines,
    ...bars,
    `result: ${out}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  writeJson(out, {
    kind: 'ws-load',
    date: date.toISOString(),
    command: `node dist/loadtest/ws-load.js ${argv.join(' ')}`,
    machine,
    conditions,
    coreSplit: split,
    nodeCpuSeconds: measured.nodeCpuSeconds,
    generatorCpuSeconds: measured.generators.cpuSeconds,
    wallSeconds: measured.wallSeconds,
    stageBudget: measured.budget,
    options: { ...options, keys: undefined },
    measuredMs: merged.measuredMs,
    unitsPlaced: merged.unitsPlaced,
    unitsFulfilled: merged.unitsFulfilled,
    ops: merged.ops,
    bars,
  });
  const failed = merged.ops.some((entry) =>
    Object.keys(entry.errors).some((code) => code !== 'OUT_OF_STOCK'),
  );
  return failed ? 1 : 0;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes(CHILD_FLAG)) return runChild();
  const options = parseWsLoadArgs(argv);
  if (options === null) return showUsage(USAGE);
  const date = new Date();
  const runId = makeRunId(date.getTime(), Math.random);
  const conditions = describeLoad();
  const target = await openTarget(options);
  const release = stopOnSignal(() => target.stop());
  try {
    if (target.started !== null) {
      process.stderr.write(`started a node: pid ${target.started.pid}, ${target.started.url}\n`);
    }
    const measured = await measure(options, target, runId);
    return report(options, target, measured, date, argv, conditions);
  } finally {
    release();
    await target.stop();
  }
}

/**
 * The generator's young-generation setting: `npm run loadtest` passes --max-semi-space-size
 * (fewer scavenges of the SDK's per-call garbage; RESULTS.md has the measured effect).
 */
function youngGeneration(): string {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const flag = flags.find((value) => value.startsWith('--max-semi-space-size'));
  return flag === undefined ? 'default young generation' : flag;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

/**
 * `npm run compare`: the same order workload, side by side, against this engine (over
 * WebSocket through the SDK), Redis + Lua (appendfsync everysec and always) and PostgreSQL
 * (one transaction per order), each started by this script on 127.0.0.1 with a temporary data
 * directory and stopped again by its PID. Same DCs, same SKUs, same stock, same order
 * sequence (3-line all-or-nothing orders, Zipf SKU popularity), same concurrency, same
 * duration; then a hot-SKU scenario (every order takes the same SKU at the same DC).
 *
 * Prints orders/s, p50, p99 and p99.9 per system and scenario, the ratios, and what each
 * system's acknowledgement survives; writes JSON and an HTML page with HDR percentile plots
 * to loadtest/out/.
 *
 * Invariants: one system runs at a time (the machine's cores are shared by that system and
 * this load generator only); every server started is stopped on every exit path; the run is
 * bounded by time and by count.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seedFromEnv } from '../../engine/testing/index.js';
import { intFlag, isEntryPoint, numberFlag, runMain, stopOnSignal, UsageError } from '../cli.js';
import {
  decodeHistogram,
  encodeHistogram,
  formatMs,
  percentileSeries,
  summarize,
} from '../histogram.js';
import {
  describeLoad,
  describeMachine,
  fileStamp,
  formatCount,
  machineInfo,
  outDir,
  processTreeCpuSeconds,
  writeJson,
} from '../report.js';
import {
  buildDataset,
  type Dataset,
  DATASET_DCS_DEFAULT,
  DATASET_SKUS_DEFAULT,
  makeRunId,
  OrderSource,
  orderMixDefault,
  STOCK_PER_CELL_DEFAULT,
} from '../workload.js';
import { CHECK_DATASET, checkConservation } from './check.js';
import { driveOrders } from './drive.js';
import { htmlReport, type PlotChart } from './plot.js';
import {
  startEngineSystem,
  startPostgresSystem,
  startRedisSystem,
  type SystemUnderTest,
} from './systems.js';

const SYSTEM_KEYS = [
  'engine-fsync',
  'engine-commit',
  'redis-everysec',
  'redis-always',
  'postgres',
] as const;
type SystemKey = (typeof SYSTEM_KEYS)[number];
const SCENARIO_KEYS = ['uniform', 'hot'] as const;
type ScenarioKey = (typeof SCENARIO_KEYS)[number];
const SCENARIO_TITLES: Record<ScenarioKey, string> = {
  uniform: '3-line orders, Zipf SKU popularity over every DC',
  hot: 'hot SKU: every order takes SKU 0 at DC 0, plus 2 Zipf lines',
};
const SEED_DEFAULT = 20_241_121;
/**
 * Orders per system and scenario, warm-up included. Bounds the engine's order table (every
 * committed order stays live; see systems.ts) and so the cost of its expiry sweep.
 */
const ORDERS_MAX_DEFAULT = 500_000;

export interface CompareOptions {
  /** Run the conservation check instead of the benchmark. */
  check: boolean;
  systems: SystemKey[];
  scenarios: ScenarioKey[];
  concurrency: number;
  connections: number;
  threads: number;
  warmupMs: number;
  durationMs: number;
  ordersMax: number;
  seed: number;
  dcs: number;
  skus: number;
  stock: number;
}

export const USAGE = `Usage: npm run compare -- [options]

  --systems <list>       comma-separated, any of ${SYSTEM_KEYS.join(', ')} (default all)
  --scenarios <list>     uniform, hot (default both)
  --concurrency <n>      orders in flight at once, the same for every system (default 128);
                         PostgreSQL runs one transaction per connection, so it gets n connections
  --connections <n>      engine and Redis connections carrying them (default 4)
  --threads <n>          engine worker threads (default 2)
  --duration <s>         measured seconds per system and scenario (default 10)
  --warmup <s>           seconds before measuring (default 2)
  --max-orders <n>       orders per system and scenario, warm-up included (default
                         ${ORDERS_MAX_DEFAULT}); a run that reaches it ends early
  --dcs <n>              DCs (default ${DATASET_DCS_DEFAULT})
  --skus <n>             SKUs (default ${DATASET_SKUS_DEFAULT})
  --stock <n>            units per (DC, SKU) cell (default ${STOCK_PER_CELL_DEFAULT})
  --seed <n>             workload seed (or SEED=; default ${SEED_DEFAULT})
  --check                instead of measuring, check that each system conserves stock:
                         sell out a tiny stock with concurrent 3-line orders, then compare

Redis and PostgreSQL come from Debian's packages; when missing they are installed with
apt-get install -y (root needed). Each server runs on 127.0.0.1 on a free port with a
temporary data directory and is stopped (by its PID) when its runs end.
`;

const FLAGS = {
  systems: { type: 'string' },
  scenarios: { type: 'string' },
  concurrency: { type: 'string' },
  connections: { type: 'string' },
  threads: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  'max-orders': { type: 'string' },
  dcs: { type: 'string' },
  skus: { type: 'string' },
  stock: { type: 'string' },
  seed: { type: 'string' },
  check: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

function listFlag<T extends string>(
  text: string | undefined,
  all: readonly T[],
  name: string,
): T[] {
  if (text === undefined) return [...all];
  const items = text.split(',').map((item) => item.trim());
  for (const item of items) {
    if (!(all as readonly string[]).includes(item)) {
      throw new UsageError(`--${name}: '${item}' is not one of ${all.join(', ')}`);
    }
  }
  return items as T[];
}

export function parseCompareArgs(argv: readonly string[]): CompareOptions | null {
  const { values } = parseArgs({ args: [...argv], options: FLAGS, strict: true });
  if (values.help) return null;
  const concurrency = intFlag(values, 'concurrency', 128, 1, 4_096);
  return {
    check: values.check === true,
    systems: listFlag(values.systems, SYSTEM_KEYS, 'systems'),
    scenarios: listFlag(values.scenarios, SCENARIO_KEYS, 'scenarios'),
    concurrency,
    connections: Math.min(concurrency, intFlag(values, 'connections', 4, 1, 1_024)),
    threads: intFlag(values, 'threads', 2, 1, 64),
    warmupMs: numberFlag(values, 'warmup', 2, 0, 600) * 1000,
    durationMs: numberFlag(values, 'duration', 10, 0.5, 3_600) * 1000,
    ordersMax: intFlag(values, 'max-orders', ORDERS_MAX_DEFAULT, 1, 1_000_000_000),
    seed:
      values.seed === undefined
        ? seedFromEnv(SEED_DEFAULT)
        : intFlag(values, 'seed', 0, 0, 2 ** 32),
    dcs: intFlag(values, 'dcs', DATASET_DCS_DEFAULT, 1, 200),
    skus: intFlag(values, 'skus', DATASET_SKUS_DEFAULT, 3, 10_000),
    stock: intFlag(values, 'stock', STOCK_PER_CELL_DEFAULT, 1, 1_000_000_000),
  };
}

export interface RunRow {
  system: SystemKey;
  name: string;
  scenario: ScenarioKey;
  ordersPerSecond: number;
  accepted: number;
  refused: number;
  errors: Record<string, number>;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** CPU the system's server used during the run, in cores (null when not readable). */
  serverCores: number | null;
  /** CPU this load generator used during the run, in cores. */
  generatorCores: number;
  histogram: string;
}

async function startSystem(
  key: SystemKey,
  options: CompareOptions,
  dataset: Dataset,
  runId: string,
  say: (line: string) => void,
): Promise<SystemUnderTest> {
  switch (key) {
    case 'engine-fsync':
      return startEngineSystem(dataset, 'fsync', options.threads, options.ordersMax, `${runId}f`);
    case 'engine-commit':
      return startEngineSystem(dataset, 'commit', options.threads, options.ordersMax, `${runId}c`);
    case 'redis-everysec':
      return startRedisSystem(dataset, 'everysec', say);
    case 'redis-always':
      return startRedisSystem(dataset, 'always', say);
    case 'postgres':
      return startPostgresSystem(dataset, options.concurrency, say);
  }
}

function cpuSecondsNow(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

async function runScenario(
  system: SystemUnderTest,
  key: SystemKey,
  scenario: ScenarioKey,
  options: CompareOptions,
  dataset: Dataset,
): Promise<RunRow> {
  // PostgreSQL runs one transaction per connection: its concurrency is its connection count.
  const connectionCount = key === 'postgres' ? options.concurrency : options.connections;
  const connections = await system.connect(connectionCount);
  const mix = { ...orderMixDefault(), hotSku: scenario === 'hot' };
  const source = new OrderSource(dataset, mix, 0);
  const serverBefore = processTreeCpuSeconds(system.pid);
  const generatorBefore = cpuSecondsNow();
  const wallStart = performance.now();
  try {
    const result = await driveOrders(connections, source, {
      concurrency: options.concurrency,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      ordersMax: options.ordersMax,
    });
    const wallSeconds = (performance.now() - wallStart) / 1000;
    const serverAfter = processTreeCpuSeconds(system.pid);
    const summary = summarize(result.histogram);
    return {
      system: key,
      name: system.name,
      scenario,
      ordersPerSecond:
        result.measuredMs > 0 ? ((result.accepted + result.refused) * 1000) / result.measuredMs : 0,
      accepted: result.accepted,
      refused: result.refused,
      errors: result.errors,
      p50: summary.p50,
      p99: summary.p99,
      p999: summary.p999,
      max: summary.max,
      serverCores:
        serverBefore === null || serverAfter === null
          ? null
          : (serverAfter - serverBefore) / wallSeconds,
      generatorCores: (cpuSecondsNow() - generatorBefore) / wallSeconds,
      histogram: encodeHistogram(result.histogram),
    };
  } finally {
    await Promise.allSettled(connections.map((connection) => connection.close()));
  }
}

function formatRow(row: RunRow): string {
  const errors = Object.values(row.errors).reduce((sum, n) => sum + n, 0);
  const cores = row.serverCores === null ? '   ?' : row.serverCores.toFixed(2);
  return [
    row.name.padEnd(44),
    row.scenario.padEnd(8),
    formatCount(row.ordersPerSecond).padStart(10),
    formatMs(row.p50).padStart(8),
    formatMs(row.p99).padStart(8),
    formatMs(row.p999).padStart(8),
    formatCount(row.refused).padStart(8),
    formatCount(errors).padStart(7),
    cores.padStart(6),
    row.generatorCores.toFixed(2).padStart(6),
  ].join(' ');
}

export function resultsTable(rows: readonly RunRow[]): string {
  const header = [
    'system'.padEnd(44),
    'scenario'.padEnd(8),
    'orders/s'.padStart(10),
    'p50 ms'.padStart(8),
    'p99 ms'.padStart(8),
    'p99.9'.padStart(8),
    'refused'.padStart(8),
    'errors'.padStart(7),
    'server'.padStart(6),
    'load'.padStart(6),
  ].join(' ');
  return [header, '-'.repeat(header.length), ...rows.map(formatRow)].join('\n');
}

const RATIO_PAIRS: readonly [SystemKey, SystemKey, string][] = [
  ['engine-fsync', 'redis-always', 'equal durability (fsync before the answer)'],
  ['engine-commit', 'redis-everysec', 'equal durability (survives a process crash)'],
  ['engine-fsync', 'redis-everysec', 'engine more durable'],
  ['engine-fsync', 'postgres', 'equal durability (fsync before the answer)'],
];

export function ratioLines(rows: readonly RunRow[]): string[] {
  const lines: string[] = [];
  for (const scenario of SCENARIO_KEYS) {
    for (const [engine, other, note] of RATIO_PAIRS) {
      const a = rows.find((row) => row.system === engine && row.scenario === scenario);
      const b = rows.find((row) => row.system === other && row.scenario === scenario);
      if (a === undefined || b === undefined || b.ordersPerSecond === 0) continue;
      const ratio = a.ordersPerSecond / b.ordersPerSecond;
      lines.push(
        `${scenario.padEnd(8)} ${engine} ÷ ${other}: ${ratio.toFixed(2)}× orders/s ` +
          `(p99 ${formatMs(a.p99)} vs ${formatMs(b.p99)} ms; ${note})`,
      );
    }
  }
  return lines;
}

const HONESTY_NOTES = [
  'What each acknowledgement survives:',
  '  engine --fsync fsync   answered after its log record is fsynced (group commit)',
  '  engine --fsync commit  answered after the LMDB commit; fsync left to the OS',
  '  redis always           answered after the AOF write is fsynced (per event-loop batch)',
  '  redis everysec         AOF written before answering, fsynced once a second',
  '  postgresql             COMMIT with synchronous_commit on: WAL fsynced',
  'So engine fsync ~ redis always ~ postgresql, and engine commit ~ redis everysec.',
  'The engine does more per order than the textbook scripts: it allocates by the customer',
  'location (nearest DC in range that has every line), keeps an order record and an',
  'idempotency record (a retried order id returns the first answer), and logs the order',
  'for recovery. Redis and PostgreSQL only decrement counters the client already chose.',
  'One system runs at a time; the load generator (this process) shares the same cores,',
  'and "server"/"load" show the CPU cores each used during the run.',
];

async function runChecks(options: CompareOptions, runId: string, say: (line: string) => void) {
  const dataset = buildDataset({ seed: options.seed, ...CHECK_DATASET });
  let failed = false;
  for (const key of options.systems) {
    const system = await startSystem(key, options, dataset, runId, say);
    const release = stopOnSignal(() => system.stop());
    try {
      const report = await checkConservation(system, dataset);
      const verdict = report.failures.length === 0 ? 'PASS' : 'FAIL';
      say(
        `${verdict} ${report.system}: ${report.accepted} orders accepted, ${report.refused} ` +
          `refused, units taken per SKU: ${JSON.stringify(report.skus.map((row) => row.taken))}`,
      );
      for (const failure of report.failures) say(`  - ${failure}`);
      failed ||= report.failures.length > 0;
    } finally {
      release();
      await system.stop();
    }
  }
  return failed ? 1 : 0;
}

/** Every system × scenario, one at a time, each on a freshly started and loaded server. */
async function runAll(
  options: CompareOptions,
  dataset: Dataset,
  runId: string,
  say: (line: string) => void,
): Promise<{ rows: RunRow[]; servers: Record<string, Record<string, string>> }> {
  const rows: RunRow[] = [];
  const servers: Record<string, Record<string, string>> = {};
  for (const key of options.systems) {
    for (const scenario of options.scenarios) {
      say(`starting ${key} for the ${scenario} scenario...`);
      const system = await startSystem(key, options, dataset, `${runId}${scenario[0]}`, say);
      const release = stopOnSignal(() => system.stop());
      servers[key] = { durability: system.durability, ...system.settings };
      try {
        const row = await runScenario(system, key, scenario, options, dataset);
        say(formatRow(row));
        rows.push(row);
      } finally {
        release();
        await system.stop();
      }
    }
  }
  return { rows, servers };
}

async function main(): Promise<number> {
  const options = parseCompareArgs(process.argv.slice(2));
  if (options === null) {
    process.stdout.write(USAGE);
    return 0;
  }
  const date = new Date();
  const runId = makeRunId(date.getTime(), Math.random);
  if (options.check) return runChecks(options, runId, (line) => process.stdout.write(`${line}\n`));
  const dataset = buildDataset({
    seed: options.seed,
    dcs: options.dcs,
    skus: options.skus,
    stockPerCell: options.stock,
  });
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const machine = machineInfo();
  const conditions = describeLoad();
  say(`machine: ${describeMachine(machine)}`);
  say(
    `workload: ${options.dcs} DCs × ${options.skus} SKUs, ` +
      `${formatCount(options.stock)} units per ` +
      `cell, 3-line orders, concurrency ${options.concurrency}, ` +
      `${options.warmupMs / 1000} s warm-up + ${options.durationMs / 1000} s per run`,
  );
  const { rows, servers } = await runAll(options, dataset, runId, say);
  const table = resultsTable(rows);
  const ratios = ratioLines(rows);
  const base = join(outDir(), `compare-${fileStamp(date)}`);
  const notes = [
    `machine: ${describeMachine(machine)}`,
    `date: ${date.toISOString()}, ${conditions}`,
    `command: npm run compare -- ${process.argv.slice(2).join(' ')}`,
    '',
    table,
    '',
    ...ratios,
    '',
    ...HONESTY_NOTES,
  ];
  process.stdout.write(`\n${notes.join('\n')}\n\nresults: ${base}.json, ${base}.html\n`);
  writeJson(`${base}.json`, {
    kind: 'compare',
    date: date.toISOString(),
    machine,
    options,
    servers,
    rows,
    ratios,
  });
  const charts: PlotChart[] = options.scenarios.map((scenario) => ({
    title: SCENARIO_TITLES[scenario],
    series: rows
      .filter((row) => row.scenario === scenario)
      .map((row) => ({
        label: `${row.name}: ${formatCount(row.ordersPerSecond)} orders/s`,
        points: percentileSeries(decodeHistogram(row.histogram)),
      })),
  }));
  writeFileSync(`${base}.html`, htmlReport('Orders side by side', notes, charts));
  const broken = rows.some((row) => Object.keys(row.errors).length > 0);
  return broken ? 1 : 0;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

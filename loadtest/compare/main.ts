/**
 * `npm run compare`: the same workload, side by side, against this engine (over WebSocket
 * through its SDK), Redis + Lua (appendfsync everysec and always, through ioredis) and
 * PostgreSQL (one transaction per order, through pg), each started by this script on
 * 127.0.0.1 with a temporary data directory and stopped again by its PID. Same DCs, same SKUs,
 * same stock, same order sequence (3-line all-or-nothing orders, Zipf SKU popularity), same
 * concurrency, same duration; then a hot-SKU scenario (every order takes the same SKU at the
 * same DC); then availability (a location and 20 SKUs with the per-DC breakdown) against
 * Redis's GEOSEARCH + Lua, and a check that both give the same answers.
 *
 * Prints orders/s (queries/s), p50, p99 and p99.9 per system and scenario, the ratios, and what
 * each system's acknowledgement survives; writes JSON and an HTML page with HDR percentile
 * plots to loadtest/out/.
 *
 * Invariants: one system is measured at a time (the machine's cores are shared by that system
 * and this load generator; during availability the other server is up and idle, because the
 * agreement check needs both); every server started is stopped on every exit path; the run
 * is bounded by time and by count.
 */

import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { median, seedFromEnv } from '../../engine/testing/index.js';
import type { AvailabilityArgs } from '../../protocol/client/index.js';
import {
  intFlag,
  isEntryPoint,
  numberFlag,
  parseCommandLine,
  runMain,
  showUsage,
  stopOnSignal,
  UsageError,
} from '../cli.js';
import { decodeHistogram, formatMs, percentileSeries } from '../histogram.js';
import { startedNodeThreads } from '../node-process.js';
import {
  describeLoad,
  describeMachine,
  fileStamp,
  formatCount,
  machineInfo,
  outDir,
  writeJson,
} from '../report.js';
import {
  type Dataset,
  DATASET_DCS_DEFAULT,
  DATASET_SKUS_DEFAULT,
  makeRunId,
  type OrderDraw,
  OrderSource,
  orderMixDefault,
  STOCK_PER_CELL_DEFAULT,
} from '../workload.js';
import {
  AGREEMENT_ORDERS,
  AGREEMENT_QUERIES_DEFAULT,
  type AgreementReport,
  compareAnswers,
  measuredQueries,
  placeSameOrders,
  SKUS_PER_QUERY,
} from './availability.js';
import { CHECK_CONCURRENCY, CHECK_DATASET, checkConservation } from './check.js';
import { buildCompareDataset, searchRadiusKm } from './dataset.js';
import { type Measured, measure } from './measure.js';
import { htmlReport, type PlotChart } from './plot.js';
import { startPostgresSystem } from './postgres-system.js';
import { startRedisSystem } from './redis-system.js';
import { type AvailabilityClients, startEngineSystem, type SystemUnderTest } from './systems.js';

const SYSTEM_KEYS = [
  'engine-fsync',
  'engine-write',
  'redis-everysec',
  'redis-always',
  'postgres',
] as const;
type SystemKey = (typeof SYSTEM_KEYS)[number];
const SCENARIO_KEYS = ['uniform', 'hot', 'availability'] as const;
type ScenarioKey = (typeof SCENARIO_KEYS)[number];
const ORDER_SCENARIO_KEYS = ['uniform', 'hot'] as const;
type OrderScenarioKey = (typeof ORDER_SCENARIO_KEYS)[number];
const SCENARIO_TITLES: Record<ScenarioKey, string> = {
  uniform: '3-line orders, Zipf SKU popularity over every DC',
  hot: 'hot SKU: every order takes SKU 0 at DC 0, plus 2 Zipf lines',
  availability: `availability: a customer location and ${SKUS_PER_QUERY} SKUs, per-DC breakdown`,
};
/** The engine and Redis configurations availability runs on, in order of preference. */
const AVAILABILITY_ENGINES: readonly SystemKey[] = ['engine-fsync', 'engine-write'];
const AVAILABILITY_REDISES: readonly SystemKey[] = ['redis-everysec', 'redis-always'];
const SEED_DEFAULT = 20_241_121;
/**
 * Orders per system and scenario, warm-up included. Bounds the engine's order table (every
 * committed order stays live; see systems.ts) and so the cost of its expiry sweep.
 */
const ORDERS_MAX_DEFAULT = 500_000;
/** Rounds of the order runs at most: each round of the full sweep takes about 2.5 minutes. */
const ROUNDS_MAX = 20;

export interface CompareOptions {
  /** Run the conservation check instead of the benchmark. */
  check: boolean;
  systems: SystemKey[];
  scenarios: ScenarioKey[];
  /** Availability queries whose answers the engine and Redis must agree on. */
  agreementQueries: number;
  concurrency: number;
  connections: number;
  threads: number;
  warmupMs: number;
  durationMs: number;
  ordersMax: number;
  /** Times every order run is repeated, in turn; each ratio is the median of the rounds'. */
  rounds: number;
  seed: number;
  dcs: number;
  skus: number;
  stock: number;
}

export const USAGE = `Usage: npm run compare -- [options]

  --systems <list>       comma-separated, any of ${SYSTEM_KEYS.join(', ')} (default all)
  --scenarios <list>     uniform, hot, availability (default all three); availability runs
                         on the first engine and the first Redis system selected
  --concurrency <n>      orders (queries) in flight at once, the same for every system (default
                         128); PostgreSQL runs one transaction per connection, so its pool has n
  --connections <n>      engine and Redis connections carrying them (default 4)
  --threads <n>          engine worker threads (default: the cores less the one of this
                         load generator, at least 1; 1 here)
  --duration <s>         measured seconds per system and scenario (default 10)
  --warmup <s>           seconds before measuring (default 2)
  --rounds <n>           run every system and order scenario n times, in turn, each time on
                         a fresh server, and give each ratio as the median of the n rounds'
                         ratios, each round's systems measured minutes apart (default 1; 3
                         or more on a machine whose speed drifts); availability runs once
  --max-orders <n>       orders (queries) per system and scenario, warm-up included
                         (default ${ORDERS_MAX_DEFAULT}); a run that reaches it ends early
  --agreement <n>        availability queries the engine and Redis must answer alike, after
                         the same orders on both (default ${AGREEMENT_QUERIES_DEFAULT})
  --dcs <n>              DCs (default ${DATASET_DCS_DEFAULT})
  --skus <n>             SKUs (default ${DATASET_SKUS_DEFAULT})
  --stock <n>            units per (DC, SKU) cell (default ${STOCK_PER_CELL_DEFAULT})
  --seed <n>             workload seed (or SEED=; default ${SEED_DEFAULT})
  --check                instead of measuring, check that each system conserves stock:
                         sell out a tiny stock with concurrent 3-line orders, then compare

Redis and PostgreSQL come from Debian's packages; when missing they are installed with
apt-get install -y (root needed). Each server runs on 127.0.0.1 on a free port with a
temporary data directory and is stopped (by its PID) when its runs end. Redis is driven
through ioredis (auto-pipelining, Lua by EVALSHA), PostgreSQL through pg (a Pool).
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
  rounds: { type: 'string' },
  agreement: { type: 'string' },
  dcs: { type: 'string' },
  skus: { type: 'string' },
  stock: { type: 'string' },
  seed: { type: 'string' },
  check: { type: 'boolean' },
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
  const command = parseCommandLine(argv, FLAGS);
  if (command.help) return null;
  const { values } = command;
  const concurrency = intFlag(values, 'concurrency', 128, 1, 4_096);
  return {
    check: values.check === true,
    // engine-commit: the deprecated name of engine-write (the policy `commit` became `write`).
    systems: listFlag(
      values.systems?.replace(/\bengine-commit\b/g, 'engine-write'),
      SYSTEM_KEYS,
      'systems',
    ),
    scenarios: listFlag(values.scenarios, SCENARIO_KEYS, 'scenarios'),
    agreementQueries: intFlag(values, 'agreement', AGREEMENT_QUERIES_DEFAULT, 1, 10_000),
    concurrency,
    connections: Math.min(concurrency, intFlag(values, 'connections', 4, 1, 1_024)),
    // The generator is this one process.
    threads: intFlag(values, 'threads', startedNodeThreads(availableParallelism(), 1), 1, 64),
    warmupMs: numberFlag(values, 'warmup', 2, 0, 600) * 1000,
    durationMs: numberFlag(values, 'duration', 10, 0.5, 3_600) * 1000,
    ordersMax: intFlag(values, 'max-orders', ORDERS_MAX_DEFAULT, 1, 1_000_000_000),
    rounds: intFlag(values, 'rounds', 1, 1, ROUNDS_MAX),
    seed:
      values.seed === undefined
        ? seedFromEnv(SEED_DEFAULT)
        : intFlag(values, 'seed', 0, 0, 2 ** 32),
    dcs: intFlag(values, 'dcs', DATASET_DCS_DEFAULT, 1, 200),
    skus: intFlag(values, 'skus', DATASET_SKUS_DEFAULT, 3, 10_000),
    stock: intFlag(values, 'stock', STOCK_PER_CELL_DEFAULT, 1, 1_000_000_000),
  };
}

/** One order run: a system in one scenario, in one round (1 when there is one). */
export interface RunRow extends Omit<Measured, 'perSecond'> {
  system: SystemKey;
  name: string;
  scenario: OrderScenarioKey;
  round: number;
  ordersPerSecond: number;
}

/** One availability run: `accepted` counts the queries answered. */
export interface AvailabilityRow extends Omit<Measured, 'perSecond' | 'refused'> {
  system: SystemKey;
  name: string;
  queriesPerSecond: number;
}

export interface AvailabilityOutcome {
  rows: AvailabilityRow[];
  agreement: AgreementReport;
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
    case 'engine-write':
      return startEngineSystem(dataset, 'write', options.threads, options.ordersMax, `${runId}c`);
    case 'redis-everysec':
      return startRedisSystem(dataset, 'everysec', say);
    case 'redis-always':
      return startRedisSystem(dataset, 'always', say);
    case 'postgres':
      // Room for the measured runs' pool and for the conservation check's.
      return startPostgresSystem(dataset, Math.max(options.concurrency, CHECK_CONCURRENCY), say);
  }
}

function driveOptions(options: CompareOptions) {
  return {
    concurrency: options.concurrency,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    callsMax: options.ordersMax,
  };
}

async function runScenario(
  system: SystemUnderTest,
  key: SystemKey,
  scenario: OrderScenarioKey,
  round: number,
  options: CompareOptions,
  dataset: Dataset,
): Promise<RunRow> {
  const clients = await system.openOrders(options.concurrency, options.connections);
  const mix = { ...orderMixDefault(), hotSku: scenario === 'hot' };
  const source = new OrderSource(dataset, mix, 0);
  try {
    const { perSecond, ...measured } = await measure<OrderDraw>(
      system.pid,
      clients.place,
      () => source.next(),
      driveOptions(options),
    );
    return {
      system: key,
      name: system.name,
      scenario,
      round,
      ordersPerSecond: perSecond,
      ...measured,
    };
  } finally {
    await clients.close();
  }
}

async function runAvailabilityOn(
  system: SystemUnderTest,
  key: SystemKey,
  clients: AvailabilityClients,
  options: CompareOptions,
  dataset: Dataset,
): Promise<AvailabilityRow> {
  const calls = clients.query.map(
    (query) => (args: AvailabilityArgs) => query(args).then(() => true),
  );
  const source = measuredQueries(dataset);
  const {
    perSecond,
    refused: _refused,
    ...measured
  } = await measure(system.pid, calls, () => source.next(), driveOptions(options));
  return { system: key, name: system.name, queriesPerSecond: perSecond, ...measured };
}

function formatCells(
  name: string,
  scenario: string,
  perSecond: number,
  measured: Omit<Measured, 'perSecond' | 'refused' | 'accepted'>,
  refused: string,
): string {
  const errors = Object.values(measured.errors).reduce((sum, n) => sum + n, 0);
  const cores = measured.serverCores === null ? '   ?' : measured.serverCores.toFixed(2);
  return [
    name.padEnd(44),
    scenario.padEnd(10),
    formatCount(perSecond).padStart(10),
    formatMs(measured.p50).padStart(8),
    formatMs(measured.p99).padStart(8),
    formatMs(measured.p999).padStart(8),
    refused.padStart(8),
    formatCount(errors).padStart(7),
    cores.padStart(6),
    measured.generatorCores.toFixed(2).padStart(6),
  ].join(' ');
}

function formatRow(row: RunRow, rounds: number): string {
  const scenario = rounds > 1 ? `${row.scenario} ${row.round}` : row.scenario;
  return formatCells(row.name, scenario, row.ordersPerSecond, row, formatCount(row.refused));
}

function formatAvailabilityRow(row: AvailabilityRow): string {
  return formatCells(row.name, 'avail', row.queriesPerSecond, row, '-');
}

function tableHeader(unit: string): string {
  const header = [
    'system'.padEnd(44),
    'scenario'.padEnd(10),
    unit.padStart(10),
    'p50 ms'.padStart(8),
    'p99 ms'.padStart(8),
    'p99.9'.padStart(8),
    'refused'.padStart(8),
    'errors'.padStart(7),
    'server'.padStart(6),
    'load'.padStart(6),
  ].join(' ');
  return `${header}\n${'-'.repeat(header.length)}`;
}

export function resultsTable(rows: readonly RunRow[], rounds: number): string {
  return [tableHeader('orders/s'), ...rows.map((row) => formatRow(row, rounds))].join('\n');
}

const AVAILABILITY_CAPTION =
  `availability, ${SKUS_PER_QUERY} SKUs at a customer location with the per-DC breakdown: ` +
  'engine through the SDK, Redis by GEOSEARCH + MGET in one Lua script (EVALSHA)';

export function availabilityTable(rows: readonly AvailabilityRow[]): string {
  return [AVAILABILITY_CAPTION, tableHeader('queries/s'), ...rows.map(formatAvailabilityRow)].join(
    '\n',
  );
}

const RATIO_PAIRS: readonly [SystemKey, SystemKey, string][] = [
  ['engine-fsync', 'redis-always', 'equal durability (fsync before the answer)'],
  ['engine-write', 'redis-everysec', 'equal durability (survives a process crash)'],
  ['engine-fsync', 'redis-everysec', 'engine more durable'],
  ['engine-fsync', 'postgres', 'equal durability (fsync before the answer)'],
];

/**
 * Per scenario and pair of systems, the ratio of their orders/s. Each round's two runs make
 * one ratio; with several rounds the line gives their median, then each round's, and the
 * medians of the two p99s.
 */
export function ratioLines(rows: readonly RunRow[]): string[] {
  const lines: string[] = [];
  const rounds = Math.max(0, ...rows.map((row) => row.round));
  for (const scenario of ORDER_SCENARIO_KEYS) {
    for (const [engine, other, note] of RATIO_PAIRS) {
      const ratios: number[] = [];
      const p99s: [number, number][] = [];
      for (let round = 1; round <= rounds; round++) {
        const of = (system: SystemKey) =>
          rows.find(
            (row) => row.system === system && row.scenario === scenario && row.round === round,
          );
        const a = of(engine);
        const b = of(other);
        if (a === undefined || b === undefined || b.ordersPerSecond === 0) continue;
        ratios.push(a.ordersPerSecond / b.ordersPerSecond);
        p99s.push([a.p99, b.p99]);
      }
      if (ratios.length === 0) continue;
      const each =
        ratios.length === 1
          ? ''
          : `, median of ${ratios.length} rounds (${ratios.map((r) => r.toFixed(2)).join(' / ')})`;
      const p99a = median(p99s.map(([a]) => a));
      const p99b = median(p99s.map(([, b]) => b));
      lines.push(
        `${scenario.padEnd(8)} ${engine} ÷ ${other}: ${median(ratios).toFixed(2)}× orders/s` +
          `${each} (p99 ${formatMs(p99a)} vs ${formatMs(p99b)} ms; ${note})`,
      );
    }
  }
  return lines;
}

export function availabilityLines(outcome: AvailabilityOutcome): string[] {
  const lines: string[] = [];
  const [engine, redis] = outcome.rows;
  if (engine !== undefined && redis !== undefined && redis.queriesPerSecond > 0) {
    const ratio = engine.queriesPerSecond / redis.queriesPerSecond;
    lines.push(
      `avail    ${engine.system} ÷ ${redis.system}: ${ratio.toFixed(2)}× queries/s ` +
        `(p50 ${formatMs(engine.p50)} vs ${formatMs(redis.p50)} ms, ` +
        `p99 ${formatMs(engine.p99)} vs ${formatMs(redis.p99)} ms)`,
    );
  }
  const { agreement } = outcome;
  lines.push(
    `agreement: after the same ${AGREEMENT_ORDERS} orders on both, engine and Redis gave the ` +
      `same answer to ${agreement.agreed} of ${agreement.queries} queries`,
    `  (${agreement.totalsEqual} of ${agreement.totals} per-SKU totals equal); ` +
      `${agreement.onEdge} differed only by a DC whose circle passes within 0.12 % of its ` +
      `radius of the customer`,
    `  (the engine draws a circle as an inscribed 64-sided polygon); ` +
      `${agreement.unexplained} differed otherwise`,
  );
  for (const difference of agreement.differences) lines.push(`  - ${difference}`);
  return lines;
}

const HONESTY_NOTES = [
  'What each acknowledgement survives:',
  '  engine --fsync fsync   answered after its log record is fsynced (group commit)',
  '  engine --fsync write   answered after the LMDB commit; fsync left to the OS',
  '  redis always           answered after the AOF write is fsynced (per event-loop batch)',
  '  redis everysec         AOF written before answering, fsynced once a second',
  '  postgresql             COMMIT with synchronous_commit on: WAL fsynced',
  'So engine fsync ~ redis always ~ postgresql, and engine write ~ redis everysec.',
  'The engine does more per order than the textbook scripts: it allocates by the customer',
  'location (nearest DC in range that has every line), keeps an order record and an',
  'idempotency record (a retried order id returns the first answer), and logs the order',
  'for recovery. Redis and PostgreSQL only decrement counters the client already chose.',
  'Clients: engine through its SDK (WebSocket, msgpack); Redis through ioredis with',
  'enableAutoPipelining and the Lua scripts by EVALSHA; PostgreSQL through pg, a Pool with',
  'one connection per order in flight, BEGIN / UPDATE per line / COMMIT, one round trip each.',
  'Availability: every DC has a circular delivery area (polygons replaced by their mean',
  'reach), so GEOSEARCH answers the same question; the engine also works out ETAs, sorts DCs',
  'by ETA and answers a map per SKU, Redis answers flat arrays of counts.',
  'One system runs at a time; the load generator (this process) shares the same cores,',
  'and "server"/"load" show the CPU cores each used during the run.',
];

async function runChecks(options: CompareOptions, runId: string, say: (line: string) => void) {
  const dataset = buildCompareDataset({ seed: options.seed, ...CHECK_DATASET });
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

/**
 * Every system × order scenario, one at a time, each on a freshly started and loaded server;
 * with several rounds, the whole sweep again, so that each round's ratios compare runs made
 * minutes apart rather than a whole command apart.
 */
async function runOrders(
  options: CompareOptions,
  dataset: Dataset,
  runId: string,
  say: (line: string) => void,
): Promise<{ rows: RunRow[]; servers: Record<string, Record<string, string>> }> {
  const rows: RunRow[] = [];
  const servers: Record<string, Record<string, string>> = {};
  const scenarios = ORDER_SCENARIO_KEYS.filter((key) => options.scenarios.includes(key));
  const rounds = options.rounds;
  for (let round = 1; round <= rounds; round++) {
    const prefix = rounds > 1 ? `round ${round} of ${rounds}: ` : '';
    for (const key of options.systems) {
      for (const scenario of scenarios) {
        say(`${prefix}starting ${key} for the ${scenario} scenario...`);
        const system = await startSystem(key, options, dataset, `${runId}${scenario[0]}`, say);
        const release = stopOnSignal(() => system.stop());
        servers[key] = { durability: system.durability, ...system.settings };
        try {
          const row = await runScenario(system, key, scenario, round, options, dataset);
          say(formatRow(row, rounds));
          rows.push(row);
        } finally {
          release();
          await system.stop();
        }
      }
    }
  }
  return { rows, servers };
}

/** The engine and Redis systems availability runs on, or null when either is not selected. */
function availabilityPair(options: CompareOptions): [SystemKey, SystemKey] | null {
  const engine = AVAILABILITY_ENGINES.find((key) => options.systems.includes(key));
  const redis = AVAILABILITY_REDISES.find((key) => options.systems.includes(key));
  return engine === undefined || redis === undefined ? null : [engine, redis];
}

/**
 * Availability on a fresh engine and a fresh Redis: the same orders on both, each measured in
 * turn, then the agreement check (the queries change nothing, so the stock is still equal).
 */
async function runAvailability(
  pair: [SystemKey, SystemKey],
  options: CompareOptions,
  dataset: Dataset,
  runId: string,
  say: (line: string) => void,
): Promise<AvailabilityOutcome> {
  const systems: SystemUnderTest[] = [];
  const clients: AvailabilityClients[] = [];
  const stopAll = async () => {
    await Promise.allSettled(clients.map((client) => client.close()));
    await Promise.allSettled(systems.map((system) => system.stop()));
  };
  const release = stopOnSignal(stopAll);
  try {
    for (const key of pair) {
      say(`starting ${key} for the availability scenario...`);
      systems.push(await startSystem(key, options, dataset, `${runId}a`, say));
    }
    await placeSameOrders(systems, dataset, AGREEMENT_ORDERS);
    const rows: AvailabilityRow[] = [];
    for (let index = 0; index < systems.length; index++) {
      const system = systems[index];
      const opened = await system.openAvailability!(options.connections);
      clients.push(opened);
      const row = await runAvailabilityOn(system, pair[index], opened, options, dataset);
      say(formatAvailabilityRow(row));
      rows.push(row);
    }
    const agreement = await compareAnswers(
      clients[0],
      clients[1],
      dataset,
      options.agreementQueries,
    );
    return { rows, agreement };
  } finally {
    release();
    await stopAll();
  }
}

function charts(
  options: CompareOptions,
  rows: readonly RunRow[],
  availability: AvailabilityOutcome | null,
): PlotChart[] {
  const result: PlotChart[] = ORDER_SCENARIO_KEYS.filter((scenario) =>
    options.scenarios.includes(scenario),
  ).map((scenario) => ({
    title: SCENARIO_TITLES[scenario],
    series: rows
      .filter((row) => row.scenario === scenario)
      .map((row) => ({
        label:
          `${row.name}${options.rounds > 1 ? `, round ${row.round}` : ''}: ` +
          `${formatCount(row.ordersPerSecond)} orders/s`,
        points: percentileSeries(decodeHistogram(row.histogram)),
      })),
  }));
  if (availability !== null) {
    result.push({
      title: SCENARIO_TITLES.availability,
      series: availability.rows.map((row) => ({
        label: `${row.name}: ${formatCount(row.queriesPerSecond)} queries/s`,
        points: percentileSeries(decodeHistogram(row.histogram)),
      })),
    });
  }
  return result;
}

async function main(): Promise<number> {
  const options = parseCompareArgs(process.argv.slice(2));
  if (options === null) return showUsage(USAGE);
  const date = new Date();
  const runId = makeRunId(date.getTime(), Math.random);
  if (options.check) return runChecks(options, runId, (line) => process.stdout.write(`${line}\n`));
  const dataset = buildCompareDataset({
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
    `workload: ${options.dcs} DCs (circular areas, up to ${searchRadiusKm(dataset)} km) × ` +
      `${options.skus} SKUs, ${formatCount(options.stock)} units per cell, 3-line orders and ` +
      `${SKUS_PER_QUERY}-SKU queries, concurrency ${options.concurrency}, ` +
      `${options.warmupMs / 1000} s warm-up + ${options.durationMs / 1000} s per run` +
      (options.rounds > 1 ? `, ${options.rounds} rounds of the order runs` : ''),
  );
  say(
    `engine node: ${options.threads} worker thread(s); this process drives every system, ` +
      `${options.connections} engine or Redis connection(s)`,
  );
  const { rows, servers } = await runOrders(options, dataset, runId, say);
  const pair = options.scenarios.includes('availability') ? availabilityPair(options) : null;
  if (options.scenarios.includes('availability') && pair === null) {
    say('availability skipped: it needs an engine and a Redis system in --systems');
  }
  const availability =
    pair === null ? null : await runAvailability(pair, options, dataset, runId, say);
  const base = join(outDir(), `compare-${fileStamp(date)}`);
  const ratios = ratioLines(rows);
  const availabilityText =
    availability === null
      ? []
      : ['', availabilityTable(availability.rows), '', ...availabilityLines(availability)];
  const notes = [
    `machine: ${describeMachine(machine)}`,
    `date: ${date.toISOString()}, ${conditions}`,
    `command: npm run compare -- ${process.argv.slice(2).join(' ')}`,
    ...(rows.length === 0 ? [] : ['', resultsTable(rows, options.rounds), '', ...ratios]),
    ...availabilityText,
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
    availability:
      availability === null ? null : { ...availability, lines: availabilityLines(availability) },
  });
  writeFileSync(
    `${base}.html`,
    htmlReport('Side by side', notes, charts(options, rows, availability)),
  );
  const broken =
    rows.some((row) => Object.keys(row.errors).length > 0) ||
    (availability !== null &&
      (availability.rows.some((row) => Object.keys(row.errors).length > 0) ||
        availability.agreement.unexplained > 0));
  return broken ? 1 : 0;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

/**
 * In-process micro-benchmarks of the engine's hot paths, one thread, with tinybench.
 *
 *   npm run bench                     table of ops/s and ns/op
 *   npm run bench -- --json           the same as a JSON array of { name, opsPerSec }
 *   npm run bench -- --smoke          every benchmark, tiny, to keep them from rotting (CI)
 *   npm run bench -- --time 2000 --dcs 10 --skus 2000 --out results.json
 *
 * Each task runs a batch of operations per call, so timer overhead (tens of ns) does not
 * swamp operations that take tens of ns; ops/s = batch / mean call time.
 */

import { writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { Bench } from 'tinybench';
import {
  Allocation,
  AvailabilityAnswers,
  DcHits,
  type Engine,
  OrderAnswers,
  type OrderRequest,
  RESULT_CREATED,
  StockTable,
} from '../engine/index.js';
import { DeliveryAreaIndex } from '../engine/geo/index.js';
import { Prng } from '../engine/testing/index.js';
import { parseCommandLine, runMain, showUsage } from '../wal/index.js';
import { BENCH_CUSTOMER, benchNetwork } from './fixture.js';
import { benchLog, nodePathCases } from './node-path.js';

export interface BenchFigure {
  name: string;
  opsPerSec: number;
}

interface BenchCase {
  name: string;
  /** Operations one call of `run` performs. */
  batch: number;
  run: () => void;
}

const BATCH = 1_000;
const LINES = 3;
const AVAILABILITY_SKUS = 20;

/**
 * `drain` frees the log's ring after each batch of orders, as the writer's commits would: an
 * engine whose log fills goes read-only (every place then answers READ_ONLY).
 */
function engineCases(engine: Engine, dcs: number, skus: number, drain: () => void): BenchCase[] {
  const shared = engine.shared();
  const stock = new StockTable(shared.config, shared.stock);
  const hits = new DcHits();
  engine.resolveDcs(BENCH_CUSTOMER, 60, hits);
  if (hits.count !== dcs) throw new Error(`bench network: ${hits.count} of ${dcs} DCs in range`);
  const allocation = new Allocation(shared.config.allocationsPerOrderMax);
  const lineSku = new Int32Array(LINES);
  const lineQty = new Int32Array(LINES).fill(1);
  let cursor = 0;

  const availabilitySkus = new Int32Array(AVAILABILITY_SKUS);
  for (let at = 0; at < AVAILABILITY_SKUS; at++) availabilitySkus[at] = (at * 7) % skus;
  // Search pages ask for different SKUs each time: rotate through many sets, so the answer's
  // keys differ from call to call as they do in production.
  const pickSkus = new Prng(7);
  const availabilitySets = Array.from({ length: 256 }, () =>
    Array.from({ length: AVAILABILITY_SKUS }, () => `sku-${pickSkus.int(skus)}`),
  );
  let setCursor = 0;
  const totals = new Float64Array(AVAILABILITY_SKUS);
  const etas = new Float64Array(AVAILABILITY_SKUS);
  const availabilityAnswers = new AvailabilityAnswers(1, AVAILABILITY_SKUS, 64);
  const orderAnswers = new OrderAnswers(2, 2 * shared.config.allocationsPerOrderMax);
  const lineSkus = ['', '', ''];
  const request: OrderRequest = {
    orderId: '',
    lat: BENCH_CUSTOMER.lat,
    lng: BENCH_CUSTOMER.lng,
    mode: 'commit',
    policy: undefined,
    ttlSeconds: undefined,
    maxMinutes: undefined,
    skus: lineSkus,
    qty: lineQty,
    lineStart: 0,
    lineCount: LINES,
  };
  const skuIds = Array.from({ length: skus }, (_, sku) => `sku-${sku}`);

  const geo = new DeliveryAreaIndex({ dcCapacity: shared.config.dcCapacity, cacheSize: 1024 });
  for (const record of engine.catalogueRecords()) if (record.type === 'dc') geo.upsert(record.dc);
  const prng = new Prng(42);
  const points = Array.from({ length: 1024 }, () => ({
    lat: BENCH_CUSTOMER.lat + prng.uniform(-0.03, 0.03),
    lng: BENCH_CUSTOMER.lng + prng.uniform(-0.03, 0.03),
  }));
  let orderNumber = 0;

  return [
    {
      name: `inner loop: reserve+release ${LINES}-line order, counters (${dcs} DCs in range)`,
      batch: BATCH,
      run: () => {
        for (let op = 0; op < BATCH; op++) {
          for (let line = 0; line < LINES; line++) lineSku[line] = (cursor + line) % skus;
          cursor = (cursor + LINES) % skus;
          allocation.reset();
          if (allocation.allocateSingleDc(stock, hits, lineSku, lineQty, LINES) !== 0) {
            throw new Error('bench: reservation refused');
          }
          allocation.rollback(stock);
        }
      },
    },
    {
      name: `place+cancel ${LINES}-line order, engine API, answers built for the wire`,
      batch: BATCH,
      run: () => {
        for (let op = 0; op < BATCH; op++) {
          const orderId = `bench-w${orderNumber++}`;
          const sku = (orderNumber * LINES) % (skus - LINES);
          request.orderId = orderId;
          lineSkus[0] = skuIds[sku];
          lineSkus[1] = skuIds[sku + 1];
          lineSkus[2] = skuIds[sku + 2];
          orderAnswers.reset();
          engine.placeOrderInto(request, orderAnswers);
          if (orderAnswers.result[0] !== RESULT_CREATED) {
            throw new Error(`bench: ${orderAnswers.errors[0]?.code}`);
          }
          engine.cancelInto(orderId, orderAnswers);
        }
        drain();
      },
    },
    {
      name: `place+cancel ${LINES}-line order, engine object API (v1 / HTTP answers)`,
      batch: BATCH,
      run: () => {
        for (let op = 0; op < BATCH; op++) {
          const orderId = `bench-${orderNumber++}`;
          const sku = (orderNumber * LINES) % (skus - LINES);
          const placed = engine.placeOrder({
            orderId,
            location: BENCH_CUSTOMER,
            lines: [
              { sku: `sku-${sku}`, qty: 1 },
              { sku: `sku-${sku + 1}`, qty: 1 },
              { sku: `sku-${sku + 2}`, qty: 1 },
            ],
            mode: 'commit',
          });
          if (!placed.ok) throw new Error(`bench: ${placed.error.code}`);
          engine.cancel(orderId);
        }
        drain();
      },
    },
    {
      name: `availability ${AVAILABILITY_SKUS} SKUs x ${dcs} DCs with per-DC breakdown, answer built for the wire`,
      batch: BATCH,
      run: () => {
        for (let op = 0; op < BATCH; op++) {
          availabilityAnswers.reset(true);
          const set = availabilitySets[setCursor++ & 255];
          const refused = engine.availabilityInto(
            BENCH_CUSTOMER.lat,
            BENCH_CUSTOMER.lng,
            set,
            0,
            AVAILABILITY_SKUS,
            undefined,
            availabilityAnswers,
          );
          if (refused !== null) throw new Error(`bench: ${refused.error.code}`);
        }
      },
    },
    {
      name: `inner loop: levels of ${AVAILABILITY_SKUS} SKUs x ${dcs} DCs (incl. cached geo)`,
      batch: BATCH,
      run: () => {
        for (let op = 0; op < BATCH; op++) {
          engine.resolveDcs(BENCH_CUSTOMER, 60, hits);
          engine.levelsInto(hits, availabilitySkus, AVAILABILITY_SKUS, totals, etas);
        }
      },
    },
    {
      name: `availability ${AVAILABILITY_SKUS} SKUs x ${dcs} DCs, object API with breakdown (v1 / HTTP)`,
      batch: 100,
      run: () => {
        for (let op = 0; op < 100; op++) {
          engine.availability(BENCH_CUSTOMER, availabilitySets[setCursor++ & 255]);
        }
      },
    },
    {
      name: `availability ${AVAILABILITY_SKUS} SKUs x ${dcs} DCs, object API without breakdown`,
      batch: 100,
      run: () => {
        for (let op = 0; op < 100; op++) {
          engine.availability(
            BENCH_CUSTOMER,
            availabilitySets[setCursor++ & 255],
            undefined,
            false,
          );
        }
      },
    },
    {
      name: 'location -> DCs, repeated location (cache hit)',
      batch: BATCH,
      run: () => {
        for (let op = 0; op < BATCH; op++)
          geo.resolve(BENCH_CUSTOMER.lat, BENCH_CUSTOMER.lng, 60, hits);
      },
    },
    {
      name: `location -> DCs, new location (R-tree + exact polygon tests, ${dcs} DCs)`,
      batch: 100,
      run: () => {
        for (let op = 0; op < 100; op++) {
          const point = points[cursor++ & 1023];
          geo.resolveUncached(point.lat, point.lng, 60, hits);
        }
      },
    },
  ];
}

const USAGE = `Usage: npm run bench -- [options]

  --json                 print only a JSON array of { name, opsPerSec }
  --smoke                every benchmark, tiny (CI)
  --time <ms>            time per benchmark (default 1500)
  --dcs <n>              DCs in range of the customer (default 10)
  --skus <n>             SKUs (default 2000)
  --out <file.json>      also write the figures with the machine and Node version
  --only <text>          only the benchmarks whose name contains <text> (for profiling one)
  -h, --help             this text
`;

const FLAGS = {
  json: { type: 'boolean', default: false },
  smoke: { type: 'boolean', default: false },
  time: { type: 'string', default: '1500' },
  dcs: { type: 'string', default: '10' },
  skus: { type: 'string', default: '2000' },
  out: { type: 'string' },
  only: { type: 'string' },
} as const;

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  const { values } = command;
  const dcs = Number(values.dcs);
  const skus = Number(values.skus);
  const timeMs = values.smoke ? 20 : Number(values.time);
  const log = benchLog();
  const engine = benchNetwork({ dcs, skus, log: log.log });
  log.drain();
  const bench = new Bench({ time: timeMs, iterations: 5, warmup: !values.smoke, warmupTime: 200 });
  const paths = nodePathCases(engine, skus, log);
  const cases = [
    {
      name: `node path: placeOrders of ${paths.orders.entries} 3-line orders (decode, engine, log append, answer), per order`,
      batch: paths.orders.entries,
      run: paths.orders.run,
    },
    {
      name: `node path: availabilityMany of ${paths.availability.entries} x 20 SKUs x ${dcs} DCs with breakdown, per query`,
      batch: paths.availability.entries,
      run: paths.availability.run,
    },
    {
      name: `node path: the same by SKU ref (refs defined before), per query`,
      batch: paths.availabilityByRef.entries,
      run: paths.availabilityByRef.run,
    },
    ...engineCases(engine, dcs, skus, log.drain),
  ];
  const only = values.only;
  const chosen = only === undefined ? cases : cases.filter((entry) => entry.name.includes(only));
  if (chosen.length === 0) throw new Error(`no benchmark name contains "${only}"`);
  for (const entry of chosen) bench.add(entry.name, entry.run);
  await bench.run();
  const figures: BenchFigure[] = bench.tasks.map((task, at) => {
    const result = task.result;
    if (!('period' in result)) {
      const why = result.state === 'errored' ? `: ${result.error.message}` : ` (${result.state})`;
      throw new Error(`bench ${task.name} did not complete${why}`);
    }
    return { name: task.name, opsPerSec: Math.round(chosen[at].batch / (result.period / 1000)) };
  });
  if (values.out !== undefined) {
    const machine = {
      host: hostname(),
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      node: process.version,
    };
    writeFileSync(
      values.out,
      `${JSON.stringify({ date: new Date().toISOString(), machine, figures }, null, 2)}\n`,
    );
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    return 0;
  }
  console.log(
    `engine micro-benchmarks, one thread, node ${process.version}${values.smoke ? ' (smoke)' : ''}`,
  );
  for (const figure of figures) {
    const ns = (1e9 / figure.opsPerSec).toFixed(0).padStart(7);
    console.log(
      `${figure.opsPerSec.toLocaleString('en-US').padStart(14)} ops/s ${ns} ns/op  ${figure.name}`,
    );
  }
  return 0;
}

runMain(main, USAGE);

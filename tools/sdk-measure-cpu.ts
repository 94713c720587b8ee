/**
 * Measures the SDK's CPU per order and per availability answer against a running node: a
 * bounded run per mode, with the client process's CPU time (process.cpuUsage, user + system)
 * divided by the entries answered in the measured window. Run the node in another process,
 * or its CPU is counted too.
 *
 *   npm run build
 *   INVENTORY_ADMIN_KEY=... node dist/tools/sdk-measure-cpu.js --url ws://127.0.0.1:8080/v1/ws
 *     [--seconds 1.5] [--modes placeOrders,availabilityMany]
 *
 * Modes: `placeOrders` (the batch API), `placeOrder` (per-call, coalesced by the SDK),
 * `availabilityMany` (20 SKUs, per-DC breakdown, every value read through the view) and
 * `availability` (per-call, the same queries answered as objects). `inputs` is the cost of
 * building the order objects alone, which the order figures include. `--modes` is a comma list
 * of these (default all).
 *
 * Every mode is bounded by time and by MEASURE_SECONDS_MAX; the whole run by their sum. It
 * provisions its own DC and SKUs (ids prefixed `cpu-`) through the admin key.
 */

import {
  type AvailabilityQuery,
  InventoryClient,
  type PlaceOrderInput,
} from '../protocol/client/index.js';
import {
  isEntryPoint,
  KEY_VARIABLES,
  keyFromEnvironment,
  parseCommandLine,
  runMain,
  showUsage,
  UsageError,
} from '../wal/index.js';

/** Longest measured window per mode, whatever the caller asks. */
const MEASURE_SECONDS_MAX = 5;
const MEASURE_SECONDS_DEFAULT = 1.5;
/** Unmeasured run before each window, for the JIT. */
const WARM_UP_MS = 300;
const SKU_COUNT = 20;
const LINES_PER_ORDER = 3;
/** Distinct 3-line baskets the orders cycle through (line arrays are shared, read-only). */
const BASKET_COUNT = 64;
const ORDERS_PER_BATCH = 512;
const BATCHES_IN_FLIGHT = 4;
const ORDER_LANES = 2048;
const QUERIES_PER_BATCH = 128;
const QUERY_BATCHES_IN_FLIGHT = 8;
const QUERY_LANES = 1024;
/** Units received per SKU: far more than a bounded run orders. */
const STOCK_PER_SKU = 100_000_000;

const HERE = { lat: 12.9716, lng: 77.5946 };

const MODES = ['inputs', 'placeOrders', 'placeOrder', 'availabilityMany', 'availability'];

interface Figure {
  mode: string;
  entries: number;
  seconds: number;
  /** User + system CPU of the client process per entry answered. */
  cpuMicrosPerEntry: number;
  /** The user part alone: the system part is mostly the kernel's loopback TCP. */
  userMicrosPerEntry: number;
  entriesPerSecond: number;
}

/** Runs `step` (which answers how many entries it completed) until `until`; returns the count. */
async function runLanes(
  lanes: number,
  until: number,
  step: () => Promise<number>,
): Promise<number> {
  let done = 0;
  const lane = async (): Promise<void> => {
    while (Date.now() < until) {
      // Not `done += await step()`: that reads `done` before the await, losing other lanes'.
      const entries = await step();
      done += entries;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return done;
}

async function measure(
  mode: string,
  seconds: number,
  lanes: number,
  step: () => Promise<number>,
): Promise<Figure> {
  await runLanes(lanes, Date.now() + WARM_UP_MS, step);
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const entries = await runLanes(lanes, Date.now() + seconds * 1000, step);
  const used = process.cpuUsage(cpu);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    mode,
    entries,
    seconds: elapsed,
    cpuMicrosPerEntry: (used.user + used.system) / entries,
    userMicrosPerEntry: used.user / entries,
    entriesPerSecond: entries / elapsed,
  };
}

function baskets(skus: readonly string[]): { sku: string; qty: number }[][] {
  return Array.from({ length: BASKET_COUNT }, (_, basket) =>
    Array.from({ length: LINES_PER_ORDER }, (_, line) => ({
      sku: skus[(basket * 7 + line * 3) % skus.length],
      qty: 1,
    })),
  );
}

async function provision(client: InventoryClient, skus: readonly string[]): Promise<void> {
  await client.upsertDc({ id: 'cpu-dc', name: 'CPU measure', location: HERE, radiusKm: 10 });
  for (const sku of skus) {
    await client.upsertSku({ id: sku, name: sku });
    await client.receive({ dc: 'cpu-dc', sku, qty: STOCK_PER_SKU });
  }
}

const USAGE = `Usage: node dist/tools/sdk-measure-cpu.js --url <ws url> [options]

  --url <ws url>        the node (ws://host:port/v1/ws), running in another process
  --key <api key>       an admin key (better from the environment)
  --seconds <n>         measured seconds per mode
                        (default ${MEASURE_SECONDS_DEFAULT}, at most ${MEASURE_SECONDS_MAX})
  --modes <list>        a comma list of ${MODES.join(', ')} (default all)
  -h, --help            this text

Environment:
  ${KEY_VARIABLES.admin.join(', ')}
                        the key when --key is not given, the first set wins
`;

const FLAGS = {
  url: { type: 'string' },
  key: { type: 'string' },
  seconds: { type: 'string' },
  modes: { type: 'string' },
} as const;

async function main(argv: readonly string[]): Promise<number> {
  const line = parseCommandLine(argv, FLAGS);
  if (line.help) return showUsage(USAGE);
  const { url } = line.values;
  if (url === undefined) throw new UsageError('--url is required');
  const apiKey = line.values.key ?? keyFromEnvironment(process.env, 'admin');
  if (apiKey === undefined) throw new UsageError(`give an admin key: ${KEY_VARIABLES.admin[0]}`);
  const modes = new Set((line.values.modes ?? MODES.join(',')).split(','));
  for (const mode of modes) {
    if (!MODES.includes(mode)) throw new UsageError(`--modes: unknown mode ${mode}`);
  }
  const seconds = Number(line.values.seconds ?? MEASURE_SECONDS_DEFAULT);
  if (!(seconds > 0 && seconds <= MEASURE_SECONDS_MAX)) {
    throw new UsageError(`--seconds must be in (0, ${MEASURE_SECONDS_MAX}]`);
  }
  const client = await InventoryClient.connect(url, { apiKey, timeoutMs: 30_000 });
  const run = Date.now().toString(36);
  const skus = Array.from({ length: SKU_COUNT }, (_, index) => `cpu-sku-${index}`);
  await provision(client, skus);
  const lines = baskets(skus);
  let next = 0;
  const orderOf = (): PlaceOrderInput => {
    const id = next++;
    return {
      orderId: `cpu-${run}-${id}`,
      location: HERE,
      lines: lines[id % BASKET_COUNT],
      mode: 'commit',
    };
  };
  const queries: AvailabilityQuery[] = Array.from({ length: QUERIES_PER_BATCH }, (_, index) => ({
    lat: HERE.lat + (index % 8) * 0.001,
    lng: HERE.lng,
    skus,
  }));
  const figures: Figure[] = [];
  try {
    if (modes.has('inputs'))
      figures.push(
        await measure('inputs', seconds, 1, async () => {
          for (let index = 0; index < ORDERS_PER_BATCH; index++) orderOf();
          return ORDERS_PER_BATCH;
        }),
      );
    if (modes.has('placeOrders'))
      figures.push(
        await measure('placeOrders', seconds, BATCHES_IN_FLIGHT, async () => {
          const orders = Array.from({ length: ORDERS_PER_BATCH }, orderOf);
          const batch = await client.placeOrders(orders);
          if (batch.refusedCount > 0)
            throw batch.error(firstRefused(batch.count, (i) => batch.refused(i)));
          return batch.count;
        }),
      );
    if (modes.has('placeOrder'))
      figures.push(
        await measure('placeOrder', seconds, ORDER_LANES, async () => {
          await client.placeOrder(orderOf());
          return 1;
        }),
      );
    if (modes.has('availabilityMany'))
      figures.push(
        await measure('availabilityMany', seconds, QUERY_BATCHES_IN_FLIGHT, async () => {
          const view = await client.availabilityMany(queries, { breakdown: true });
          let units = 0;
          for (let query = 0; query < view.count; query++) {
            for (let sku = 0; sku < view.skuCount(query); sku++) {
              units += view.available(query, sku);
              for (let dc = 0; dc < view.dcCount(query); dc++) units += view.perDc(query, sku, dc);
            }
          }
          if (units < 0) throw new Error('negative availability');
          return view.count;
        }),
      );
    let cursor = 0;
    if (modes.has('availability'))
      figures.push(
        await measure('availability', seconds, QUERY_LANES, async () => {
          const query = queries[cursor++ % QUERIES_PER_BATCH];
          const answer = await client.availability({ ...query, skus: query.skus as string[] });
          if (answer.skus[skus[0]] === undefined) throw new Error('a SKU is missing');
          return 1;
        }),
      );
  } finally {
    await client.close();
  }
  for (const figure of figures) {
    console.log(
      `${figure.mode.padEnd(17)} ${figure.cpuMicrosPerEntry.toFixed(2).padStart(6)} µs CPU/entry` +
        ` (user ${figure.userMicrosPerEntry.toFixed(2)})` +
        `  ${Math.round(figure.entriesPerSecond).toString().padStart(8)} entries/s` +
        `  (${figure.entries} in ${figure.seconds.toFixed(2)} s)`,
    );
  }
  console.log(JSON.stringify({ node: process.version, figures }));
  return 0;
}

function firstRefused(count: number, refused: (index: number) => boolean): number {
  for (let index = 0; index < count; index++) if (refused(index)) return index;
  return 0;
}

/** Runs only as the command, not when a test imports the functions above. */
if (isEntryPoint(import.meta.url)) runMain(() => main(process.argv.slice(2)), USAGE);

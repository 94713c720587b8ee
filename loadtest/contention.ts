/**
 * The contention check (`npm run loadtest:contention`): one SKU at one DC with 10,000 units and
 * 256 concurrent buyers over the network (32 SDK connections × 8 buyers). Each buyer places
 * 1-unit `commit` orders with unique ids until it is refused OUT_OF_STOCK. The check passes
 * only if exactly the stock was sold, nothing was oversold, and the node's own stock view
 * (HTTP GET /v1/stock) agrees: available 0, on hand = stock, reserved = sold.
 *
 * The SKU is created fresh for every run through the admin API (and the DC upserted at an
 * isolated spot that no other DC serves), so the check runs against any node, again and again.
 *
 * Invariants: bounded in time (a deadline aborts the run) and in count (a buyer places at most
 * ORDERS_PER_BUYER_MAX orders); any error other than OUT_OF_STOCK fails the check.
 */

import { DURABILITY_POLICIES } from '../wal/index.js';
import { InventoryClient, InventoryError, type StockView } from '../protocol/client/index.js';
import {
  intFlag,
  isEntryPoint,
  parseCommandLine,
  policyFlag,
  runMain,
  showUsage,
  stopOnSignal,
  UsageError,
} from './cli.js';
import { nodeUrls, readKeysFile, startNodeProcess } from './node-process.js';
import { formatCount } from './report.js';
import { makeRunId } from './workload.js';

export const CONTENTION_STOCK_DEFAULT = 10_000;
export const CONTENTION_CONNECTIONS_DEFAULT = 32;
export const CONTENTION_BUYERS_PER_CONNECTION_DEFAULT = 8;
const STOCK_MAX = 10_000_000;
const BUYERS_DEFAULT = CONTENTION_BUYERS_PER_CONNECTION_DEFAULT;
const TIME_LIMIT_S_DEFAULT = 120;
/** A buyer that keeps succeeding past this many orders means the node is overselling. */
const ORDERS_PER_BUYER_MAX = STOCK_MAX + 1;
const CALL_TIMEOUT_MS = 30_000;
/** The contention DC: a spot in the South Atlantic that no real or demo DC serves. */
export const CONTENTION_DC = {
  id: 'contention-dc',
  name: 'Contention check DC',
  location: { lat: -48.5, lng: -20.25 },
  radiusKm: 2,
  speedKmh: 20,
  prepMinutes: 5,
  active: true,
} as const;

export interface ContentionOptions {
  wsUrl: string;
  /** An orderer (or admin) key for the buyers. */
  buyerKey: string;
  /** An admin key, to create the SKU and receive its stock. */
  adminKey: string;
  /** A reader (or higher) key for the HTTP stock check. */
  readerKey: string;
  stock: number;
  connections: number;
  buyersPerConnection: number;
  timeLimitMs: number;
  runId: string;
}

export interface ContentionReport {
  sku: string;
  dc: string;
  stock: number;
  buyers: number;
  sold: number;
  refused: number;
  oversold: number;
  /** Errors other than OUT_OF_STOCK, by code. */
  errors: Record<string, number>;
  /** The node's stock view after the run, read over HTTP. */
  stockAfter: StockView;
  elapsedMs: number;
  ordersPerSecond: number;
  /** Every reason the check failed; empty when it passed. */
  failures: string[];
}

interface Tally {
  sold: number;
  refused: number;
  errors: Map<string, number>;
  deadlinePassed: boolean;
}

async function buyer(
  client: InventoryClient,
  sku: string,
  idPrefix: string,
  tally: Tally,
): Promise<void> {
  for (let attempt = 0; attempt < ORDERS_PER_BUYER_MAX && !tally.deadlinePassed; attempt++) {
    try {
      const placed = await client.placeOrder({
        orderId: `${idPrefix}-${attempt}`,
        location: CONTENTION_DC.location,
        lines: [{ sku, qty: 1 }],
        mode: 'commit',
        policy: 'single-dc',
      });
      // Every id is new, so a repeat answer would mean an id collision: count it as an error.
      if (!placed.created) throw new InventoryError('INTERNAL', 'order id answered as a repeat');
      tally.sold += placed.order.allocation.reduce((sum, line) => sum + line.qty, 0);
    } catch (error) {
      const code = error instanceof InventoryError ? error.code : 'CLIENT_ERROR';
      if (code === 'OUT_OF_STOCK') {
        tally.refused++;
        return;
      }
      tally.errors.set(code, (tally.errors.get(code) ?? 0) + 1);
      return;
    }
  }
}

async function readStock(httpUrl: string, key: string, dc: string, sku: string) {
  const query = new URLSearchParams({ dc, sku });
  const response = await fetch(`${httpUrl}/v1/stock?${query}`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  if (response.status !== 200) {
    throw new Error(`GET /v1/stock answered ${response.status}: ${await response.text()}`);
  }
  return (await response.json()) as StockView;
}

async function createFreshSku(admin: InventoryClient, sku: string, stock: number) {
  await admin.upsertDc({ ...CONTENTION_DC, location: { ...CONTENTION_DC.location } });
  const created = await admin.upsertSku({ id: sku, name: `Contention item ${sku}` });
  if (!created.created) throw new Error(`SKU ${sku} already exists: pick another run id`);
  await admin.receive({ dc: CONTENTION_DC.id, sku, qty: stock, reason: 'contention check' });
}

function judge(report: Omit<ContentionReport, 'failures'>): string[] {
  const failures: string[] = [];
  const { stock, sold, stockAfter } = report;
  if (sold !== stock) failures.push(`sold ${sold}, expected exactly the stock ${stock}`);
  if (report.oversold !== 0) failures.push(`oversold ${report.oversold} units`);
  if (Object.keys(report.errors).length > 0) {
    failures.push(`errors other than OUT_OF_STOCK: ${JSON.stringify(report.errors)}`);
  }
  if (stockAfter.available !== 0) failures.push(`node reports ${stockAfter.available} available`);
  if (stockAfter.onHand !== stock) failures.push(`node reports on hand ${stockAfter.onHand}`);
  if (stockAfter.reserved !== sold) {
    failures.push(`node reports ${stockAfter.reserved} reserved, but ${sold} units were sold`);
  }
  if (stockAfter.onHand - stockAfter.reserved !== stockAfter.available) {
    failures.push('on hand - reserved != available in the node stock view');
  }
  if (stockAfter.shortfall !== 0) failures.push(`node reports a shortfall ${stockAfter.shortfall}`);
  return failures;
}

export async function runContention(options: ContentionOptions): Promise<ContentionReport> {
  const sku = `contention-${options.runId}`;
  const admin = await InventoryClient.connect(options.wsUrl, {
    apiKey: options.adminKey,
    timeoutMs: CALL_TIMEOUT_MS,
    reconnect: false,
  });
  await createFreshSku(admin, sku, options.stock).finally(() => admin.close());
  const clients: InventoryClient[] = [];
  const tally: Tally = { sold: 0, refused: 0, errors: new Map(), deadlinePassed: false };
  let started = 0;
  try {
    for (let index = 0; index < options.connections; index++) {
      clients.push(
        await InventoryClient.connect(options.wsUrl, {
          apiKey: options.buyerKey,
          timeoutMs: CALL_TIMEOUT_MS,
          reconnect: false,
        }),
      );
    }
    const deadline = setTimeout(() => {
      tally.deadlinePassed = true;
    }, options.timeLimitMs);
    started = performance.now();
    const buyers: Promise<void>[] = [];
    clients.forEach((client, connection) => {
      for (let slot = 0; slot < options.buyersPerConnection; slot++) {
        buyers.push(buyer(client, sku, `${options.runId}-${connection}-${slot}`, tally));
      }
    });
    await Promise.all(buyers);
    clearTimeout(deadline);
    if (tally.deadlinePassed) tally.errors.set('TIME_LIMIT', 1);
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
  }
  const elapsedMs = performance.now() - started;
  const stockAfter = await readStock(
    nodeUrls(options.wsUrl).url,
    options.readerKey,
    CONTENTION_DC.id,
    sku,
  );
  const partial = {
    sku,
    dc: CONTENTION_DC.id,
    stock: options.stock,
    buyers: options.connections * options.buyersPerConnection,
    sold: tally.sold,
    refused: tally.refused,
    oversold: Math.max(0, tally.sold - options.stock),
    errors: Object.fromEntries(tally.errors),
    stockAfter,
    elapsedMs,
    ordersPerSecond: elapsedMs > 0 ? ((tally.sold + tally.refused) * 1000) / elapsedMs : 0,
  };
  return { ...partial, failures: judge(partial) };
}

export function formatContention(report: ContentionReport): string {
  const view = report.stockAfter;
  return [
    `contention check: SKU ${report.sku} at ${report.dc}, ${formatCount(report.stock)} units, ` +
      `${report.buyers} concurrent buyers`,
    `  units sold       ${formatCount(report.sold)}`,
    `  orders refused   ${formatCount(report.refused)} (OUT_OF_STOCK)`,
    `  oversold         ${formatCount(report.oversold)} ` +
      `(sold − stock = ${report.sold - report.stock})`,
    `  other errors     ${JSON.stringify(report.errors)}`,
    `  node stock view  onHand ${view.onHand}, reserved ${view.reserved}, ` +
      `available ${view.available}, shortfall ${view.shortfall}`,
    `  time             ${(report.elapsedMs / 1000).toFixed(2)} s, ` +
      `${formatCount(report.ordersPerSecond)} orders/s`,
    report.failures.length === 0
      ? 'PASS: exactly the stock was sold, 0 oversold'
      : `FAIL:\n${report.failures.map((line) => `  - ${line}`).join('\n')}`,
  ].join('\n');
}

export const USAGE = `Usage: npm run loadtest:contention -- [options]

  --start                 start a node in a temp dir and stop it after (the default)
  --url <url>             or a running node (ws://host:port/v1/ws or http://host:port) with
  --keys-file <path>      its keys.json, or --admin-key <key> (used for everything)
  --threads <n>           worker threads of a started node (default 2)
  --fsync <policy>        durability of a started node (default fsync)
  --stock <n>             units of the hot SKU (default ${CONTENTION_STOCK_DEFAULT})
  --connections <n>       SDK connections (default ${CONTENTION_CONNECTIONS_DEFAULT})
  --buyers <n>            buyers per connection (default ${BUYERS_DEFAULT})
  --time-limit <s>        give up (and fail) after this long (default ${TIME_LIMIT_S_DEFAULT})
`;

const FLAGS = {
  start: { type: 'boolean' },
  url: { type: 'string' },
  'keys-file': { type: 'string' },
  'admin-key': { type: 'string' },
  threads: { type: 'string' },
  fsync: { type: 'string' },
  stock: { type: 'string' },
  connections: { type: 'string' },
  buyers: { type: 'string' },
  'time-limit': { type: 'string' },
} as const;

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  const { values } = command;
  if (values.start === true && values.url !== undefined) {
    throw new UsageError('give --start or --url, not both');
  }
  // Without --url the command starts its own node, so a bare `npm run ...` just works.
  const start = values.url === undefined;
  const fsync = policyFlag(values, 'fsync', 'fsync', DURABILITY_POLICIES);
  const node = start
    ? await startNodeProcess({
        threads: intFlag(values, 'threads', 2, 1, 256),
        fsync,
        cpus: null,
        orderCapacity: null,
        extraArgs: ['--no-demo'],
      })
    : null;
  const release = stopOnSignal(async () => node?.stop());
  try {
    let keys: { buyer: string; admin: string; reader: string };
    if (node !== null) {
      keys = { buyer: node.keys.orderer, admin: node.keys.admin, reader: node.keys.reader };
    } else if (values['keys-file'] !== undefined) {
      const file = readKeysFile(values['keys-file']);
      keys = { buyer: file.orderer, admin: file.admin, reader: file.reader };
    } else if (values['admin-key'] !== undefined) {
      const admin = values['admin-key'];
      keys = { buyer: admin, admin, reader: admin };
    } else {
      throw new UsageError('--url needs --keys-file or --admin-key');
    }
    const report = await runContention({
      wsUrl: node?.wsUrl ?? nodeUrls(values.url!).wsUrl,
      buyerKey: keys.buyer,
      adminKey: keys.admin,
      readerKey: keys.reader,
      stock: intFlag(values, 'stock', CONTENTION_STOCK_DEFAULT, 1, STOCK_MAX),
      connections: intFlag(values, 'connections', CONTENTION_CONNECTIONS_DEFAULT, 1, 4_096),
      buyersPerConnection: intFlag(
        values,
        'buyers',
        CONTENTION_BUYERS_PER_CONNECTION_DEFAULT,
        1,
        4_096,
      ),
      timeLimitMs: intFlag(values, 'time-limit', TIME_LIMIT_S_DEFAULT, 1, 3_600) * 1000,
      runId: makeRunId(Date.now(), Math.random),
    });
    process.stdout.write(`${formatContention(report)}\n`);
    return report.failures.length === 0 ? 0 : 1;
  } finally {
    release();
    await node?.stop();
  }
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

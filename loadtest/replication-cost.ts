/**
 * The cost of replication, measured in one run: durable 3-line orders per second against a
 * single node, then against a cluster region (primary + standby, 3 NATS servers) with `sync`
 * and with `async` replication, the same load each time; and the standby's lag under it.
 *
 *   npm run loadtest:replication -- --seconds 10
 *
 * Prints orders/s and p50/p99 per setup, the ratios to the single node, and for the clusters
 * the standby's lag (records behind the primary, and the lag gauge) sampled every 250 ms.
 * Every process is started here on loopback and stopped by PID; every loop is bounded.
 */

import { Prng, seedFromEnv } from '../engine/testing/index.js';
import { ClusterClient, InventoryClient, type PlaceOrderArgs } from '../protocol/client/index.js';
import { intFlag, isEntryPoint, parseCommandLine, runMain, showUsage, UsageError } from './cli.js';
import { type LocalCluster, startLocalCluster, stopClustersOnSignals } from './local-cluster.js';
import { startNodeProcess } from './node-process.js';

const REGION = 'bengaluru';
const DC = 'cost-dc';
const LOCATION = { lat: 13.25, lng: 77.45 };
const SKUS = ['cost-a', 'cost-b', 'cost-c'];
const UNITS = 100_000_000;
const DRIVERS = 4;
const WINDOW = 64;
const ORDERS_PER_RUN_MAX = 5_000_000;
const LAG_SAMPLE_MS = 250;

interface Placer {
  placeOrder(args: PlaceOrderArgs, options?: { timeoutMs?: number }): Promise<unknown>;
}

export interface CostRow {
  setup: 'single' | 'sync' | 'async';
  ordersPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Records the standby was behind the primary: mean and max of the samples. */
  lagRecordsMean: number;
  lagRecordsMax: number;
  lagSecondsMax: number;
}

async function seed(client: InventoryClient): Promise<void> {
  await client.upsertDc({ id: DC, name: 'Cost DC', location: LOCATION, radiusKm: 3 });
  for (const sku of SKUS) {
    await client.upsertSku({ id: sku, name: sku });
    await client.receive({ dc: DC, sku, qty: UNITS, reason: 'replication cost' });
  }
}

/** Drives orders for `seconds`; returns orders/s and latency percentiles. */
async function load(placers: Placer[], seconds: number, prefix: string, prng: Prng) {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  let acked = 0;
  const started = performance.now();
  const drive = async (placer: Placer, index: number) => {
    const inFlight = new Set<Promise<void>>();
    for (let issued = 0; issued < ORDERS_PER_RUN_MAX && performance.now() < until; issued++) {
      const lines = SKUS.map((sku) => ({ sku, qty: 1 + prng.int(2) }));
      const sent = performance.now();
      const order = placer
        .placeOrder({
          orderId: `${prefix}-${index}-${issued}`,
          location: LOCATION,
          lines,
          mode: 'commit',
        })
        .then(
          () => {
            acked++;
            latencies.push(performance.now() - sent);
          },
          () => undefined,
        );
      const tracked = order.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.allSettled(inFlight);
  };
  await Promise.all(placers.map(drive));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0;
  return { ordersPerSecond: acked / elapsed, p50Ms: at(0.5), p99Ms: at(0.99) };
}

async function metricValue(url: string, key: string, name: string): Promise<number> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  const text = await response.text();
  const line = text.split('\n').find((row) => row.startsWith(name));
  if (line === undefined) throw new Error(`${url}/metrics has no ${name} (${response.status})`);
  return Number(line.split(' ').at(-1));
}

async function runSingle(seconds: number, prng: Prng): Promise<CostRow> {
  const node = await startNodeProcess({
    threads: 1,
    fsync: 'fsync',
    cpus: null,
    orderCapacity: null,
    extraArgs: ['--demo-dcs', '2', '--demo-skus', '10'],
  });
  try {
    const admin = await InventoryClient.connect(node.wsUrl, { apiKey: node.keys.admin });
    await seed(admin);
    await admin.close();
    const clients = await Promise.all(
      Array.from({ length: DRIVERS }, () =>
        InventoryClient.connect(node.wsUrl, { apiKey: node.keys.orderer }),
      ),
    );
    const result = await load(clients, seconds, 'single', prng);
    await Promise.all(clients.map((client) => client.close()));
    return { setup: 'single', ...result, lagRecordsMean: 0, lagRecordsMax: 0, lagSecondsMax: 0 };
  } finally {
    await node.stop();
  }
}

/** Samples the standby's distance from the primary while `running` holds. */
async function sampleLag(cluster: LocalCluster, running: () => boolean) {
  const samples: number[] = [];
  let secondsMax = 0;
  let missed = 0;
  const key = cluster.keys.reader;
  while (running()) {
    await new Promise((done) => setTimeout(done, LAG_SAMPLE_MS));
    try {
      const [primary, standby] = cluster.nodes;
      // Both at once: read one after the other, the standby would catch up in between.
      const [durable, applied, seconds] = await Promise.all([
        metricValue(primary.url, key, 'inventory_log_durable_lsn'),
        metricValue(standby.url, key, 'inventory_standby_applied_lsn{'),
        metricValue(standby.url, key, 'inventory_standby_lag_seconds{'),
      ]);
      samples.push(Math.max(0, durable - applied));
      secondsMax = Math.max(secondsMax, seconds);
    } catch (error) {
      // A sample missed (a scrape during load); the next one counts.
      missed++;
      if (missed === 1) process.stderr.write(`a lag sample failed: ${String(error)}\n`);
    }
  }
  const mean = samples.length === 0 ? 0 : samples.reduce((a, b) => a + b, 0) / samples.length;
  return {
    lagRecordsMean: mean,
    lagRecordsMax: Math.max(0, ...samples),
    lagSecondsMax: secondsMax,
  };
}

async function runCluster(mode: 'sync' | 'async', seconds: number, prng: Prng): Promise<CostRow> {
  const cluster = await startLocalCluster({
    regions: [REGION],
    nodesPerRegion: 2,
    replication: mode,
    natsServers: 3,
    demoDcs: 2,
    demoSkus: 10,
    threads: 1,
    leaseMs: 3_000,
    fsync: 'fsync',
    logLevel: 'warn',
  });
  const clients: ClusterClient[] = [];
  try {
    const watcher = await ClusterClient.connect({
      nats: cluster.nats.urls,
      apiKey: cluster.keys.admin,
    });
    clients.push(watcher);
    const owner = watcher.regionOwners.get(REGION)!;
    const admin = await InventoryClient.connect(owner.url, { apiKey: cluster.keys.admin });
    await seed(admin);
    await admin.close();
    for (let index = 0; index < DRIVERS; index++) {
      clients.push(
        await ClusterClient.connect({ nats: cluster.nats.urls, apiKey: cluster.keys.orderer }),
      );
    }
    let running = true;
    const lag = sampleLag(cluster, () => running);
    const result = await load(clients.slice(1), seconds, mode, prng);
    running = false;
    return { setup: mode, ...result, ...(await lag) };
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
    await cluster.stop();
  }
}

export const USAGE = `Usage: npm run loadtest:replication -- [options]

Durable 3-line orders per second against a single node, then a cluster region with sync and
with async replication (a primary and a standby, 3 NATS servers), the same load each time;
the ratios to the single node, and the standby's lag under the load.

  --seconds <n>          load per setup (default 10)
  --setups <list>        which setups, in order (default single,sync,async)
  -h, --help             this text
`;

const FLAGS = { seconds: { type: 'string' }, setups: { type: 'string' } } as const;
const SETUPS = ['single', 'sync', 'async'] as const;

function describe(rows: CostRow[]): string {
  const single = rows.find((row) => row.setup === 'single')?.ordersPerSecond ?? Number.NaN;
  const lines = [
    '| setup | orders/s | × single | p50 ms | p99 ms | standby lag records mean / max | standby lag s max |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.setup} | ${Math.round(row.ordersPerSecond)} | ${(row.ordersPerSecond / single).toFixed(2)} | ` +
        `${row.p50Ms.toFixed(1)} | ${row.p99Ms.toFixed(1)} | ` +
        `${Math.round(row.lagRecordsMean)} / ${row.lagRecordsMax} | ${row.lagSecondsMax.toFixed(3)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  stopClustersOnSignals();
  const seconds = intFlag(command.values, 'seconds', 10, 1, 600);
  const prng = new Prng(seedFromEnv());
  const setups = (command.values.setups ?? SETUPS.join(',')).split(',');
  if (!setups.every((setup) => (SETUPS as readonly string[]).includes(setup))) {
    throw new UsageError(`--setups must list ${SETUPS.join(', ')}`);
  }
  const rows: CostRow[] = [];
  for (const setup of setups) {
    rows.push(
      setup === 'single'
        ? await runSingle(seconds, prng)
        : await runCluster(setup as 'sync' | 'async', seconds, prng),
    );
  }
  process.stdout.write(describe(rows));
  return 0;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

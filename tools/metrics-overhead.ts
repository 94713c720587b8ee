/**
 * Measures what request metrics cost at full load: throughput of a node with metrics on
 * (the default) against the same node with `--no-metrics`, driven by SDK connections from a
 * separate process. Rounds alternate on / off so drift on a shared machine hits both alike;
 * the median of each side is compared.
 *
 *   npm run metrics:overhead -- [--rounds 3] [--duration 5]
 *     [--scenario availability|orders|ping] [--threads 2] [--fsync none] [--connections 4]
 *     [--window 128]
 *
 * `ping` is the cheapest request there is, so it shows the largest share metrics can take;
 * `availability` (20 SKUs over 8 DCs, ~10 KB answers) and `orders` (3-line committed orders,
 * each then fulfilled; both answers count) are what a node really serves.
 *
 * Each run starts `dist/edge/main.js` on a free loopback port in a temporary directory (no
 * demo network), provisions 8 DCs × 200 SKUs through the admin API, warms up for a second,
 * then counts answers for `--duration` seconds; the node is stopped by its PID and its
 * directory removed afterwards. Bounded by rounds × duration plus start-up time.
 */

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../engine/testing/index.js';
import { InventoryClient } from '../protocol/client/index.js';
import {
  isEntryPoint,
  parseCommandLine,
  runMain,
  showUsage,
  UsageError,
  parseDurabilityPolicy,
} from '../wal/index.js';

const HERE = { lat: 48.8566, lng: 2.3522 };
const DCS = 8;
const SKUS = 200;
const SKUS_PER_QUERY = 20;
const LINES_PER_ORDER = 3;
const STOCK_PER_CELL = 100_000_000;
const WARMUP_MS = 1_000;
const READY_WAIT_MS_MAX = 30_000;
const CHILD_FLAG = '--load-child';

interface Options {
  rounds: number;
  durationS: number;
  scenario: 'availability' | 'orders' | 'ping';
  threads: number;
  fsync: string;
  connections: number;
  window: number;
}

export const USAGE = `Usage: npm run metrics:overhead -- [options]

  --scenario <s>         availability (default), orders or ping
  --rounds <n>           rounds, each one run with metrics and one without (default 3)
  --duration <s>         measured seconds per run (default 5)
  --threads <n>          worker threads of the node (default 2)
  --fsync <policy>       the node's durability: fsync, write or none (default none)
  --connections <n>      SDK connections (default 4)
  --window <n>           requests in flight per connection (default 128)
  -h, --help             this text
`;

const FLAGS = {
  rounds: { type: 'string' },
  duration: { type: 'string' },
  scenario: { type: 'string' },
  threads: { type: 'string' },
  fsync: { type: 'string' },
  connections: { type: 'string' },
  window: { type: 'string' },
} as const;

/** The options, or null for --help. */
function readOptions(argv: readonly string[]): Options | null {
  const command = parseCommandLine(argv, FLAGS);
  if (command.help) return null;
  const { values } = command;
  const int = (name: keyof typeof FLAGS, fallback: number, max: number) => {
    const text = values[name];
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(value) || value < 1 || value > max) {
      throw new UsageError(`--${name} must be an integer in [1, ${max}], got '${text}'`);
    }
    return value;
  };
  const scenario = values.scenario ?? 'availability';
  if (scenario !== 'availability' && scenario !== 'orders' && scenario !== 'ping') {
    throw new UsageError('--scenario must be availability, orders or ping');
  }
  const fsync = parseDurabilityPolicy(values.fsync ?? 'none');
  if (fsync === null) throw new UsageError('--fsync must be fsync, write or none');
  return {
    rounds: int('rounds', 3, 20),
    durationS: int('duration', 5, 600),
    scenario,
    threads: int('threads', 2, 64),
    fsync,
    connections: int('connections', 4, 64),
    window: int('window', 128, 4_096),
  };
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + READY_WAIT_MS_MAX;
  while (Date.now() < deadline) {
    try {
      const answer = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (answer.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`the node on port ${port} was not ready in ${READY_WAIT_MS_MAX} ms`);
}

async function provision(url: string, adminKey: string): Promise<void> {
  const admin = await InventoryClient.connect(url, { apiKey: adminKey, timeoutMs: 30_000 });
  try {
    for (let dc = 0; dc < DCS; dc++) {
      const location = { lat: HERE.lat + dc * 0.002, lng: HERE.lng };
      await admin.upsertDc({ id: `dc-${dc}`, name: `DC ${dc}`, location, radiusKm: 8 });
    }
    const skus = Array.from({ length: SKUS }, (_, sku) =>
      admin.upsertSku({ id: `sku-${sku}`, name: `SKU ${sku}` }),
    );
    await Promise.all(skus);
    const receipts = [];
    for (let dc = 0; dc < DCS; dc++) {
      for (let sku = 0; sku < SKUS; sku++) {
        receipts.push(admin.receive({ dc: `dc-${dc}`, sku: `sku-${sku}`, qty: STOCK_PER_CELL }));
      }
    }
    await Promise.all(receipts);
  } finally {
    await admin.close();
  }
}

/** The load generator, in its own process: answers counted over the measured window. */
async function runLoad(url: string, key: string, options: Options): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: options.connections }, () =>
      InventoryClient.connect(url, { apiKey: key, timeoutMs: 30_000 }),
    ),
  );
  const startMs = Date.now() + WARMUP_MS;
  const endMs = startMs + options.durationS * 1_000;
  let answers = 0;
  let sequence = 0;
  const lane = async (client: InventoryClient, lane: number) => {
    for (let draw = lane; Date.now() < endMs; draw += 7) {
      if (options.scenario === 'ping') {
        await client.ping();
      } else if (options.scenario === 'availability') {
        const skus = Array.from(
          { length: SKUS_PER_QUERY },
          (_, at) => `sku-${(draw * 13 + at * 7) % SKUS}`,
        );
        await client.availability({ ...HERE, skus });
      } else {
        const lines = Array.from({ length: LINES_PER_ORDER }, (_, at) => ({
          sku: `sku-${(draw * 11 + at * 17) % SKUS}`,
          qty: 1,
        }));
        const orderId = `o-${process.pid}-${sequence++}`;
        await client.placeOrder({ orderId, location: HERE, lines, mode: 'commit' });
        // Picking the order frees its order-table slot, so a long run never fills the table.
        await client.fulfil({ orderId });
        const now = Date.now();
        if (now >= startMs && now < endMs) answers++;
      }
      const now = Date.now();
      if (now >= startMs && now < endMs) answers++;
    }
  };
  await Promise.all(
    clients.flatMap((client) =>
      Array.from({ length: options.window }, (_, index) => lane(client, index)),
    ),
  );
  await Promise.all(clients.map((client) => client.close()));
  return answers / options.durationS;
}

function here(): string {
  return fileURLToPath(import.meta.url);
}

/** One measured run: a fresh node, provisioned, loaded from a child process. */
async function measure(options: Options, metrics: boolean): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'metrics-overhead-'));
  const port = await freePort();
  const args = [
    join(here(), '..', '..', 'edge', 'main.js'),
    ...['--port', String(port), '--data', dataDir, '--no-demo', '--log-level', 'warn'],
    ...['--fsync', options.fsync, '--threads', String(options.threads)],
    ...(metrics ? [] : ['--no-metrics']),
  ];
  const node = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitReady(port);
    const keys = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8'));
    const url = `ws://127.0.0.1:${port}/v1/ws`;
    await provision(url, keys.admin);
    return await childLoad(url, keys.orderer, options);
  } finally {
    await stop(node);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function childLoad(url: string, key: string, options: Options): Promise<number> {
  return new Promise((done, fail) => {
    const child = fork(here(), [CHILD_FLAG, url, key, JSON.stringify(options)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (rate) => done(rate as number));
    child.once('exit', (code) => {
      if (code !== 0) fail(new Error(`the load generator exited with ${code}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === CHILD_FLAG) {
    const rate = await runLoad(argv[1], argv[2], JSON.parse(argv[3]) as Options);
    process.send?.(rate);
    return 0;
  }
  const options = readOptions(argv);
  if (options === null) return showUsage(USAGE);
  const on: number[] = [];
  const off: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // Alternate which side goes first, so a trend in the machine's load hits both alike.
    for (const metrics of round % 2 === 0 ? [true, false] : [false, true]) {
      const rate = await measure(options, metrics);
      (metrics ? on : off).push(rate);
      console.log(`round ${round + 1} metrics ${metrics ? 'on ' : 'off'}: ${Math.round(rate)}/s`);
    }
  }
  const [withMetrics, without] = [median(on), median(off)];
  const overhead = (1 - withMetrics / without) * 100;
  console.log(
    `${options.scenario}, ${options.threads} node threads, fsync ${options.fsync}, ` +
      `${options.connections} connections × ${options.window} in flight, ` +
      `${options.rounds} rounds ` +
      `of ${options.durationS} s: metrics on ${Math.round(withMetrics)}/s, off ` +
      `${Math.round(without)}/s (medians): overhead ${overhead.toFixed(1)}%`,
  );
  return 0;
}

if (isEntryPoint(import.meta.url)) runMain(() => main(process.argv.slice(2)), USAGE);

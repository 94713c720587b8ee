/**
 * The reference scale served by a real node (`npm run loadtest:reference`): starts a node as a
 * child process with `--dc-capacity` and `--sku-capacity` for the network, `--no-demo` and the
 * durability policy asked for (fsync by default), creates the DCs and SKUs and bulk-loads the
 * stock rows over the wire through the SDK (one `receive` per row, as `npm run load` sends a
 * file, pipelined on a few connections), then prints the load's rows/s and the node's resident
 * memory (/proc/<pid>/status), kills the node with SIGKILL, restarts it on the same data
 * directory without the capacity flags (the directory records them), prints the time until it
 * answers ready (the RTO) and checks a sample of stock cells against what was loaded.
 *
 *   npm run loadtest:reference                                     # 10,000 × 100,000, 20 M rows
 *   npm run loadtest:reference -- --dcs 20 --skus 500 --rows 5000  # small, as the CI test runs
 *
 * The network: DCs scattered over metro areas (4-6 km delivery radius), each DC stocking an
 * evenly spread slice of the catalogue (rows / DCs SKUs), as `npm run bench:scale` builds it
 * in process. Every row's quantity follows from its cell, so any cell can be checked later.
 *
 * Invariants: only the node started here is signalled, by its PID; every wait is bounded (a
 * call's timeout, the node's start timeout); a run that loses or mangles a row, or fails one,
 * exits 1.
 */

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prng, seedFromEnv } from '../engine/testing/index.js';
import { InventoryClient } from '../protocol/client/index.js';
import { DURABILITY_POLICIES, type DurabilityPolicy } from '../wal/index.js';
import {
  intFlag,
  isEntryPoint,
  parseCommandLine,
  policyFlag,
  runMain,
  showUsage,
  stopOnSignal,
  stringFlag,
  UsageError,
} from './cli.js';
import { type NodeProcess, startNodeProcess } from './node-process.js';
import { formatCount } from './report.js';

const DCS_DEFAULT = 10_000;
const SKUS_DEFAULT = 100_000;
const ROWS_DEFAULT = 20_000_000;
const METROS_DEFAULT = 50;
const CONNECTIONS_DEFAULT = 2;
/** Requests each connection keeps in flight: the SDK's own ceiling is IN_FLIGHT_MAX (4096). */
const WINDOW_DEFAULT = 2_048;
const SAMPLES_DEFAULT = 2_000;
const THREADS_DEFAULT = 2;
/** A call that takes longer than this failed (the node is wedged, not slow). */
const CALL_TIMEOUT_MS = 120_000;
/** Recovering 20 M records and starting takes tens of seconds; an hour means something broke. */
const START_TIMEOUT_MS = 60 * 60 * 1000;
const READY_POLL_MS = 50;
const PROGRESS_INTERVAL_MS = 10_000;
/** Quantities received per cell: 1..QTY_SPREAD, from the cell's indexes. */
const QTY_SPREAD = 200;
const GiB = 1024 ** 3;

export const USAGE = `Usage: npm run loadtest:reference -- [options]

Starts a node with --dc-capacity <dcs> --sku-capacity <skus> --no-demo, loads the network and
its stock over the wire, prints rows/s and the node's RSS, kills it (SIGKILL), restarts it on
the same data directory without the capacity flags, prints the time to ready (RTO) and checks
a sample of stock cells.

  --dcs <n>              DCs, and the node's --dc-capacity (default ${DCS_DEFAULT})
  --skus <n>             SKUs, and the node's --sku-capacity (default ${SKUS_DEFAULT})
  --rows <n>             stock rows (receipts), spread evenly over the DCs
                         (default ${ROWS_DEFAULT}; at most dcs × skus)
  --metros <n>           metro areas the DCs are scattered over (default ${METROS_DEFAULT})
  --connections <n>      SDK connections loading stock at once (default ${CONNECTIONS_DEFAULT})
  --window <n>           requests in flight per connection (default ${WINDOW_DEFAULT})
  --threads <n>          the node's worker threads (default ${THREADS_DEFAULT})
  --fsync <policy>       the node's durability: ${DURABILITY_POLICIES.join(', ')} (default fsync)
  --snapshot-every <n>   the node's --snapshot-every (default: the node's own)
  --samples <n>          stock cells checked after the restart (default ${SAMPLES_DEFAULT})
  --data <dir>           use and keep this (new or empty) data directory; by default a
                         temporary one is used and removed
  --seed <n>             network seed (default: SEED, else 7)
  --json                 print the result as one JSON object on stdout
  -h, --help             this text

Exit status: 0 when every row loaded and every sampled cell survived the restart, 1 otherwise,
64 for a bad command line.
`;

const FLAGS = {
  dcs: { type: 'string' },
  skus: { type: 'string' },
  rows: { type: 'string' },
  metros: { type: 'string' },
  connections: { type: 'string' },
  window: { type: 'string' },
  threads: { type: 'string' },
  fsync: { type: 'string' },
  'snapshot-every': { type: 'string' },
  samples: { type: 'string' },
  data: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export interface ReferenceOptions {
  dcs: number;
  skus: number;
  rows: number;
  metros: number;
  connections: number;
  window: number;
  threads: number;
  fsync: DurabilityPolicy;
  snapshotEvery: number | null;
  samples: number;
  dataDir: string | null;
  seed: number;
  /** Print the report as JSON. */
  json: boolean;
}

export interface ReferenceReport {
  command: string;
  loadAverageBefore: number[];
  network: { dcs: number; skus: number; rows: number; fsync: DurabilityPolicy; threads: number };
  catalogue: { seconds: number; perSecond: number };
  load: { rows: number; failed: number; byCode: Record<string, number>; seconds: number };
  rowsPerSecond: number;
  /** The node's resident and peak resident memory after the load (VmRSS, VmHWM). */
  rssBytes: number;
  rssPeakBytes: number;
  /** Of `rssBytes`: anonymous and shared memory (counters, heaps), and file pages (the log). */
  rssAnonBytes: number;
  rssFileBytes: number;
  /** Disk the data directory takes (allocated blocks). */
  dataBytes: number;
  /** From the restart's spawn to /readyz answering 200. */
  rtoMs: number;
  rssAfterRestartBytes: number;
  samples: { checked: number; wrong: number; examples: string[] };
}

/** The network: where each DC is, and which SKUs it stocks. */
class Network {
  readonly locations: { lat: number; lng: number }[] = [];
  readonly radiusKm: number[] = [];
  /** Per DC: its first SKU; it stocks `rowsOf(dc)` SKUs from there, `step` apart. */
  private readonly firsts: Int32Array;
  private readonly perDc: number;
  private readonly extra: number;
  private readonly step: number;

  constructor(readonly options: ReferenceOptions) {
    const prng = new Prng(options.seed);
    const centres = Array.from({ length: options.metros }, () => ({
      lat: prng.uniform(5, 25),
      lng: prng.uniform(70, 90),
    }));
    for (let dc = 0; dc < options.dcs; dc++) {
      const centre = centres[dc % options.metros];
      this.locations.push({
        lat: centre.lat + prng.uniform(-0.12, 0.12),
        lng: centre.lng + prng.uniform(-0.12, 0.12),
      });
      this.radiusKm.push(Math.round(prng.uniform(4, 6) * 100) / 100);
    }
    this.perDc = Math.floor(options.rows / options.dcs);
    this.extra = options.rows % options.dcs;
    const most = this.perDc + (this.extra > 0 ? 1 : 0);
    this.step = Math.max(1, Math.floor(options.skus / Math.max(most, 1)));
    this.firsts = Int32Array.from({ length: options.dcs }, () => prng.int(options.skus));
  }

  rowsOf(dc: number): number {
    return this.perDc + (dc < this.extra ? 1 : 0);
  }

  /** The `at`-th SKU DC `dc` stocks: distinct for distinct `at`, since at × step < skus. */
  skuOf(dc: number, at: number): number {
    return (this.firsts[dc] + at * this.step) % this.options.skus;
  }
}

function qtyOf(dc: number, sku: number): number {
  return 1 + ((dc * 7_919 + sku * 104_729) % QTY_SPREAD);
}

const dcId = (dc: number): string => `dc-${dc}`;
const skuId = (sku: number): string => `sku-${sku}`;

/**
 * A bounded window of calls in flight on one connection: calls issued in one turn share the
 * SDK's frames; the issuer waits only when the window is full, and wakes once half of it has
 * drained (a counter, so each answer costs O(1), not a race over every call in flight).
 */
class Window {
  private inFlight = 0;
  private wake: (() => void) | null = null;
  readonly byCode: Record<string, number> = {};
  done = 0;
  failed = 0;

  constructor(private readonly max: number) {}

  track(call: Promise<unknown>): void {
    this.inFlight++;
    call.then(
      () => this.finish(true),
      (error: { code?: string }) => {
        const code = error.code ?? 'INTERNAL';
        this.byCode[code] = (this.byCode[code] ?? 0) + 1;
        this.finish(false);
      },
    );
  }

  private finish(ok: boolean): void {
    this.inFlight--;
    this.done++;
    if (!ok) this.failed++;
    if (this.wake !== null && this.inFlight <= this.max >> 1) {
      const wake = this.wake;
      this.wake = null;
      wake();
    }
  }

  /** Resolves once there is room for another call. */
  room(): Promise<void> | null {
    if (this.inFlight < this.max) return null;
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  /** Resolves once every call has been answered. */
  async drain(): Promise<void> {
    while (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

/** Sends `count` calls made by `call(i)`, at most `window` in flight; returns the window. */
async function pipelined(
  count: number,
  window: number,
  call: (index: number) => Promise<unknown>,
): Promise<Window> {
  const flight = new Window(window);
  for (let index = 0; index < count; index++) {
    const wait = flight.room();
    if (wait !== null) await wait;
    flight.track(call(index));
  }
  await flight.drain();
  return flight;
}

function connect(node: NodeProcess): Promise<InventoryClient> {
  return InventoryClient.connect(node.wsUrl, {
    apiKey: node.keys.admin,
    timeoutMs: CALL_TIMEOUT_MS,
    reconnect: false,
  });
}

async function createCatalogue(client: InventoryClient, network: Network, window: number) {
  const { dcs, skus } = network.options;
  const placed = await pipelined(dcs, window, (dc) =>
    client.upsertDc({
      id: dcId(dc),
      name: `DC ${dc}`,
      location: network.locations[dc],
      radiusKm: network.radiusKm[dc],
    }),
  );
  const named = await pipelined(skus, window, (sku) =>
    client.upsertSku({ id: skuId(sku), name: `SKU ${sku}`, category: `c${sku % 40}` }),
  );
  const failed = placed.failed + named.failed;
  if (failed > 0) {
    const codes = { ...placed.byCode, ...named.byCode };
    throw new Error(`the catalogue was refused ${failed} times: ${JSON.stringify(codes)}`);
  }
}

/** Loads every stock row: connection c takes the DCs c, c + n, c + 2n ... */
async function loadStock(
  clients: InventoryClient[],
  network: Network,
  window: number,
  onProgress: (rows: number) => void,
) {
  const windows = clients.map(() => new Window(window));
  const loadOne = async (connection: number) => {
    const client = clients[connection];
    const flight = windows[connection];
    for (let dc = connection; dc < network.options.dcs; dc += clients.length) {
      const dcName = dcId(dc);
      for (let at = 0; at < network.rowsOf(dc); at++) {
        const wait = flight.room();
        if (wait !== null) await wait;
        const sku = network.skuOf(dc, at);
        flight.track(client.receive({ dc: dcName, sku: skuId(sku), qty: qtyOf(dc, sku) }));
      }
    }
    await flight.drain();
  };
  const timer = setInterval(() => {
    onProgress(windows.reduce((sum, flight) => sum + flight.done, 0));
  }, PROGRESS_INTERVAL_MS);
  try {
    await Promise.all(clients.map((_, connection) => loadOne(connection)));
  } finally {
    clearInterval(timer);
  }
  const byCode: Record<string, number> = {};
  for (const flight of windows) {
    for (const [code, count] of Object.entries(flight.byCode)) {
      byCode[code] = (byCode[code] ?? 0) + count;
    }
  }
  return { failed: windows.reduce((sum, flight) => sum + flight.failed, 0), byCode };
}

/** Checks `cells` ([dc, at] pairs) against the quantities loaded; returns the wrong ones. */
async function checkCells(
  client: InventoryClient,
  network: Network,
  cells: readonly [number, number][],
  window: number,
): Promise<string[]> {
  const wrong: string[] = [];
  await pipelined(cells.length, window, async (index) => {
    const [dc, at] = cells[index];
    const sku = network.skuOf(dc, at);
    const expected = qtyOf(dc, sku);
    try {
      const { stock } = await client.getStock({ dc: dcId(dc), sku: skuId(sku) });
      if (stock.onHand !== expected || stock.available !== expected) {
        wrong.push(`${dcId(dc)}/${skuId(sku)}: ${stock.onHand} on hand, loaded ${expected}`);
      }
    } catch (error) {
      wrong.push(`${dcId(dc)}/${skuId(sku)}: ${(error as { code?: string }).code ?? error}`);
    }
  });
  return wrong;
}

function sampleCells(network: Network, count: number, seed: number): [number, number][] {
  const prng = new Prng(seed, 1);
  const cells: [number, number][] = [];
  for (let tries = 0; cells.length < count && tries < count * 4; tries++) {
    const dc = prng.int(network.options.dcs);
    const rows = network.rowsOf(dc);
    if (rows > 0) cells.push([dc, prng.int(rows)]);
  }
  return cells;
}

/**
 * A process's resident memory in bytes, from /proc/<pid>/status: all of it, its peak, and its
 * anonymous part (counters, heaps) apart from file pages (the log's mapped LMDB file, which
 * the kernel may reclaim as page cache).
 */
export function residentBytes(pid: number): {
  rss: number;
  peak: number;
  anon: number;
  file: number;
} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  };
  return {
    rss: field('VmRSS'),
    peak: field('VmHWM'),
    anon: field('RssAnon') + field('RssShmem'),
    file: field('RssFile'),
  };
}

/** Bytes of disk the files directly under `dir`'s log directory take. */
function dataBytes(dataDir: string): number {
  let total = 0;
  for (const name of ['data.mdb', 'lock.mdb']) {
    try {
      total += statSync(join(dataDir, 'log', name)).blocks * 512;
    } catch {
      // Not there (yet): counts as nothing.
    }
  }
  return total;
}

async function waitReady(url: string, deadlineMs: number): Promise<void> {
  while (performance.now() < deadlineMs) {
    try {
      const answer = await fetch(`${url}/readyz`);
      await answer.arrayBuffer();
      if (answer.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  throw new Error('the restarted node did not answer ready in time');
}

function startArgs(options: ReferenceOptions, capacities: boolean): string[] {
  const args = ['--no-demo'];
  if (capacities) {
    args.push('--dc-capacity', String(options.dcs), '--sku-capacity', String(options.skus));
  }
  if (options.snapshotEvery !== null) args.push('--snapshot-every', String(options.snapshotEvery));
  return args;
}

function nodeOptions(options: ReferenceOptions, dataDir: string, capacities: boolean) {
  return {
    threads: options.threads,
    fsync: options.fsync,
    cpus: null,
    orderCapacity: null,
    extraArgs: startArgs(options, capacities),
    dataDir,
    startTimeoutMs: START_TIMEOUT_MS,
  };
}

/** What a run started and must stop, whatever happens: the node, and the SDK connections. */
interface Owned {
  node: NodeProcess | null;
  clients: InventoryClient[];
}

async function closeClients(owned: Owned): Promise<void> {
  await Promise.allSettled(owned.clients.splice(0).map((client) => client.close()));
}

/** Creates the catalogue and loads the stock; measures both, and the node's memory after. */
async function loadPhase(
  node: NodeProcess,
  owned: Owned,
  network: Network,
  log: (line: string) => void,
) {
  const { options } = network;
  for (let at = 0; at < options.connections; at++) owned.clients.push(await connect(node));
  const catalogueStarted = performance.now();
  await createCatalogue(owned.clients[0], network, options.window);
  const catalogueSeconds = (performance.now() - catalogueStarted) / 1000;
  log(`catalogue: ${formatCount(options.dcs)} DCs, ${formatCount(options.skus)} SKUs`);
  const loadStarted = performance.now();
  const loaded = await loadStock(owned.clients, network, options.window, (rows) => {
    const seconds = (performance.now() - loadStarted) / 1000;
    const rss = (residentBytes(node.pid).rss / GiB).toFixed(2);
    log(`  ${formatCount(rows)} rows, ${formatCount(rows / seconds)} rows/s, node RSS ${rss} GiB`);
  });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const memory = residentBytes(node.pid);
  return { catalogueSeconds, loaded, loadSeconds, memory };
}

/** Runs the whole check; `log` gets progress lines. Stops what it started, whatever happens. */
export async function runReference(
  options: ReferenceOptions,
  command: string,
  log: (line: string) => void,
): Promise<ReferenceReport> {
  const loadAverageBefore = loadavg().map((value) => round(value, 2));
  const network = new Network(options);
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'inventory-reference-'));
  const owned: Owned = { node: null, clients: [] };
  const unhook = stopOnSignal(async () => {
    await closeClients(owned);
    await owned.node?.stop();
  });
  try {
    const first = await startNodeProcess(nodeOptions(options, dataDir, true));
    owned.node = first;
    log(`node ${first.pid} listening at ${first.url}, data in ${dataDir}`);
    const loaded = await loadPhase(first, owned, network, log);
    const samples = sampleCells(network, options.samples, options.seed);
    const wrongBefore = await checkCells(owned.clients[0], network, samples, options.window);
    if (wrongBefore.length > 0) throw new Error(`wrong before the kill: ${wrongBefore[0]}`);
    await closeClients(owned);
    await first.kill();
    log(`killed node ${first.pid} (SIGKILL); restarting on the same data directory`);
    const restarted = performance.now();
    const second = await startNodeProcess(nodeOptions(options, dataDir, false));
    owned.node = second;
    await waitReady(second.url, restarted + START_TIMEOUT_MS);
    const rtoMs = performance.now() - restarted;
    const rssAfterRestartBytes = residentBytes(second.pid).rss;
    owned.clients.push(await connect(second));
    const wrong = await checkCells(owned.clients[0], network, samples, options.window);
    const { catalogueSeconds, loadSeconds, memory } = loaded;
    return {
      command,
      loadAverageBefore,
      network: {
        dcs: options.dcs,
        skus: options.skus,
        rows: options.rows,
        fsync: options.fsync,
        threads: options.threads,
      },
      catalogue: {
        seconds: round(catalogueSeconds, 2),
        perSecond: Math.round((options.dcs + options.skus) / catalogueSeconds),
      },
      load: { rows: options.rows, ...loaded.loaded, seconds: round(loadSeconds, 2) },
      rowsPerSecond: Math.round(options.rows / loadSeconds),
      rssBytes: memory.rss,
      rssPeakBytes: memory.peak,
      rssAnonBytes: memory.anon,
      rssFileBytes: memory.file,
      dataBytes: dataBytes(dataDir),
      rtoMs: Math.round(rtoMs),
      rssAfterRestartBytes,
      samples: { checked: samples.length, wrong: wrong.length, examples: wrong.slice(0, 5) },
    };
  } finally {
    unhook();
    await closeClients(owned);
    await owned.node?.stop();
    if (options.dataDir === null) rmSync(dataDir, { recursive: true, force: true });
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(2)} GiB`;
}

export function describeReport(report: ReferenceReport): string {
  const { network, load } = report;
  const failed =
    load.failed === 0 ? '0 failed' : `${load.failed} failed ${JSON.stringify(load.byCode)}`;
  return [
    `reference node: ${formatCount(network.dcs)} DCs × ${formatCount(network.skus)} SKUs, ` +
      `${formatCount(network.rows)} stock rows, --fsync ${network.fsync}, ${network.threads} threads`,
    `  load average before: ${report.loadAverageBefore.join(' ')}`,
    `  catalogue: ${report.catalogue.seconds} s (${formatCount(report.catalogue.perSecond)} upserts/s)`,
    `  stock: ${formatCount(load.rows)} rows in ${load.seconds} s = ` +
      `${formatCount(report.rowsPerSecond)} rows/s (${failed})`,
    `  node RSS after the load: ${gib(report.rssBytes)} (peak ${gib(report.rssPeakBytes)}): ` +
      `${gib(report.rssAnonBytes)} anonymous and shared, ${gib(report.rssFileBytes)} file ` +
      `pages; data directory ${gib(report.dataBytes)} on disk`,
    `  kill -9, restart without capacity flags: ready after ${formatCount(report.rtoMs)} ms (RTO); ` +
      `RSS ${gib(report.rssAfterRestartBytes)}`,
    `  sampled cells after the restart: ${formatCount(report.samples.checked)} checked, ` +
      `${report.samples.wrong} wrong`,
    ...report.samples.examples.map((line) => `    ${line}`),
  ].join('\n');
}

export function parseReferenceOptions(argv: readonly string[]): ReferenceOptions | null {
  const command = parseCommandLine(argv, FLAGS);
  if (command.help) return null;
  const { values } = command;
  const dcs = intFlag(values, 'dcs', DCS_DEFAULT, 1, 1 << 20);
  const skus = intFlag(values, 'skus', SKUS_DEFAULT, 1, 1 << 24);
  if (dcs * skus > 0x7fff_ffff) throw new UsageError('--dcs × --skus must stay below 2^31 cells');
  const rows = intFlag(values, 'rows', ROWS_DEFAULT, 0, dcs * skus);
  const snapshot = values['snapshot-every'];
  return {
    dcs,
    skus,
    rows,
    metros: intFlag(values, 'metros', METROS_DEFAULT, 1, dcs),
    connections: intFlag(values, 'connections', CONNECTIONS_DEFAULT, 1, 64),
    window: intFlag(values, 'window', WINDOW_DEFAULT, 1, 4_096),
    threads: intFlag(values, 'threads', THREADS_DEFAULT, 1, 64),
    fsync: policyFlag(values, 'fsync', 'fsync', DURABILITY_POLICIES),
    snapshotEvery:
      snapshot === undefined ? null : intFlag(values, 'snapshot-every', 0, 0, 1_000_000_000),
    samples: intFlag(values, 'samples', SAMPLES_DEFAULT, 0, 1_000_000),
    dataDir: values.data === undefined ? null : stringFlag(values, 'data', ''),
    seed: intFlag(values, 'seed', seedFromEnv(7), 0, 2 ** 32 - 1),
    json: values.json === true,
  };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const options = parseReferenceOptions(argv);
  if (options === null) return showUsage(USAGE);
  const command = ['npm run loadtest:reference --', ...argv].join(' ');
  const report = await runReference(options, command, (line) => process.stderr.write(`${line}\n`));
  const text = options.json ? JSON.stringify(report) : describeReport(report);
  process.stdout.write(`${text}\n`);
  return report.load.failed === 0 && report.samples.wrong === 0 ? 0 : 1;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

/**
 * The crash check (F8): starts a node as a child process, drives orders at it through the SDK,
 * kills it with SIGKILL at a random moment, restarts it on the same data directory, and checks
 * after every restart that
 *   - every acknowledged order is there with the outcome it was acknowledged with (or the
 *     outcome of an operation on it that was in flight when the node died),
 *   - no order was applied twice (a retry of every acknowledged placement is answered as a
 *     retry, and the counters agree with the orders),
 *   - stock is conserved and never oversold: at every test cell, on-hand is what was received,
 *     and on-hand − available equals the units the live orders hold, never more than on-hand.
 *
 *   npm run loadtest:crash -- --crashes 20 --fsync fsync
 *
 * It prints `crashes: N, acked: N, lost: N, oversold: N` and exits non-zero unless lost and
 * oversold are 0. Every load loop is bounded by count and time; only the child it started is
 * ever signalled, by PID.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prng, seedFromEnv } from '../engine/testing/index.js';
import { InventoryClient } from '../protocol/client/index.js';
import {
  intFlag,
  isEntryPoint,
  parseCommandLine,
  policyFlag,
  runMain,
  showUsage,
  UsageError,
} from './cli.js';
import { type NodeProcess, startNodeProcess } from './node-process.js';

const DC = 'crash-dc';
const SKUS = ['crash-a', 'crash-b', 'crash-c'];
/** One deep SKU keeps orders flowing; two scarce ones run out and stay contended at zero. */
const UNITS: Record<string, number> = { 'crash-a': 1_000_000, 'crash-b': 2_000, 'crash-c': 2_000 };
const LOCATION = { lat: 12.9716, lng: 77.5946 };
const CONNECTIONS = 4;
/** Requests each connection keeps in flight while the node runs. */
const WINDOW = 32;
/** Orders checked at once after a restart. */
const VERIFY_BATCH = 256;
/** Operations one round may issue at most, whatever the time. */
const ROUND_OPERATIONS_MAX = 200_000;

export interface CrashOptions {
  crashes: number;
  /** A round runs for a random time in [roundMsMin, roundMsMax) before the kill. */
  roundMsMin: number;
  roundMsMax: number;
  fsync: 'fsync' | 'write';
  seed: number;
  log?: (line: string) => void;
}

export interface CrashReport {
  crashes: number;
  acked: number;
  lost: number;
  oversold: number;
  duplicated: number;
  problems: string[];
}

type Status = 'held' | 'confirmed' | 'cancelled';

/** What the test knows of one order: the last acknowledged status and what may be in flight. */
interface Known {
  lines: { sku: string; qty: number }[];
  mode: 'hold' | 'commit';
  acked: Status | null;
  /** Statuses an unacknowledged operation could have left it in. */
  maybe: Set<Status>;
  /**
   * An operation on it is in flight. One at a time per order: answers from different
   * connections arrive in any order, so the last answer seen need not be the last state.
   */
  busy: boolean;
}

async function seed(client: InventoryClient): Promise<void> {
  await client.upsertDc({ id: DC, name: 'Crash DC', location: LOCATION, radiusKm: 5 });
  for (const sku of SKUS) {
    await client.upsertSku({ id: sku, name: sku });
    await client.receive({ dc: DC, sku, qty: UNITS[sku], reason: 'crash test' });
  }
}

/** Drives one connection until `stop()` says so or the node dies. */
async function drive(
  client: InventoryClient,
  prng: Prng,
  orders: Map<string, Known>,
  prefix: string,
  shouldStop: () => boolean,
): Promise<void> {
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  for (let issued = 0; issued < ROUND_OPERATIONS_MAX && !shouldStop(); issued++) {
    if (client.state === 'closed' || client.state === 'reconnecting') break;
    const op = operation(client, prng, orders, `${prefix}-${next++}`);
    const tracked = op.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.allSettled(inFlight);
}

async function operation(
  client: InventoryClient,
  prng: Prng,
  orders: Map<string, Known>,
  fresh: string,
): Promise<void> {
  const roll = prng.next();
  if (roll < 0.6 || orders.size === 0) {
    const lines = prng
      .shuffle(SKUS.slice())
      .slice(0, prng.range(1, 3))
      .map((sku) => ({ sku, qty: prng.range(1, 3) }));
    const mode = prng.chance(0.5) ? 'hold' : 'commit';
    const known: Known = {
      lines,
      mode,
      busy: true,
      acked: null,
      maybe: new Set([mode === 'hold' ? 'held' : 'confirmed']),
    };
    orders.set(fresh, known);
    try {
      const answer = await client.placeOrder({
        orderId: fresh,
        location: LOCATION,
        lines,
        mode,
        ttlSeconds: 3_600,
      });
      known.acked = answer.order.status as Status;
      known.maybe.clear();
    } catch (error) {
      settleRefusal(orders, fresh, known, error);
    }
    known.busy = false;
    return;
  }
  // A random known order: sample the map's iteration order from a random start (bounded).
  const skip = prng.int(Math.min(orders.size, 4_096));
  let orderId = '';
  let seen = 0;
  for (const id of orders.keys()) {
    orderId = id;
    if (seen++ >= skip) break;
  }
  const known = orders.get(orderId)!;
  if (known.busy || (known.acked !== 'held' && known.acked !== 'confirmed')) return;
  known.busy = true;
  const cancel = roll >= 0.8 || known.acked === 'confirmed';
  known.maybe.add(cancel ? 'cancelled' : 'confirmed');
  try {
    const answer = cancel ? await client.cancel({ orderId }) : await client.confirm({ orderId });
    known.acked = answer.order.status as Status;
    known.maybe.clear();
  } catch {
    // Unknown outcome: the status may or may not have moved; `maybe` keeps both.
  }
  known.busy = false;
}

/**
 * A placement that certainly took nothing (refused, or never sent) is forgotten; one whose
 * connection died after it was sent stays uncertain, to be settled after the restart.
 */
function settleRefusal(
  orders: Map<string, Known>,
  orderId: string,
  known: Known,
  error: unknown,
): void {
  if ((error as { maybeApplied?: boolean }).maybeApplied === true) return;
  if (known.acked === null) orders.delete(orderId);
}

async function verify(
  client: InventoryClient,
  orders: Map<string, Known>,
  report: CrashReport,
): Promise<void> {
  const held = new Map<string, number>(SKUS.map((sku) => [sku, 0]));
  const check = async ([orderId, known]: [string, Known]): Promise<void> => {
    let status: Status | null = null;
    try {
      status = (await client.getOrder({ orderId })).order.status as Status;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ORDER_NOT_FOUND') throw error;
    }
    const allowed = new Set(known.maybe);
    if (known.acked !== null) allowed.add(known.acked);
    if (status === null) {
      if (known.acked !== null) {
        report.lost++;
        report.problems.push(`${orderId}: acknowledged ${known.acked}, missing after restart`);
      }
      orders.delete(orderId);
      return;
    }
    if (!allowed.has(status)) {
      report.lost++;
      report.problems.push(`${orderId}: acknowledged ${known.acked}, found ${status}`);
    }
    // From here the order's status is known for sure.
    known.acked = status;
    known.maybe.clear();
    if (status === 'held' || status === 'confirmed') {
      for (const line of known.lines) held.set(line.sku, held.get(line.sku)! + line.qty);
    }
    const retry = await client
      .placeOrder({
        orderId,
        location: LOCATION,
        lines: known.lines,
        mode: known.mode,
        ttlSeconds: 3_600,
      })
      .catch((error) => error);
    if (retry?.created === true) {
      report.duplicated++;
      report.problems.push(`${orderId}: a retry placed it again`);
    }
  };
  // Bounded batches: the connection's in-flight window is a limit, not a suggestion.
  const entries = [...orders.entries()];
  for (let at = 0; at < entries.length; at += VERIFY_BATCH) {
    await Promise.all(entries.slice(at, at + VERIFY_BATCH).map(check));
  }
  for (const sku of SKUS) {
    const { stock } = await client.getStock({ dc: DC, sku });
    const reserved = stock.onHand - stock.available;
    if (stock.onHand !== UNITS[sku]) {
      report.problems.push(`${sku}: on-hand ${stock.onHand}, received ${UNITS[sku]}`);
    }
    if (reserved !== held.get(sku)) {
      report.problems.push(
        `${sku}: counters reserve ${reserved}, live orders hold ${held.get(sku)}`,
      );
    }
    if (held.get(sku)! > stock.onHand || stock.shortfall > 0) {
      report.oversold += Math.max(held.get(sku)! - stock.onHand, stock.shortfall);
    }
  }
}

export async function runCrashTest(options: CrashOptions): Promise<CrashReport> {
  const log = options.log ?? (() => {});
  const dataDir = mkdtempSync(join(tmpdir(), 'inventory-crash-'));
  const prng = new Prng(options.seed);
  const orders = new Map<string, Known>();
  const report: CrashReport = {
    crashes: 0,
    acked: 0,
    lost: 0,
    oversold: 0,
    duplicated: 0,
    problems: [],
  };
  let node: NodeProcess | null = null;
  try {
    for (let round = 0; round <= options.crashes; round++) {
      // The same data directory every round: each start recovers what the last kill left.
      node = await startNodeProcess({
        threads: 2,
        fsync: options.fsync,
        cpus: null,
        orderCapacity: null,
        extraArgs: ['--demo-dcs', '2', '--demo-skus', '10'],
        dataDir,
      });
      const url = node.wsUrl;
      const keys = node.keys;
      const admin = await InventoryClient.connect(url, {
        apiKey: keys.admin,
        reconnect: false,
        timeoutMs: 30_000,
      });
      if (round === 0) await seed(admin);
      else await verify(admin, orders, report);
      await admin.close();
      if (round === options.crashes) break;
      const clients = await Promise.all(
        Array.from({ length: CONNECTIONS }, () =>
          InventoryClient.connect(url, { apiKey: keys.admin, reconnect: false, timeoutMs: 10_000 }),
        ),
      );
      let stop = false;
      const drivers = clients.map((client, at) =>
        drive(client, prng, orders, `r${round}-c${at}`, () => stop),
      );
      const roundMs = options.roundMsMin + prng.int(options.roundMsMax - options.roundMsMin);
      await new Promise((done) => setTimeout(done, roundMs));
      stop = true;
      await node.kill();
      report.crashes++;
      await Promise.allSettled(drivers);
      await Promise.allSettled(clients.map((client) => client.close()));
      log(`round ${round + 1}: killed after ${roundMs} ms, ${orders.size} orders known`);
    }
    report.acked = [...orders.values()].filter((known) => known.acked !== null).length;
    return report;
  } finally {
    await node?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const CRASHES_MAX = 10_000;
const ROUND_MS_MAX = 600_000;

export const USAGE = `Usage: npm run loadtest:crash -- [options]

  --crashes <n>          SIGKILLs, each followed by a restart and a check (default 20)
  --fsync <policy>       durability of the node: fsync or write (default fsync)
  --round-ms-min <ms>    shortest time under load before a kill (default 300)
  --round-ms-max <ms>    longest time under load before a kill (default 1500)
  -h, --help             this text

SEED=<n> replays a run (the seed is printed when a check fails).
`;

const FLAGS = {
  crashes: { type: 'string' },
  fsync: { type: 'string' },
  'round-ms-min': { type: 'string' },
  'round-ms-max': { type: 'string' },
} as const;

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  const { values } = command;
  const roundMsMin = intFlag(values, 'round-ms-min', 300, 1, ROUND_MS_MAX);
  const roundMsMax = intFlag(values, 'round-ms-max', 1_500, 1, ROUND_MS_MAX);
  if (roundMsMax <= roundMsMin) {
    throw new UsageError('--round-ms-max must be greater than --round-ms-min');
  }
  const seedValue = seedFromEnv();
  const report = await runCrashTest({
    crashes: intFlag(values, 'crashes', 20, 1, CRASHES_MAX),
    fsync: policyFlag(values, 'fsync', 'fsync', ['fsync', 'write'] as const),
    roundMsMin,
    roundMsMax,
    seed: seedValue,
    log: (line) => console.error(line),
  });
  for (const problem of report.problems.slice(0, 20)) console.error(problem);
  console.log(
    `crashes: ${report.crashes}, acked: ${report.acked}, lost: ${report.lost}, oversold: ${report.oversold}`,
  );
  if (
    report.lost > 0 ||
    report.oversold > 0 ||
    report.duplicated > 0 ||
    report.problems.length > 0
  ) {
    console.error(`SEED=${seedValue}`);
    return 1;
  }
  return 0;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

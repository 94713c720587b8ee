/**
 * The failover checks (issue 10): durable orders through the cluster SDK (ClusterClient) while
 * the region's nodes and NATS servers fail, then a check of every order and of the stock.
 *
 *   npm run loadtest:failover -- --scenario kill --failovers 20 --replication sync
 *
 * Scenarios:
 * - `kill`: the region's primary is SIGKILLed, again and again; each time the standby takes
 *   over, and the killed node is restarted on its data directory (it rejoins as a standby).
 *   Failover time: from the kill to the first order acknowledged that was sent after it.
 * - `zombie`: the primary is SIGSTOPped under load (a direct client keeps orders in flight on
 *   it); once the standby took over, SIGCONT: the old primary must acknowledge nothing more.
 * - `nats-kill`: one of the three NATS servers (the region stream's leader) is SIGKILLed
 *   under load, then restarted.
 *
 * The check, after the load: every acknowledged order exists on the region's owner with the
 * status it was acknowledged with (else it is counted lost); orders whose outcome was unknown
 * are looked up too; and at every test cell, on-hand is what was received and on-hand −
 * available equals the units the existing orders hold, never more than on-hand (else the
 * difference is counted oversold). It prints `acknowledged`, `lost`, `oversold` and the
 * failover times, and exits non-zero when sync replication lost or oversold anything.
 *
 * Bounded: every load loop stops after its time or ROUND_OPERATIONS_MAX operations; only
 * processes this run started are signalled, by PID.
 */

import { connectCluster } from '../cluster/index.js';
import { ACKS_ACROSS_DEADLINE } from '../edge/index.js';
import { Prng, seedFromEnv } from '../engine/testing/index.js';
import { logStreamName } from '../protocol/index.js';
import {
  ClusterClient,
  InventoryClient,
  InventoryError,
  type OrderResult,
} from '../protocol/client/index.js';
import { choiceFlag, intFlag, isEntryPoint, parseCommandLine, runMain, showUsage } from './cli.js';
import {
  type ClusterNode,
  type LocalCluster,
  type Replication,
  startLocalCluster,
  stopClustersOnSignals,
} from './local-cluster.js';

const REGION = 'bengaluru';
const DC = 'failover-dc';
/** North-west of Bengaluru, beyond every demo DC's reach: only the test DC serves it. */
const LOCATION = { lat: 13.25, lng: 77.45 };
const SKUS = ['fo-a', 'fo-b', 'fo-c'];
/** One deep SKU keeps orders flowing; two scarce ones sell out and stay contended. */
const UNITS: Record<string, number> = { 'fo-a': 1_000_000, 'fo-b': 3_000, 'fo-c': 3_000 };
const DRIVERS = 4;
/** Orders each driver keeps in flight. */
const WINDOW = 16;
/** An order waits this long (through failovers: the SDK resends it to the new owner). */
const ORDER_TIMEOUT_MS = 30_000;
const ROUND_OPERATIONS_MAX = 2_000_000;
const VERIFY_BATCH = 256;
/** A failover that has not completed after this long fails the run. */
const FAILOVER_MS_MAX = 60_000;
const POLL_MS = 20;
/** Answers that mean the order was not placed. */
const REFUSALS: ReadonlySet<string> = new Set(['OUT_OF_STOCK', 'NOT_IN_ONE_DC']);
/** The SDK's own codes: with maybeApplied false, the request never reached a node. */
const CLIENT_SIDE: ReadonlySet<string> = new Set([
  'CLOSED',
  'CONNECT_FAILED',
  'CONNECTION_LOST',
  'TIMEOUT',
  'ABORTED',
]);

export type Scenario = 'kill' | 'zombie' | 'nats-kill';

export interface FailoverOptions {
  scenario: Scenario;
  failovers: number;
  replication: Replication;
  /** Load between two failovers: a random time in [roundMsMin, roundMsMax). */
  roundMsMin: number;
  roundMsMax: number;
  leaseMs: number;
  seed: number;
  log?: (line: string) => void;
  /**
   * Longest the run may take: past it, the run stops its cluster (every process it started)
   * and rejects. A test gives one under its own timeout, so a slow run never leaves NATS and
   * nodes running after the test gave up on it.
   */
  deadlineMs?: number;
}

export interface FailoverReport {
  scenario: Scenario;
  replication: Replication;
  failovers: number;
  acknowledged: number;
  uncertain: number;
  lost: number;
  oversold: number;
  /** Acknowledgements the old primary sent after SIGCONT (zombie). */
  zombieAcks: number;
  /**
   * Acknowledgements the old primary itself reported as checked before its deadline and
   * perhaps written after it: the pause fell between its last ownership check and the write
   * (edge/ownership-check.ts, `AckFence`). They were decided while it owned the region,
   * as an answer delayed on the network would be. Any zombie acknowledgement beyond these was
   * decided after the deadline: a failure.
   */
  zombieAcksExplained: number;
  failoverMs: number[];
  /** Longest time without an acknowledgement during the run (ms). */
  stallMsMax: number;
  problems: string[];
}

interface Known {
  lines: { sku: string; qty: number }[];
  mode: 'hold' | 'commit';
  acked: string | null;
  uncertain: boolean;
}

/** The orders of a run and what was answered about them. */
class Ledger {
  readonly orders = new Map<string, Known>();
  lastAckAt = 0;
  /** Acknowledgement times of orders sent after a mark (failover timing). */
  readonly acks: { sentAt: number; at: number }[] = [];

  async place(client: ClusterClient | InventoryClient, orderId: string, prng: Prng) {
    const lines = prng
      .shuffle(SKUS.slice())
      .slice(0, prng.range(1, 3))
      .map((sku) => ({ sku, qty: prng.range(1, 3) }));
    const mode = prng.chance(0.5) ? 'hold' : 'commit';
    const known: Known = { lines, mode, acked: null, uncertain: true };
    this.orders.set(orderId, known);
    const sentAt = performance.now();
    try {
      const answer: OrderResult = await client.placeOrder(
        { orderId, location: LOCATION, lines, mode, ttlSeconds: 3_600 },
        { timeoutMs: ORDER_TIMEOUT_MS },
      );
      known.acked = answer.order.status;
      known.uncertain = false;
      const at = performance.now();
      this.lastAckAt = at;
      this.acks.push({ sentAt, at });
      return true;
    } catch (error) {
      const code = error instanceof InventoryError ? error.code : 'INTERNAL';
      const maybeApplied = error instanceof InventoryError ? error.maybeApplied : true;
      // A refusal, or a request that never left this client, changed nothing; anything else
      // may or may not have placed the order: it is looked up at the end.
      if (REFUSALS.has(code) || (CLIENT_SIDE.has(code) && !maybeApplied)) {
        this.orders.delete(orderId);
      }
      return false;
    }
  }

  /** First acknowledgement of an order sent at or after `since` (ms, performance.now). */
  firstAckAfter(since: number): number | null {
    let first: number | null = null;
    for (const ack of this.acks) {
      if (ack.sentAt >= since && (first === null || ack.at < first)) first = ack.at;
    }
    return first;
  }
}

/** Keeps WINDOW orders in flight on `client` until `stop()` or the operation bound. */
async function drive(
  client: ClusterClient | InventoryClient,
  ledger: Ledger,
  prefix: string,
  prng: Prng,
  stop: () => boolean,
  onAck?: () => void,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (let issued = 0; issued < ROUND_OPERATIONS_MAX && !stop(); issued++) {
    if (client instanceof InventoryClient && client.state === 'closed') break;
    const placed = ledger.place(client, `${prefix}-${issued}`, prng).then((ok) => {
      if (ok) onAck?.();
    });
    const tracked = placed.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.allSettled(inFlight);
}

async function seedCells(admin: ClusterClient, adminKey: string): Promise<void> {
  const options = { region: REGION, timeoutMs: ORDER_TIMEOUT_MS };
  const connected = await ownerClient(admin, adminKey);
  await connected.upsertDc({ id: DC, name: 'Failover DC', location: LOCATION, radiusKm: 3 });
  for (const sku of SKUS) await connected.upsertSku({ id: sku, name: sku });
  await connected.close();
  for (const sku of SKUS) {
    await admin.receive({ dc: DC, sku, qty: UNITS[sku], reason: 'failover test' }, options);
  }
}

/** A plain client of the region's owner (catalogue upserts are not routed by the SDK). */
async function ownerClient(admin: ClusterClient, apiKey: string): Promise<InventoryClient> {
  const owner = admin.regionOwners.get(REGION);
  if (owner === undefined) throw new Error(`region ${REGION} has no owner`);
  return InventoryClient.connect(owner.url, {
    apiKey,
    reconnect: false,
    timeoutMs: ORDER_TIMEOUT_MS,
  });
}

async function verify(admin: ClusterClient, ledger: Ledger, report: FailoverReport) {
  const held = new Map<string, number>(SKUS.map((sku) => [sku, 0]));
  const check = async ([orderId, known]: [string, Known]): Promise<void> => {
    let status: string | null = null;
    try {
      const answer = await admin.getOrder(
        { orderId },
        { region: REGION, timeoutMs: ORDER_TIMEOUT_MS },
      );
      status = answer.order.status;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ORDER_NOT_FOUND') throw error;
    }
    if (status === null) {
      if (known.acked !== null) {
        report.lost++;
        if (report.problems.length < 20) report.problems.push(`${orderId}: acknowledged, missing`);
      }
      return;
    }
    if (known.acked !== null && status !== known.acked) {
      report.lost++;
      report.problems.push(`${orderId}: acknowledged ${known.acked}, found ${status}`);
    }
    for (const line of known.lines) held.set(line.sku, held.get(line.sku)! + line.qty);
  };
  const entries = [...ledger.orders.entries()];
  for (let at = 0; at < entries.length; at += VERIFY_BATCH) {
    await Promise.all(entries.slice(at, at + VERIFY_BATCH).map(check));
  }
  for (const sku of SKUS) {
    const { stock } = await admin.getStock({ dc: DC, sku }, { region: REGION });
    const reserved = stock.onHand - stock.available;
    if (stock.onHand !== UNITS[sku]) {
      report.problems.push(`${sku}: on-hand ${stock.onHand}, received ${UNITS[sku]}`);
    }
    if (reserved !== held.get(sku)) {
      report.problems.push(
        `${sku}: counters reserve ${reserved}, existing orders hold ${held.get(sku)}`,
      );
    }
    report.oversold += Math.max(0, reserved - stock.onHand, -stock.available);
  }
}

function primaryOf(cluster: LocalCluster, client: ClusterClient): ClusterNode {
  const owner = client.regionOwners.get(REGION);
  const node = cluster.nodes.find(
    (candidate) => candidate.url !== '' && candidate.url === owner?.httpUrl,
  );
  if (node === undefined) throw new Error(`no running node owns ${REGION} (${owner?.httpUrl})`);
  return node;
}

function primaryIsRunning(cluster: LocalCluster, client: ClusterClient): boolean {
  const owner = client.regionOwners.get(REGION);
  return cluster.nodes.some((node) => node.running() && node.url === owner?.httpUrl);
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
}

function epochOf(client: ClusterClient): number {
  return client.regionOwners.get(REGION)?.epoch ?? 0;
}

/** SIGKILLs the primary `failovers` times under load; restarts each as a standby. */
async function killRounds(
  cluster: LocalCluster,
  watcher: ClusterClient,
  ledger: Ledger,
  options: FailoverOptions,
  report: FailoverReport,
  prng: Prng,
): Promise<void> {
  const log = options.log ?? (() => {});
  for (let round = 1; round <= options.failovers; round++) {
    const loadMs = options.roundMsMin + prng.int(options.roundMsMax - options.roundMsMin);
    await new Promise((done) => setTimeout(done, loadMs));
    // A node that left by itself (deposed after a stall: exit 76) rejoins, as a supervisor
    // would restart it, so the region always has a standby to fail over to.
    for (const node of cluster.nodes) {
      if (!node.running()) {
        log(`${node.name} had exited (${String(await node.exited())}); restarting it`);
        await node.start();
      }
    }
    log(`failover ${round}: waiting for a running primary`);
    await until(() => primaryIsRunning(cluster, watcher), FAILOVER_MS_MAX, 'a running primary');
    const primary = primaryOf(cluster, watcher);
    const epoch = epochOf(watcher);
    const killedAt = performance.now();
    await primary.kill();
    report.failovers++;
    log(`failover ${round}: ${primary.name} killed; waiting for a new owner`);
    const restarted = primary.start();
    await until(() => epochOf(watcher) > epoch, FAILOVER_MS_MAX, 'a new owner');
    await until(
      () => ledger.firstAckAfter(killedAt) !== null,
      FAILOVER_MS_MAX,
      'an order on the new owner',
    );
    const ms = ledger.firstAckAfter(killedAt)! - killedAt;
    report.failoverMs.push(ms);
    await restarted;
    log(
      `failover ${round}: ${primary.name} killed, epoch ${epochOf(watcher)}, ${Math.round(ms)} ms`,
    );
  }
}

/** The acknowledgements a node's output reports as perhaps written after its deadline. */
export function acksAcrossDeadline(output: string): number {
  let count = 0;
  for (const line of output.split('\n')) {
    if (!line.includes(ACKS_ACROSS_DEADLINE)) continue;
    try {
      const acks = (JSON.parse(line) as { acknowledgements?: unknown }).acknowledgements;
      if (typeof acks === 'number') count += acks;
    } catch {
      // A line cut by the output's bound: not counted.
    }
  }
  return count;
}

/** SIGSTOPs the primary under load; SIGCONT once the standby took over. */
async function zombieRound(
  cluster: LocalCluster,
  watcher: ClusterClient,
  ledger: Ledger,
  report: FailoverReport,
  prng: Prng,
  log: (line: string) => void,
): Promise<void> {
  const primary = primaryOf(cluster, watcher);
  log(`zombie: connecting to the primary ${primary.name}`);
  const direct = await ownerClient(watcher, cluster.keys.orderer);
  let stop = false;
  let continuedAt = Number.POSITIVE_INFINITY;
  const directLoad = drive(
    direct,
    ledger,
    'zombie',
    prng,
    () => stop,
    () => {
      if (performance.now() >= continuedAt) report.zombieAcks++;
    },
  );
  await new Promise((done) => setTimeout(done, 1_500));
  const epoch = epochOf(watcher);
  const stoppedAt = performance.now();
  primary.signal('SIGSTOP');
  report.failovers++;
  log(`zombie: ${primary.name} stopped; waiting for a new owner`);
  await until(() => epochOf(watcher) > epoch, FAILOVER_MS_MAX, 'a new owner');
  log('zombie: waiting for an order acknowledged by the new owner');
  await until(
    () => ledger.firstAckAfter(stoppedAt) !== null,
    FAILOVER_MS_MAX,
    'an order on the new owner',
  );
  report.failoverMs.push(ledger.firstAckAfter(stoppedAt)! - stoppedAt);
  continuedAt = performance.now();
  primary.signal('SIGCONT');
  log(`zombie: ${primary.name} continued; waiting for it to exit`);
  const code = await Promise.race([
    primary.exited(),
    new Promise((done) => setTimeout(() => done('still running'), 15_000)),
  ]);
  log(`zombie: ${primary.name} stopped then continued; it exited with ${String(code)}`);
  stop = true;
  log('zombie: waiting for the orders in flight to the old primary');
  await directLoad;
  await direct.close().catch(() => undefined);
  report.zombieAcksExplained += acksAcrossDeadline(primary.output());
  log(`zombie: restarting ${primary.name}`);
  await primary.start();
}

/** SIGKILLs the NATS server leading the region's stream under load, then restarts it. */
async function natsKillRound(cluster: LocalCluster, log: (line: string) => void): Promise<void> {
  await new Promise((done) => setTimeout(done, 2_000));
  const leader = await streamLeader(cluster.nats.urls);
  // Servers are named n1, n2, n3 (cluster/nats-process.ts).
  const server = cluster.nats.servers[Math.max(0, Number(leader.slice(1)) - 1)];
  await server.kill();
  log(`nats-kill: ${server.url} killed`);
  await new Promise((done) => setTimeout(done, 8_000));
  await server.restart();
  log(`nats-kill: ${server.url} restarted`);
  await new Promise((done) => setTimeout(done, 4_000));
}

/** The name of the server leading the region's log stream. */
async function streamLeader(urls: string[]): Promise<string> {
  const connection = await connectCluster({ servers: urls, name: 'failover test', leaseMs: 3_000 });
  try {
    const info = await connection.jsm.streams.info(logStreamName(REGION));
    return info.cluster?.leader ?? 'n1';
  } finally {
    await connection.close();
  }
}

/** The longest time without an acknowledgement, while orders were being sent (ms). */
function longestStall(ledger: Ledger): number {
  const times = ledger.acks.map((ack) => ack.at).sort((a, b) => a - b);
  let longest = 0;
  for (let index = 1; index < times.length; index++) {
    longest = Math.max(longest, times[index] - times[index - 1]);
  }
  return longest;
}

export async function runFailover(options: FailoverOptions): Promise<FailoverReport> {
  const prng = new Prng(options.seed);
  // What the run is doing, for the log and for the deadline's error: a run that hangs says where.
  const startedAt = performance.now();
  let stage = 'starting the cluster';
  const userLog = options.log ?? (() => {});
  const log = (line: string) => {
    stage = line;
    userLog(`${Math.round(performance.now() - startedAt)} ms: ${line}`);
  };
  const report: FailoverReport = {
    scenario: options.scenario,
    replication: options.replication,
    failovers: 0,
    acknowledged: 0,
    uncertain: 0,
    lost: 0,
    oversold: 0,
    zombieAcks: 0,
    zombieAcksExplained: 0,
    failoverMs: [],
    stallMsMax: 0,
    problems: [],
  };
  const cluster = await startLocalCluster({
    regions: [REGION],
    nodesPerRegion: 2,
    replication: options.replication,
    natsServers: 3,
    demoDcs: 2,
    demoSkus: 10,
    threads: 1,
    leaseMs: options.leaseMs,
    fsync: 'fsync',
    logLevel: 'warn',
  });
  const ledger = new Ledger();
  const clients: ClusterClient[] = [];
  let expiry: NodeJS.Timeout | undefined;
  let halted = false;
  const deadline = new Promise<never>((_, reject) => {
    if (options.deadlineMs === undefined) return;
    const ms = options.deadlineMs;
    expiry = setTimeout(
      () => reject(new Error(`the run passed its deadline of ${ms} ms, at: ${stage}`)),
      ms,
    );
  });
  try {
    const stopped = () => halted;
    const rounds = runRounds(cluster, clients, ledger, report, { ...options, log }, prng, stopped);
    // Past the deadline the rounds fail against a stopped cluster: nobody awaits them then.
    rounds.catch(() => {});
    return await Promise.race([rounds, deadline]);
  } finally {
    halted = true;
    clearTimeout(expiry);
    await Promise.allSettled(clients.map((client) => client.close()));
    await cluster.stop();
  }
}

/** The load, the failovers and the verification of one run, on a started cluster. */
async function runRounds(
  cluster: LocalCluster,
  clients: ClusterClient[],
  ledger: Ledger,
  report: FailoverReport,
  options: FailoverOptions,
  prng: Prng,
  halted: () => boolean,
): Promise<FailoverReport> {
  const log = options.log ?? (() => {});
  const connect = (apiKey: string) =>
    ClusterClient.connect({ nats: cluster.nats.urls, apiKey, timeoutMs: ORDER_TIMEOUT_MS });
  log('connecting the admin client; seeding the stock');
  const admin = await connect(cluster.keys.admin);
  clients.push(admin);
  await seedCells(admin, cluster.keys.admin);
  log('connecting the drivers');
  for (let index = 0; index < DRIVERS; index++) clients.push(await connect(cluster.keys.orderer));
  log('under load');
  let stop = false;
  const drivers = clients
    .slice(1)
    .map((client, index) => drive(client, ledger, `d${index}`, prng, () => stop || halted()));
  try {
    if (options.scenario === 'kill') {
      await killRounds(cluster, admin, ledger, options, report, prng);
    } else if (options.scenario === 'zombie') {
      await zombieRound(cluster, admin, ledger, report, prng, log);
    } else {
      await natsKillRound(cluster, log);
    }
    await new Promise((done) => setTimeout(done, 1_000));
  } finally {
    stop = true;
    log("waiting for the drivers' orders in flight");
    await Promise.allSettled(drivers);
  }
  report.stallMsMax = longestStall(ledger);
  log(`verifying ${ledger.orders.size} orders and the stock`);
  await verify(admin, ledger, report);
  for (const known of ledger.orders.values()) {
    if (known.acked !== null) report.acknowledged++;
    else report.uncertain++;
  }
  return report;
}

function percentile(values: number[], fraction: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

export function describeReport(report: FailoverReport): string {
  const ms = report.failoverMs;
  return (
    `scenario: ${report.scenario}, replication: ${report.replication}, ` +
    `failovers: ${report.failovers}, acknowledged: ${report.acknowledged}, ` +
    `lost: ${report.lost}, oversold: ${report.oversold}, uncertain: ${report.uncertain}, ` +
    `zombie acks: ${report.zombieAcks} (written across the deadline by the node's own ` +
    `account: ${report.zombieAcksExplained}), failover ms p50/max: ` +
    `${Math.round(percentile(ms, 0.5))}/${Math.round(Math.max(0, ...ms))}, ` +
    `longest pause in acknowledgements ms: ${Math.round(report.stallMsMax)}`
  );
}

export const USAGE = `Usage: npm run loadtest:failover -- [options]

Durable orders through the cluster SDK while the region's primary (or a NATS server) fails;
then every acknowledged order and the stock are checked.

  --scenario <s>         kill (default): SIGKILL the primary again and again;
                         zombie: SIGSTOP the primary, let the standby take over, SIGCONT it;
                         nats-kill: SIGKILL one of the three NATS servers under load
  --failovers <n>        kills in the kill scenario (default 20)
  --replication <mode>   sync (default) or async
  --round-ms-min <ms>    shortest load between two kills (default 500)
  --round-ms-max <ms>    longest load between two kills (default 1500)
  --lease-ms <n>         the lease (default 3000)
  -h, --help             this text

SEED=<n> replays the order mix. Exit status 1 when sync replication lost or oversold anything,
or the zombie acknowledged anything after SIGCONT beyond what it reports as checked
before its deadline (a pause between the check and the write).
`;

const FLAGS = {
  scenario: { type: 'string' },
  failovers: { type: 'string' },
  replication: { type: 'string' },
  'round-ms-min': { type: 'string' },
  'round-ms-max': { type: 'string' },
  'lease-ms': { type: 'string' },
} as const;

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  stopClustersOnSignals();
  const { values } = command;
  const roundMsMin = intFlag(values, 'round-ms-min', 500, 1, 600_000);
  const roundMsMax = Math.max(roundMsMin + 1, intFlag(values, 'round-ms-max', 1_500, 2, 600_000));
  const seed = seedFromEnv();
  const report = await runFailover({
    scenario: choiceFlag(values, 'scenario', 'kill', ['kill', 'zombie', 'nats-kill'] as const),
    failovers: intFlag(values, 'failovers', 20, 1, 1_000),
    replication: choiceFlag(values, 'replication', 'sync', ['sync', 'async'] as const),
    roundMsMin,
    roundMsMax,
    leaseMs: intFlag(values, 'lease-ms', 3_000, 1_000, 120_000),
    seed,
    log: (line) => console.error(line),
  });
  for (const problem of report.problems.slice(0, 20)) console.error(problem);
  console.log(describeReport(report));
  const failed =
    (report.replication === 'sync' && (report.lost > 0 || report.oversold > 0)) ||
    report.zombieAcks > report.zombieAcksExplained ||
    report.problems.some((problem) => !problem.includes('missing'));
  if (failed) console.error(`SEED=${seed}`);
  return failed ? 1 : 0;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);

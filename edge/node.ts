/**
 * `startNode`: the whole edge node in one call, as `main.ts` runs it and as tests and load
 * tests start it in-process. The main thread opens (or recovers) the log, seeds the demo
 * network into an empty data directory, owns catalogue index assignment and the expiry sweep,
 * and runs the lifecycle; worker threads (worker.ts) serve every connection.
 *
 * Invariants:
 * - The node reports ready only after recovery and seeding are durable and every worker
 *   listens; shutdown clears readiness first.
 * - Shutdown order: stop accepting (listen sockets closed) and ask a snapshot fold in progress
 *   to stop, let in-flight requests finish (bounded by SHUTDOWN_DRAIN_MS_MAX), flush and stop
 *   the log, close every connection, and wait for every worker thread to end. `close()` is
 *   idempotent.
 * - The demo network is generated only into a directory without a log; keys.json is written
 *   with mode 0600 and never overwritten when present.
 * - One node per data directory and per port: the log's directory lock is taken before
 *   anything is read (a second node is refused with DATA_DIR_LOCKED), and a port another
 *   process listens on is refused with PORT_IN_USE (port-guard.ts), before and after listening.
 * - The main thread takes part in the change feed: its own changes (expiries) go out like a
 *   worker's, and it turns every thread's changed cells into low-stock alerts (low-stock.ts).
 *   It also merges the workers' metrics and renders /metrics (node-metrics.ts).
 * - With TLS, the certificate and key are checked before the log is opened or any worker
 *   starts; the node's url and wsUrl are then https:// and wss://.
 * - Keys: the main thread alone reads keys; workers get digests with a slot each (KeySlots),
 *   and a reload (`reloadKeys`, SIGHUP in main.ts) sends every worker the new table and
 *   waits for each to apply it. Reloads run one at a time; a key file that does not parse
 *   changes nothing. The main thread refills every key's shared rate bucket each
 *   KEY_REFILL_SWEEP_MS (rate-limiter.ts) and resets a slot's bucket when a new key gets it.
 */

import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { commitOrderTable, DEFAULT_CONFIG, type Engine, sharedBytes } from '../engine/index.js';
import type { LowStockAlert } from '../protocol/index.js';
import { CatalogueOwner, type WorkerPort } from './catalogue-sync.js';
import { CatalogueView } from './catalogue-view.js';
import { ChangeCollector, FeedChannel, type FeedMessage } from './change-feed.js';
import { checkNodeOptions, defaultNodeOptions, type NodeOptions } from './config.js';
import {
  CHANGED_CELLS_PER_BATCH_MAX,
  EXPIRY_SWEEP_INTERVAL_MS,
  METRICS_COLLECT_INTERVAL_MS,
  METRICS_COLLECT_MS_MAX,
  ORDER_EVENT_RING_SLOTS,
  ORDER_EVENT_TAIL_MS,
  PORT_PICK_ATTEMPTS_MAX,
  SHUTDOWN_DRAIN_MS_MAX,
  SUBSCRIPTION_TICK_MS,
  WORKER_START_MS_MAX,
} from './constants.js';
import { seedDemoNetwork } from './demo.js';
import {
  type DemoKeys,
  demoKeysOf,
  demoKeysToConfig,
  generateDemoKeys,
  type KeyChanges,
  type KeyConfig,
  KeySlots,
  type KeyTable,
  loadKeyFile,
  resolveKeyConfig,
  writeDemoKeys,
} from './keys.js';
import { createLogger, type Logger } from './logger.js';
import { LowStockTracker } from './low-stock.js';
import { NodeMetrics, type SnapshotStats, type ThreadCpuSample } from './node-metrics.js';
import { createOrderEventRing, OrderEventWriter } from './order-event-ring.js';
import { OrderEventTail } from './order-event-tail.js';
import {
  createNodeState,
  type MainToWorker,
  STATE_READY,
  STATE_SHUTTING_DOWN,
  STATE_WORKERS_LISTENING,
  type WorkerInit,
  type WorkerToMain,
} from './thread-messages.js';
import { ConnectionLimits, createConnectionCounts } from './connection-limits.js';
import { checkPortOwned, claimPort } from './port-guard.js';
import { PrometheusWriter } from './prometheus-text.js';
import {
  createKeyBuckets,
  KEY_REFILL_SWEEP_MS,
  keyLimitOf,
  SharedKeyBuckets,
} from './rate-limiter.js';
import { type CheckedTls, checkTlsFiles } from './tls.js';
import { requireNativeUws, UwsFallbackError } from './uws.js';
import { LogReadError, ownThreadId, threadCpuSeconds } from '../wal/index.js';
import type { ClusterLink } from './cluster-port.js';
import { type NodeLog, type OpenedNodeLog, openNodeLog } from './wal-port.js';

/** The log lives in its own directory so the data directory can hold keys.json beside it. */
export const LOG_DIR_NAME = 'log';
export const KEY_FILE_NAME = 'keys.json';
/** Extra time over the drain deadline before a worker that did not report is given up on. */
const DRAIN_REPORT_GRACE_MS = 2_000;
/** Time a closing worker has to end by itself before it is terminated. */
const WORKER_EXIT_MS_MAX = 5_000;
/** Time each worker has to apply a reloaded key set before the reload reports it late. */
const KEYS_APPLY_MS_MAX = 5_000;

/** What a key reload did, by key id (never keys). */
export type KeyReload =
  | {
      ok: true;
      generation: number;
      added: string[];
      removed: string[];
      kept: number;
      closed: number;
    }
  | { ok: false; error: string };

export interface StartedNode {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, or `https://host:port` with TLS */
  readonly url: string;
  /** `ws://host:port/v1/ws`, or `wss://host:port/v1/ws` with TLS */
  readonly wsUrl: string;
  readonly dataDir: string;
  /** The keys of data/keys.json; null when the deployment supplied its own keys. */
  readonly keys: DemoKeys | null;
  /** True when this start generated the demo network into an empty data directory. */
  readonly seeded: boolean;
  /** The main thread's engine over the shared memory: lets tests look at stock directly. */
  readonly engine: Engine;
  /**
   * Resolves with the reason once a broken invariant stopped the node (it refuses requests
   * from that moment and closes itself); the process should then exit, and a restart
   * recovers from the log. Never resolves otherwise.
   */
  readonly halted: Promise<string>;
  /**
   * Reads the key file again (INVENTORY_KEYS_FILE or <data>/keys.json) and serves it: new keys
   * work, removed keys stop working and their WebSocket connections are closed. Resolves once
   * every worker applied it; a file that does not parse changes nothing (`ok: false`).
   */
  reloadKeys(): Promise<KeyReload>;
  /**
   * A cluster node (`--region`): resolves once the node may no longer serve its region's
   * writes (deposed, lease lost, the stream unfollowable); it then closes itself and the
   * process should exit with `exitCode` (cluster/constants.ts EXIT_DEPOSED), to be restarted
   * as a standby. Never resolves for a standalone node.
   */
  readonly deposed: Promise<{ reason: string; exitCode: number }>;
  close(): Promise<void>;
}

/** Where the compiled worker lives: next to this file, or under dist/ when run from sources. */
function workerFile(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return new URL('../dist/edge/worker.js', here);
  return new URL('./worker.js', here);
}

/** A free TCP port on `host`, found by binding port 0 and releasing it. */
function pickFreePort(host: string): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/** One worker thread as the main thread sees it. */
class WorkerHandle implements WorkerPort {
  private readonly waiters = new Map<string, (message: WorkerToMain) => void>();
  exited = false;
  /** The newest key generation the worker reported applied (it starts with the first). */
  keysGeneration = 1;
  /** The worker thread's kernel id, from its 'attached' message; -1 when unknown. */
  threadId = -1;
  readonly exit: Promise<number>;

  constructor(
    readonly index: number,
    readonly worker: Worker,
    onMessage: (handle: WorkerHandle, message: WorkerToMain) => void,
  ) {
    worker.on('message', (message: WorkerToMain) => {
      const waiter = this.waiters.get(message.type);
      if (waiter !== undefined) {
        this.waiters.delete(message.type);
        waiter(message);
      }
      onMessage(this, message);
    });
    this.exit = new Promise((done) =>
      worker.once('exit', (code) => {
        this.exited = true;
        done(code);
      }),
    );
  }

  post(message: MainToWorker): void {
    if (!this.exited) this.worker.postMessage(message);
  }

  /** The next message of one of `types`, or an error after `timeoutMs` or on exit. */
  next<T extends WorkerToMain['type']>(
    types: T[],
    timeoutMs: number,
  ): Promise<Extract<WorkerToMain, { type: T }>> {
    return new Promise((done, fail) => {
      const timer = setTimeout(() => {
        for (const type of types) this.waiters.delete(type);
        fail(new Error(`worker ${this.index} sent none of ${types.join(', ')} in ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (message: WorkerToMain) => {
        clearTimeout(timer);
        for (const type of types) this.waiters.delete(type);
        done(message as Extract<WorkerToMain, { type: T }>);
      };
      for (const type of types) this.waiters.set(type, settle);
      this.exit.then((code) => {
        clearTimeout(timer);
        fail(new Error(`worker ${this.index} exited with code ${code}`));
      });
    });
  }
}

/** The keys a node starts with, and the file a reload reads (null: inline keys). */
interface StartKeys {
  config: KeyConfig;
  demo: DemoKeys | null;
  file: string | null;
}

/**
 * Keys: the deployment's (INVENTORY_KEYS_FILE, or INVENTORY_KEYS inline), else
 * data/keys.json, else newly generated into data/keys.json.
 */
function resolveKeys(options: NodeOptions, dataDir: string, logger: Logger): StartKeys {
  if (options.keysFile !== null) {
    const file = resolve(options.keysFile);
    return { config: options.keys ?? loadKeyFile(file), demo: null, file };
  }
  if (options.keys !== null) return { config: options.keys, demo: null, file: null };
  const path = join(dataDir, KEY_FILE_NAME);
  if (existsSync(path)) {
    const config = loadKeyFile(path);
    return { config, demo: demoKeysOf(config), file: path };
  }
  const keys = generateDemoKeys();
  writeDemoKeys(path, keys);
  logger.info('generated API keys', { path });
  return { config: demoKeysToConfig(keys), demo: keys, file: path };
}

export async function startNode(overrides: Partial<NodeOptions> = {}): Promise<StartedNode> {
  const options: NodeOptions = { ...defaultNodeOptions(), ...overrides };
  checkNodeOptions(options);
  const logger = options.logger ?? createLogger({ level: options.logLevel, clock: options.clock });
  const { native, reason } = requireNativeUws(options.allowJsFallback);
  if (!native) logger.warn('uWebSockets.js runs on its JavaScript fallback', { reason });
  // Checked before anything is opened: a node that cannot serve TLS owns nothing yet.
  const tls = options.tls === null ? null : checkTlsFiles(options.tls);
  if (tls !== null && !native) {
    throw new UwsFallbackError('TLS needs the native uWebSockets.js build (SSLApp)');
  }
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // A cluster node loads the cluster layer (and the NATS client) only when it joins one.
  const clustered = options.cluster === null ? null : await import('./cluster-port.js');
  let link: ClusterLink | null = null;
  let opened: OpenedNodeLog;
  if (clustered === null || options.cluster === null) {
    opened = await openNodeLog({
      dir: join(dataDir, LOG_DIR_NAME),
      policy: options.fsync,
      engineConfig: demoEngineConfig(options),
      engineOverrides: options.engineConfig,
      clock: options.clock,
      logger,
      retainRecords: options.eventRetentionRecords,
    });
  } else {
    const dir = join(dataDir, LOG_DIR_NAME);
    const joined = await clustered.openClusterNodeLog(
      options,
      options.cluster,
      dir,
      demoEngineConfig(options),
      logger,
    );
    link = clustered.clusterLink(joined.member, options.cluster);
    opened = joined;
  }
  const { engine, log } = opened;
  logCapacities(engine, logger);
  if (options.commitOrderTable) {
    const started = performance.now();
    commitOrderTable(engine.shared());
    logger.info('order table committed', {
      bytes: sharedBytes(engine.config).orders,
      ms: Math.round(performance.now() - started),
    });
  }
  let seeded = false;
  try {
    if (opened.fresh && options.demo !== null) {
      await seedDemoNetwork(engine, log.thread, options.demo, logger);
      seeded = true;
    }
    const keys = resolveKeys(options, dataDir, logger);
    const runtime = new NodeRuntime(options, engine, log, keys, tls, logger, link);
    const port = await runtime.start();
    const secure = tls === null ? '' : 's';
    const urls = {
      url: `http${secure}://${options.host}:${port}`,
      wsUrl: `ws${secure}://${options.host}:${port}/v1/ws`,
    };
    await runtime.joinCluster(urls.url, urls.wsUrl);
    return {
      host: options.host,
      port,
      url: `http${secure}://${options.host}:${port}`,
      wsUrl: `ws${secure}://${options.host}:${port}/v1/ws`,
      dataDir,
      keys: keys.demo,
      seeded,
      engine,
      halted: runtime.halted,
      deposed: runtime.deposed,
      reloadKeys: () => runtime.reloadKeys(),
      close: () => runtime.close(),
    };
  } catch (error) {
    await log.close();
    throw error;
  }
}

/** Says what the data directory's capacities are and the address space they reserve. */
function logCapacities(engine: Engine, logger: Logger): void {
  const { dcCapacity, skuCapacity, orderCapacity } = engine.config;
  const bytes = sharedBytes(engine.config);
  logger.info('capacities', {
    dcCapacity,
    skuCapacity,
    orderCapacity,
    stockBytes: bytes.stock,
    orderBytes: bytes.orders,
  });
}

/**
 * The configuration for a new data directory: the given capacities (flags, options), else the
 * engine's defaults, raised where the demo network needs more DCs or SKUs than the defaults
 * hold (a given capacity is never raised: checkNodeOptions refuses one smaller than the
 * demo). An existing directory keeps its recorded capacities instead (wal-port.ts).
 */
function demoEngineConfig(options: NodeOptions): NodeOptions['engineConfig'] {
  const config = { ...options.engineConfig };
  if (options.demo === null) return config;
  if (config.dcCapacity === undefined && options.demo.dcs > DEFAULT_CONFIG.dcCapacity) {
    config.dcCapacity = options.demo.dcs;
  }
  if (config.skuCapacity === undefined && options.demo.skus > DEFAULT_CONFIG.skuCapacity) {
    config.skuCapacity = options.demo.skus;
  }
  return config;
}

/** A metrics collection round: the workers that have not reported yet. */
interface CollectRound {
  id: number;
  waiting: Set<WorkerHandle>;
  done: () => void;
}

/**
 * The running node: workers, the catalogue owner, the expiry sweep, the main thread's part of
 * the change feed (its own changes and the low-stock alerts), metrics, and the shutdown.
 */
class NodeRuntime {
  private readonly state = createNodeState();
  private readonly words = new Int32Array(this.state);
  private readonly workers: WorkerHandle[] = [];
  private readonly catalogue: CatalogueOwner;
  private readonly view: CatalogueView;
  private readonly orderEvents = createOrderEventRing(ORDER_EVENT_RING_SLOTS);
  private readonly eventTail: OrderEventTail;
  private tailTimer: NodeJS.Timeout | null = null;
  /** The LSN whose read last failed in the event tail (logged once). */
  private tailFailedAt = -1;
  private readonly connectionCounts = createConnectionCounts();
  private readonly connectionLimits: ConnectionLimits;
  private readonly keyBuckets = createKeyBuckets();
  private readonly buckets = new SharedKeyBuckets(this.keyBuckets);
  private readonly keySlots: KeySlots;
  private keyTable: KeyTable;
  private keyRefillTimer: NodeJS.Timeout | null = null;
  /** The reload running or last run: reloads run one after another. */
  private reloading: Promise<unknown> = Promise.resolve();
  /** Per node, so nodes started in one process never hear each other. */
  private readonly feedChannel = `inventory-feed-${randomUUID()}`;
  private readonly collector: ChangeCollector;
  private readonly tracker: LowStockTracker;
  private readonly metrics: NodeMetrics | null;
  private readonly startedAtMs: number;
  private readonly mainThreadId = ownThreadId();
  private feed: FeedChannel | null = null;
  private alerts: LowStockAlert[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  /** The snapshot being taken, if any (one at a time). */
  private snapshotting: Promise<void> | null = null;
  private snapshotLsn = 0;
  /** Counts for /metrics (node-metrics.ts SnapshotStats). */
  private readonly snapshotStats: SnapshotStats = {
    taken: 0,
    failed: 0,
    running: false,
    lastSeconds: 0,
  };
  private tickTimer: NodeJS.Timeout | null = null;
  private metricsTimer: NodeJS.Timeout | null = null;
  private collecting: Promise<void> | null = null;
  private round: CollectRound | null = null;
  private nextRoundId = 1;
  private closing: Promise<void> | null = null;
  private halt: ((reason: string) => void) | null = null;
  readonly halted = new Promise<string>((resolve) => {
    this.halt = resolve;
  });
  private depose: ((outcome: { reason: string; exitCode: number }) => void) | null = null;
  readonly deposed = new Promise<{ reason: string; exitCode: number }>((resolve) => {
    this.depose = resolve;
  });

  constructor(
    private readonly options: NodeOptions,
    private readonly engine: Engine,
    private readonly log: NodeLog,
    private readonly keys: StartKeys,
    private readonly tls: CheckedTls | null,
    private readonly logger: Logger,
    /** A cluster node's region membership (edge/cluster-port.ts); null standalone. */
    private readonly cluster: ClusterLink | null = null,
  ) {
    this.connectionLimits = new ConnectionLimits(this.connectionCounts, options.connections);
    this.keySlots = new KeySlots((slot) => this.connectionLimits.ofKey(slot) > 0);
    const first = this.keySlots.next(resolveKeyConfig(keys.config), 0);
    this.keyTable = first.table;
    this.resetBuckets(first);
    const config = engine.config;
    this.view = new CatalogueView(config.dcCapacity, config.skuCapacity);
    for (const record of engine.catalogueRecords()) this.view.apply(record);
    this.catalogue = new CatalogueOwner(engine, log.thread, options.clock, (record) =>
      this.view.apply(record),
    );
    this.collector = new ChangeCollector(config.skuCapacity, CHANGED_CELLS_PER_BATCH_MAX, () =>
      this.publishCells(),
    );
    this.eventTail = new OrderEventTail(
      new OrderEventWriter(this.orderEvents, log.durableLsn()),
      log.reader(),
      () => log.durableLsn(),
    );
    this.tracker = new LowStockTracker(engine, this.view, options.clock);
    this.metrics = options.metrics ? new NodeMetrics(options.clock) : null;
    this.startedAtMs = options.clock();
  }

  async start(): Promise<number> {
    try {
      const low = this.tracker.initialise();
      this.engine.setObserver(this.collector);
      this.feed = new FeedChannel(this.feedChannel, (message) => this.onFeed(message));
      await this.spawnWorkers();
      const port = await this.listen();
      this.sweepTimer = setInterval(() => this.sweep(), EXPIRY_SWEEP_INTERVAL_MS);
      if (this.options.snapshotEveryRecords > 0) {
        this.snapshotLsn = this.log.durableLsn();
        this.snapshotTimer = setInterval(() => this.snapshotIfDue(), this.options.snapshotCheckMs);
      }
      this.tickTimer = setInterval(() => this.tick(), SUBSCRIPTION_TICK_MS);
      this.keyRefillTimer = setInterval(() => this.refillKeys(), KEY_REFILL_SWEEP_MS);
      this.tailTimer = setInterval(() => this.tailEvents(), ORDER_EVENT_TAIL_MS);
      if (this.metrics !== null) {
        this.metricsTimer = setInterval(() => {
          void this.collectMetrics();
        }, METRICS_COLLECT_INTERVAL_MS);
      }
      Atomics.store(this.words, STATE_READY, 1);
      this.logger.info('node ready', {
        host: this.options.host,
        port,
        threads: this.workers.length,
        durability: this.log.policy,
        metrics: this.metrics !== null,
        lowStockCells: low,
        tls: this.tls === null ? false : { subject: this.tls.subject, validTo: this.tls.validTo },
        keys: this.keyTable.keys.map((record) => record.id),
      });
      return port;
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Takes a snapshot once the log has grown by `snapshotEveryRecords` since the last one. The
   * snapshot is folded from the log by a piscina thread, so serving never stalls; the log is
   * then compacted up to the older of the two newest snapshots.
   */
  private snapshotIfDue(): void {
    if (this.snapshotting !== null || !this.log.thread.writable()) return;
    const durable = this.log.durableLsn();
    if (durable - this.snapshotLsn < this.options.snapshotEveryRecords) return;
    const started = this.options.clock();
    const stats = this.snapshotStats;
    stats.running = true;
    this.snapshotting = this.log
      .snapshot()
      .then((result) => {
        if (!result.ok && result.error.code === 'SNAPSHOT_CANCELLED') {
          this.logger.info('snapshot cancelled: the node is stopping', { error: result.error });
          return;
        }
        if (!result.ok) {
          stats.failed++;
          this.logger.error('snapshot failed', { error: result.error });
          return;
        }
        stats.taken++;
        // The fold snapshots the log as far as it is committed when the fold starts, which is
        // past `durable`: counting from `durable` started another fold with nothing to add.
        this.snapshotLsn = result.value.manifest?.lsn ?? Math.max(durable, result.value.baseLsn);
        this.logger.info('snapshot taken', {
          lsn: result.value.manifest?.lsn ?? null,
          replayed: result.value.replayed,
          deletedRecords: result.value.deletedRecords,
          durationMs: this.options.clock() - started,
        });
      })
      .catch((error: unknown) => {
        stats.failed++;
        this.logger.error('snapshot failed', { error });
      })
      .finally(() => {
        stats.running = false;
        stats.lastSeconds = (this.options.clock() - started) / 1000;
        this.snapshotting = null;
      });
  }

  private sweep(): void {
    try {
      if (this.log.thread.writable()) this.engine.expireDue();
    } catch (error) {
      this.logger.error('expiry sweep failed', { error });
    }
  }

  /** Publishes the main thread's own changes (expiries) and compares them with thresholds. */
  private publishCells(): void {
    const cells = this.collector.cells;
    if (cells.count === 0) return;
    const changed = cells.copy();
    cells.clear();
    this.feed?.post({ type: 'cells', from: -1, cells: changed });
    this.tracker.evaluate(changed, this.alerts);
  }

  private tick(): void {
    try {
      this.publishCells();
      if (this.alerts.length === 0) return;
      const alerts = this.alerts;
      this.alerts = [];
      this.feed?.post({ type: 'alerts', alerts });
    } catch (error) {
      this.logger.error('change feed tick failed', { error });
    }
  }

  /** Publishes the order events of newly durable records to the workers. */
  private tailEvents(): void {
    try {
      this.eventTail.tick();
    } catch (error) {
      // A durable record that cannot be read back: the stream stops here (and retries).
      const lsn = error instanceof LogReadError ? error.lsn : 0;
      if (lsn !== this.tailFailedAt) {
        this.tailFailedAt = lsn;
        this.logger.error('order event stream cannot read the log', { error: String(error) });
      }
    }
  }

  private onFeed(message: FeedMessage): void {
    if (message.type === 'cells') this.tracker.evaluate(message.cells, this.alerts);
  }

  /** Asks every worker for its metrics; resolves when all reported or the deadline passed. */
  private collectMetrics(): Promise<void> {
    this.collecting ??= new Promise<void>((resolve) => {
      const waiting = new Set(this.workers.filter((handle) => !handle.exited));
      const round: CollectRound = { id: this.nextRoundId++, waiting, done: resolve };
      this.round = round;
      if (waiting.size === 0) resolve();
      for (const handle of waiting) handle.post({ type: 'metrics-collect', collectId: round.id });
      setTimeout(resolve, METRICS_COLLECT_MS_MAX).unref();
    }).finally(() => {
      this.round = null;
      this.collecting = null;
    });
    return this.collecting;
  }

  /** Full buckets, zero counts, for the slots that new keys got. */
  private resetBuckets(changes: KeyChanges): void {
    const nowMs = Date.now();
    for (const record of changes.added) {
      this.buckets.reset(record.slot, keyLimitOf(record, this.options.keyRateLimit).burst, nowMs);
    }
  }

  /** Keeps every key's bucket stamp fresh (and idle buckets full) between requests. */
  private refillKeys(): void {
    const nowMs = Date.now();
    for (const record of this.keyTable.keys) {
      this.buckets.refill(record.slot, keyLimitOf(record, this.options.keyRateLimit), nowMs);
    }
  }

  /** The newest key generation every live worker has applied. */
  private settledKeyGeneration(): number {
    let settled = this.keyTable.generation;
    for (const handle of this.workers) {
      if (!handle.exited) settled = Math.min(settled, handle.keysGeneration);
    }
    return settled;
  }

  reloadKeys(): Promise<KeyReload> {
    const run = this.reloading.then(() => this.reload());
    this.reloading = run.catch(() => {});
    return run;
  }

  private async reload(): Promise<KeyReload> {
    const file = this.keys.file;
    if (this.closing !== null) return { ok: false, error: 'the node is shutting down' };
    if (file === null) {
      const error = 'the keys came from INVENTORY_KEYS, which a running node cannot read again';
      this.logger.warn('key reload refused', { error });
      return { ok: false, error };
    }
    let changes: KeyChanges;
    try {
      const keys = resolveKeyConfig(loadKeyFile(file));
      changes = this.keySlots.next(keys, this.settledKeyGeneration());
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.error('key reload failed; the keys in use stay', { file, error: message });
      return { ok: false, error: message };
    }
    this.resetBuckets(changes);
    this.keyTable = changes.table;
    const live = this.workers.filter((handle) => !handle.exited);
    const closed = await Promise.all(live.map((handle) => this.applyKeys(handle, changes.table)));
    const report: KeyReload = {
      ok: true,
      generation: changes.table.generation,
      added: changes.added.map((record) => record.id),
      removed: changes.removed.map((record) => record.id),
      kept: changes.kept.length,
      closed: closed.reduce((sum, count) => sum + count, 0),
    };
    this.logger.info('keys reloaded', { file, keys: changes.table.keys.length, ...report });
    return report;
  }

  /** Sends a worker the key table; resolves with the connections it closed. */
  private async applyKeys(handle: WorkerHandle, table: KeyTable): Promise<number> {
    handle.post({ type: 'keys', table });
    const deadlineMs = Date.now() + KEYS_APPLY_MS_MAX;
    try {
      // A late answer to an earlier reload may come first: wait for this generation's.
      for (;;) {
        const waitMs = Math.max(1, deadlineMs - Date.now());
        const reply = await handle.next(['keys-applied'], waitMs);
        if (reply.generation >= table.generation) return reply.closed;
      }
    } catch (error) {
      this.logger.warn('a worker did not apply the reloaded keys in time', {
        index: handle.index,
        error,
      });
      return 0;
    }
  }

  /** Per-key series, named by key id (never the key): connections and refusals. */
  private renderKeyMetrics(): string {
    const writer = new PrometheusWriter();
    const keys = this.keyTable.keys;
    writer.family(
      'inventory_key_connections',
      'gauge',
      'WebSocket connections open per API key (by key id), over every thread',
    );
    for (const record of keys) {
      const labels = { key: record.id, role: record.role };
      writer.sample('inventory_key_connections', labels, this.connectionLimits.ofKey(record.slot));
    }
    writer.family(
      'inventory_key_rate_limited_total',
      'counter',
      'Requests refused RATE_LIMITED by the per-key rate (by key id), since the key was loaded',
    );
    for (const record of keys) {
      const labels = { key: record.id, role: record.role };
      writer.sample('inventory_key_rate_limited_total', labels, this.buckets.limited(record.slot));
    }
    return writer.text();
  }

  private renderMetrics(): string | null {
    if (this.metrics === null) return null;
    const cluster = this.cluster?.metricsText() ?? '';
    return `${this.renderNodeMetrics(this.metrics)}${this.renderKeyMetrics()}${cluster}`;
  }

  private renderNodeMetrics(metrics: NodeMetrics): string {
    return metrics.render({
      ready: Atomics.load(this.words, STATE_READY) === 1,
      workers: this.workers.length,
      workersListening: Atomics.load(this.words, STATE_WORKERS_LISTENING),
      uptimeSeconds: (this.options.clock() - this.startedAtMs) / 1000,
      log: this.log.thread.shared.stats(),
      eventCounts: this.collector.eventCounts,
      lowStockCells: this.tracker.lowCells,
      lowStockAlerts: this.tracker.alerts,
      memory: process.memoryUsage(),
      threads: this.threadCpu(),
      snapshots: { ...this.snapshotStats },
    });
  }

  /**
   * CPU seconds by thread: main, each worker, the log writer, and `other` (the process's total
   * less those: V8's compiler and GC helpers, libuv's pool, the snapshot thread). Empty where
   * /proc cannot be read.
   */
  private threadCpu(): ThreadCpuSample[] {
    const named: [string, number][] = [['main', this.mainThreadId]];
    for (const handle of this.workers) named.push([`worker-${handle.index}`, handle.threadId]);
    named.push(['log-writer', this.log.writerThreadId()]);
    const samples: ThreadCpuSample[] = [];
    let user = 0;
    let system = 0;
    for (const [thread, id] of named) {
      const cpu = threadCpuSeconds(id);
      if (cpu === null) continue;
      samples.push({ thread, ...cpu });
      user += cpu.userSeconds;
      system += cpu.systemSeconds;
    }
    if (samples.length === 0) return samples;
    // Exited threads' time stays in the process total; 'other' never goes below zero.
    const total = process.cpuUsage();
    samples.push({
      thread: 'other',
      userSeconds: Math.max(0, Math.round(total.user - user * 1e6) / 1e6),
      systemSeconds: Math.max(0, Math.round(total.system - system * 1e6) / 1e6),
    });
    return samples;
  }

  private answerMetrics(handle: WorkerHandle, requestId: number): void {
    this.collectMetrics().then(
      () => handle.post({ type: 'metrics-text', requestId, text: this.renderMetrics() }),
      (error: unknown) => {
        this.logger.error('metrics failed', { error });
        handle.post({ type: 'metrics-text', requestId, text: null });
      },
    );
  }

  private async spawnWorkers(): Promise<void> {
    const nodeName = this.options.nodeName ?? `${hostname()}:${process.pid}`;
    const attached: Promise<unknown>[] = [];
    for (let index = 0; index < this.options.threads; index++) {
      const init: WorkerInit = {
        index,
        threads: this.options.threads,
        host: this.options.host,
        engineShared: this.engine.shared(),
        catalogue: this.engine.catalogueRecords(),
        logShared: this.log.ringBuffer,
        durability: this.log.policy,
        keyTable: this.keyTable,
        rateLimit: this.options.rateLimit,
        keyRateLimit: this.options.keyRateLimit,
        keyBuckets: this.keyBuckets,
        tls: this.tls === null ? null : this.tls.options,
        nodeName,
        logLevel: this.options.logLevel,
        allowJsFallback: this.options.allowJsFallback,
        state: this.state,
        feedChannel: this.feedChannel,
        orderEvents: this.orderEvents,
        logDir: join(resolve(this.options.dataDir), LOG_DIR_NAME),
        metrics: this.options.metrics,
        metricsOpen: this.options.metricsOpen,
        subscriberBufferBytesMax: this.options.subscriberBufferBytesMax,
        faults: this.options.faults,
        connectionCounts: this.connectionCounts,
        connectionCaps: this.options.connections,
        cluster: this.cluster?.worker ?? null,
      };
      const worker = new Worker(workerFile(), { workerData: init, name: `edge-worker-${index}` });
      const handle = new WorkerHandle(index, worker, (from, message) =>
        this.onMessage(from, message),
      );
      worker.on('error', (error) => this.logger.error('worker crashed', { index, error }));
      handle.exit.then((code) => this.onExit(handle, code));
      this.workers.push(handle);
      this.catalogue.addWorker(handle);
      attached.push(
        this.expect(handle, 'attached').then((message) => {
          handle.threadId = message.threadId;
        }),
      );
    }
    await Promise.all(attached);
  }

  /** Waits for a worker's message, turning a 'fatal' report into an error. */
  private async expect<T extends WorkerToMain['type']>(handle: WorkerHandle, type: T) {
    const message: WorkerToMain = await handle.next([type, 'fatal'], WORKER_START_MS_MAX);
    if (message.type === 'fatal') throw new Error(`worker ${handle.index}: ${message.message}`);
    return message as Extract<WorkerToMain, { type: T }>;
  }

  private onMessage(handle: WorkerHandle, message: WorkerToMain): void {
    if (this.catalogue.handle(handle, message)) return;
    switch (message.type) {
      case 'fatal':
        this.logger.error('worker failed', { index: handle.index, message: message.message });
        return;
      case 'invariant':
        this.invariantBroken(handle.index, message.message);
        return;
      case 'metrics-report':
        this.metrics?.accept(message.report);
        this.reported(handle, message.collectId);
        return;
      case 'metrics-request':
        this.answerMetrics(handle, message.requestId);
        return;
      case 'keys-applied':
        handle.keysGeneration = Math.max(handle.keysGeneration, message.generation);
        return;
    }
  }

  private reported(handle: WorkerHandle, collectId: number): void {
    const round = this.round;
    if (round === null || round.id !== collectId) return;
    round.waiting.delete(handle);
    if (round.waiting.size === 0) round.done();
  }

  private onExit(handle: WorkerHandle, code: number): void {
    this.catalogue.removeWorker(handle);
    this.reported(handle, this.round?.id ?? 0);
    if (this.closing === null) {
      this.logger.error('worker exited unexpectedly', { index: handle.index, code });
      Atomics.sub(this.words, STATE_WORKERS_LISTENING, 1);
    }
  }

  /**
   * Makes every worker listen on one port. Port 0 means any free port: the first worker
   * tries free ports until one binds, then the others join it (uWS binds with SO_REUSEPORT,
   * but only on a fixed port, so the port is chosen first).
   */
  private async listen(): Promise<number> {
    const [first, ...rest] = this.workers;
    let port = this.options.port;
    // A fixed port must be free: another process listening there is refused, never joined.
    if (port !== 0) await claimPort(this.options.host, port);
    for (let attempt = 1; ; attempt++) {
      const tryPort = this.options.port === 0 ? await pickFreePort(this.options.host) : port;
      first.post({ type: 'listen', port: tryPort });
      const reply = await first.next(['listening', 'listen-failed', 'fatal'], WORKER_START_MS_MAX);
      if (reply.type === 'listening') {
        port = reply.port;
        break;
      }
      if (this.options.port !== 0 || attempt >= PORT_PICK_ATTEMPTS_MAX) {
        throw new Error(`cannot listen on ${this.options.host}:${tryPort}`);
      }
    }
    Atomics.add(this.words, STATE_WORKERS_LISTENING, 1);
    await Promise.all(
      rest.map(async (handle) => {
        handle.post({ type: 'listen', port });
        const reply = await handle.next(
          ['listening', 'listen-failed', 'fatal'],
          WORKER_START_MS_MAX,
        );
        if (reply.type !== 'listening') {
          throw new Error(`worker ${handle.index} cannot listen on ${this.options.host}:${port}`);
        }
        Atomics.add(this.words, STATE_WORKERS_LISTENING, 1);
      }),
    );
    // Another process may have joined between the check and the listen: refuse to share.
    checkPortOwned(this.options.host, port);
    this.log.describe(`node on ${this.options.host}:${port}`);
    return port;
  }

  /**
   * A worker hit a broken invariant: every thread refuses requests from now on, and the node
   * closes. What was acknowledged is in the log; what the broken state did not yet
   * acknowledge is not, so a restart recovers exactly the acknowledged state.
   */
  private invariantBroken(index: number, message: string): void {
    Atomics.store(this.words, STATE_READY, 0);
    Atomics.store(this.words, STATE_SHUTTING_DOWN, 1);
    this.logger.error('stopping: a broken invariant; restart the node to recover from its log', {
      worker: index,
      error: message,
    });
    const halt = this.halt;
    this.halt = null;
    void this.close().finally(() => halt?.(message));
  }

  /**
   * A cluster node, once it listens: follows its region's stream and takes the region over
   * when its lease lapses (cluster/member.ts). Catalogue records applied from the stream go to
   * every worker like the main thread's own; a deposed node closes and reports why.
   */
  async joinCluster(url: string, wsUrl: string): Promise<void> {
    if (this.cluster === null) return;
    await this.cluster.begin(url, wsUrl, {
      announce: (record) => void this.catalogue.announce(record),
      postOwner: (owner) => {
        for (const handle of this.workers) handle.post({ type: 'cluster-owner', owner });
      },
      deposed: (reason, exitCode) => {
        const depose = this.depose;
        this.depose = null;
        void this.close().finally(() => depose?.({ reason, exitCode }));
      },
      seed: async (metro) => {
        if (this.options.demo === null) return;
        const before = this.engine.catalogueRecords().length;
        await seedDemoNetwork(
          this.engine,
          this.log.thread,
          this.options.demo,
          this.logger,
          metro ?? undefined,
        );
        for (const record of this.engine.catalogueRecords().slice(before)) {
          void this.catalogue.announce(record);
        }
      },
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    Atomics.store(this.words, STATE_READY, 0);
    Atomics.store(this.words, STATE_SHUTTING_DOWN, 1);
    // A fold in progress stops at its next step instead of holding the shutdown for its
    // whole run (tens of seconds on a large log); the next start folds again.
    if (this.snapshotTimer !== null) clearInterval(this.snapshotTimer);
    const foldStopped = this.log.cancelSnapshot();
    const live = this.workers.filter((handle) => !handle.exited);
    const deadlineMs = Date.now() + SHUTDOWN_DRAIN_MS_MAX;
    const drained = live.map(async (handle) => {
      handle.post({ type: 'drain', deadlineMs });
      try {
        const reply = await handle.next(['drained'], SHUTDOWN_DRAIN_MS_MAX + DRAIN_REPORT_GRACE_MS);
        if (reply.unanswered > 0) {
          this.logger.warn('requests left unanswered', { index: handle.index, ...reply });
        }
      } catch (error) {
        this.logger.warn('worker did not drain', { index: handle.index, error });
      }
    });
    await Promise.all(drained);
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    await foldStopped;
    await this.snapshotting;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    if (this.tailTimer !== null) clearInterval(this.tailTimer);
    if (this.metricsTimer !== null) clearInterval(this.metricsTimer);
    if (this.keyRefillTimer !== null) clearInterval(this.keyRefillTimer);
    this.engine.setObserver(null);
    this.feed?.close();
    await this.log.close();
    await Promise.all(live.map((handle) => this.closeWorker(handle)));
    this.logger.info('node stopped');
  }

  private async closeWorker(handle: WorkerHandle): Promise<void> {
    handle.post({ type: 'close' });
    const timer = setTimeout(() => {
      this.logger.warn('worker did not exit; terminating it', { index: handle.index });
      handle.worker.terminate();
    }, WORKER_EXIT_MS_MAX);
    await handle.exit;
    clearTimeout(timer);
  }
}

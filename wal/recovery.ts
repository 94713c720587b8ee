/**
 * Opening a data directory and bringing an engine back to the state the log describes.
 *
 * `openWal` first takes the directory's lock (dir-lock.ts): a directory another process (or
 * another open in this process) holds is refused with DATA_DIR_LOCKED, before anything is read.
 * The lock is held until `Wal.close()` or the process's end.
 *
 * It then looks before it touches: an empty or missing directory is created with a meta
 * record (format version, random cluster and node ids, the engine configuration); a directory
 * with anything else in it, a store without our meta, a format version this release does not
 * read, or a configuration smaller than the data's is refused with a code, a message, a hint
 * and an exit code, and nothing in the directory is changed.
 *
 * `Wal.recover(engine)` loads the newest usable snapshot, replays every record after it in
 * LSN order (replay.ts), truncates a torn last batch (reported; it was never acknowledged under
 * `fsync` or `write`, since acknowledgements follow the commit), refuses corruption anywhere
 * else, starts the log writer after the last record, and finally expires the holds whose
 * wall-clock deadline passed while the node was down (their expiry records are logged and
 * durable before `recover` returns).
 */

import { mkdirSync } from 'node:fs';
import type { EngineConfig } from '../engine/index.js';
import {
  COMPACT_DELETES_PER_TXN,
  DATA_FORMAT_VERSION,
  DATA_FORMAT_VERSIONS_READ,
  DATA_MAGIC,
  DURABILITY_POLICY_DEFAULT,
  type DurabilityPolicy,
  isDurabilityPolicy,
  RING_CAPACITY_BYTES_DEFAULT,
  RING_CAPACITY_BYTES_MAX,
  RING_CAPACITY_BYTES_NODE_MIN,
  STORE_SIZE_BYTES_DEFAULT,
  STORE_SIZE_BYTES_MIN,
} from './constants.js';
import { type DirLock, lockDirectory } from './dir-lock.js';
import { LogReader } from './log-reader.js';
import { assert, type WalErrorBody, type WalResult, walError } from './errors.js';
import type { SnapshotableEngine } from './engine-port.js';
import { SharedLog } from './log.js';
import type { WalLogger } from './logger.js';
import { replayLog, type TornTail } from './replay.js';
import { createRingBuffer, LogRing } from './ring.js';
import { type SnapshotInfo, Snapshotter } from './snapshot.js';
import { chooseBase, loadSnapshot } from './snapshot-store.js';
import {
  STORE_DATABASES,
  type DataMeta,
  databaseNames,
  inspectDirectory,
  logBounds,
  makeMeta,
  openEnvironment,
  raiseWriterSession,
  readMeta,
  type Store,
  storeFromEnvironment,
  storeUsedBytes,
  writeMeta,
} from './store.js';
import { LogWriter, type WriterSummary } from './writer.js';

/** Keys only grow, so MDB_APPEND skips the B-tree search (as the writer does). */
const PUT_APPEND = { append: true } as const;

export interface WalOptions {
  dataDir: string;
  /**
   * The engine configuration, or a function of the configuration an existing directory was
   * written with (null for a new directory), read after the lock is taken.
   */
  engineConfig: EngineConfig | ((stored: EngineConfig | null) => EngineConfig);
  policy?: DurabilityPolicy;
  ringCapacityBytes?: number;
  /** Ceiling on the data file; the log goes read-only before crossing it. */
  storeSizeBytesMax?: number;
  writerBatchRecordsMax?: number;
  writerBatchBytesMax?: number;
  /** O(n) checks: the writer rechecks each frame's CRC. */
  verify?: boolean;
  /**
   * The newest records log compaction keeps whatever the snapshots: the window the order
   * event stream can replay from (0: only what the snapshots need).
   */
  logRetainRecords?: number;
  /**
   * Open with the log refusing writes and no writer (a cluster standby): recover with
   * `recoverFollower`, and start writing with `startWriting` once the region is ours.
   */
  follower?: boolean;
  clock: () => number;
  /** Makes the random cluster and node ids of a new directory. */
  randomId: () => string;
  logger: WalLogger;
}

export interface RecoveryReport {
  /** True when the directory was created by this start. */
  created: boolean;
  /** LSN of the snapshot recovery started from; 0 for none. */
  snapshotLsn: number;
  skippedSnapshots: { lsn: number; problem: string }[];
  replayed: number;
  /** The torn last batch that was truncated, if any. */
  tornTail: TornTail | null;
  /** LSN of the last record in the log after recovery (the writer continues after it). */
  lastLsn: number;
  /** Holds that expired because their deadline passed while the node was down. */
  expired: number;
  durationMs: number;
}

/** The node flag that sets each checked setting, for messages that say what to do. */
const CONFIG_FLAGS = {
  dcCapacity: '--dc-capacity',
  skuCapacity: '--sku-capacity',
  orderCapacity: '--order-capacity',
  allocationsPerOrderMax: null,
} as const;

function settingName(key: keyof typeof CONFIG_FLAGS): string {
  const flag = CONFIG_FLAGS[key];
  return flag === null ? key : `${key} (${flag})`;
}

/**
 * What a configuration may change about a directory's data. The order capacity decides which
 * slot each stored order lives in, so it is fixed. DC and SKU capacities may grow, never
 * shrink: log records and snapshots name DCs and SKUs by their catalogue indexes, snapshots
 * store stock per DC and orders by (DC, SKU) pairs, and every cell index (dc × skuCapacity +
 * sku) is worked out again when they are loaded, so nothing stored depends on the capacities.
 */
function checkConfig(data: EngineConfig, wanted: EngineConfig): WalErrorBody | null {
  if (data.orderCapacity !== wanted.orderCapacity) {
    const message =
      `${settingName('orderCapacity')} is ${wanted.orderCapacity}, the data was written ` +
      `with ${data.orderCapacity}; start without --order-capacity to keep it`;
    return walError('CONFIG_MISMATCH', message).error;
  }
  for (const key of ['dcCapacity', 'skuCapacity', 'allocationsPerOrderMax'] as const) {
    if (wanted[key] < data[key]) {
      const flag = CONFIG_FLAGS[key];
      const keep = flag === null ? '' : `; start without ${flag} to keep ${data[key]}`;
      const message =
        `${settingName(key)} is ${wanted[key]}, smaller than the data's ${data[key]}: ` +
        `capacities grow, never shrink${keep}`;
      return walError('CONFIG_TOO_SMALL', message).error;
    }
  }
  return null;
}

function sameConfig(a: EngineConfig, b: EngineConfig): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof EngineConfig>;
  return [...keys].every((key) => a[key] === b[key]);
}

function checkOptions(options: WalOptions): WalErrorBody | null {
  const policy = options.policy ?? DURABILITY_POLICY_DEFAULT;
  if (!isDurabilityPolicy(policy)) {
    return walError('BAD_LOG_OPTIONS', `policy must be fsync, write or none, got ${policy}`).error;
  }
  const ring = options.ringCapacityBytes ?? RING_CAPACITY_BYTES_DEFAULT;
  if (
    !Number.isInteger(ring) ||
    ring < RING_CAPACITY_BYTES_NODE_MIN ||
    ring > RING_CAPACITY_BYTES_MAX ||
    (ring & (ring - 1)) !== 0
  ) {
    const range = `[${RING_CAPACITY_BYTES_NODE_MIN}, ${RING_CAPACITY_BYTES_MAX}]`;
    return walError('BAD_LOG_OPTIONS', `ringCapacityBytes must be a power of two in ${range}`)
      .error;
  }
  const size = options.storeSizeBytesMax ?? STORE_SIZE_BYTES_DEFAULT;
  if (!Number.isSafeInteger(size) || size < STORE_SIZE_BYTES_MIN) {
    return walError('BAD_LOG_OPTIONS', `storeSizeBytesMax must be ≥ ${STORE_SIZE_BYTES_MIN}`).error;
  }
  return null;
}

/** Opens an existing store after checking it is ours, readable and big enough; or refuses. */
function openExisting(
  options: WalOptions,
  policy: DurabilityPolicy,
): WalResult<{ store: Store; meta: DataMeta; engineConfig: EngineConfig }> {
  let env: ReturnType<typeof openEnvironment>;
  try {
    env = openEnvironment({ path: options.dataDir, policy });
  } catch (error) {
    return walError('STORE_OPEN_FAILED', `${options.dataDir}: ${String(error)}`);
  }
  const refuse = (code: Parameters<typeof walError>[0], message: string) => {
    void env.close();
    return walError(code, message);
  };
  const names = databaseNames(env);
  const missing = STORE_DATABASES.filter((name) => !names.includes(name));
  if (missing.length > 0) {
    const message = `${options.dataDir} holds an LMDB store without our ${missing.join(', ')}`;
    return refuse('DATA_DIR_FOREIGN', message);
  }
  // Every database exists, so opening the store creates nothing.
  const store = storeFromEnvironment(env);
  const meta = readMeta(store);
  if (meta === null || meta.magic !== DATA_MAGIC) {
    return refuse('DATA_DIR_FOREIGN', `${options.dataDir} was not written by this project`);
  }
  if (!DATA_FORMAT_VERSIONS_READ.includes(meta.formatVersion)) {
    return refuse(
      'DATA_VERSION_MISMATCH',
      `${options.dataDir} has format version ${meta.formatVersion}; ` +
        `this release reads versions ${DATA_FORMAT_VERSIONS_READ.join(', ')}`,
    );
  }
  const wanted = wantedConfig(options, meta.engineConfig);
  if (!wanted.ok) return refuse(wanted.error.code, wanted.error.message);
  const engineConfig = wanted.value;
  const configProblem = checkConfig(meta.engineConfig, engineConfig);
  if (configProblem !== null) return refuse(configProblem.code, configProblem.message);
  if (!sameConfig(meta.engineConfig, engineConfig) || meta.formatVersion !== DATA_FORMAT_VERSION) {
    // Capacities grew (or defaults changed), or an older layout is upgraded: the data now lives
    // under the new configuration and format (older records stay readable).
    const updated = {
      ...meta,
      formatVersion: DATA_FORMAT_VERSION,
      engineConfig: { ...engineConfig },
    };
    writeMeta(store, updated);
    options.logger.log('info', 'data directory configuration updated', {
      from: { formatVersion: meta.formatVersion, ...meta.engineConfig },
      to: { formatVersion: DATA_FORMAT_VERSION, ...engineConfig },
    });
    return { ok: true, value: { store, meta: updated, engineConfig } };
  }
  return { ok: true, value: { store, meta, engineConfig } };
}

/**
 * The configuration the options ask for. A configuration that does not hold together (the
 * engine's ConfigError, `code` BAD_CONFIG: say a SKU capacity given alone that, with the
 * recorded DC capacity, passes 2^31 cells) is refused as CONFIG_INVALID.
 */
function wantedConfig(options: WalOptions, stored: EngineConfig | null): WalResult<EngineConfig> {
  const wanted = options.engineConfig;
  if (typeof wanted !== 'function') return { ok: true, value: wanted };
  try {
    return { ok: true, value: wanted(stored) };
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'BAD_CONFIG') throw error;
    return walError('CONFIG_INVALID', (error as Error).message);
  }
}

function createNew(
  options: WalOptions,
  policy: DurabilityPolicy,
): WalResult<{ store: Store; meta: DataMeta; engineConfig: EngineConfig }> {
  try {
    const wanted = wantedConfig(options, null);
    if (!wanted.ok) return wanted;
    const engineConfig = wanted.value;
    mkdirSync(options.dataDir, { recursive: true });
    const store = storeFromEnvironment(openEnvironment({ path: options.dataDir, policy }));
    const meta = makeMeta(engineConfig, options.clock(), [options.randomId(), options.randomId()]);
    writeMeta(store, meta);
    options.logger.log('info', 'data directory created', {
      dataDir: options.dataDir,
      clusterId: meta.clusterId,
      nodeId: meta.nodeId,
    });
    return { ok: true, value: { store, meta, engineConfig } };
  } catch (error) {
    return walError('STORE_OPEN_FAILED', `${options.dataDir}: ${String(error)}`);
  }
}

/**
 * Locks and opens (or creates) a data directory; refuses one another process holds, and
 * foreign, mismatched or too-small ones. The lock is released on every refusal.
 */
export async function openWal(options: WalOptions): Promise<WalResult<Wal>> {
  const optionsProblem = checkOptions(options);
  if (optionsProblem !== null) return { ok: false, error: optionsProblem };
  const policy = options.policy ?? DURABILITY_POLICY_DEFAULT;
  const locked = await lockDirectory(options.dataDir);
  if (!locked.ok) return locked;
  const lock = locked.value;
  const directory = inspectDirectory(options.dataDir);
  if (directory.kind === 'foreign') {
    await lock.release();
    return walError('DATA_DIR_FOREIGN', `${options.dataDir}: ${directory.reason}`);
  }
  const opened =
    directory.kind === 'empty' ? createNew(options, policy) : openExisting(options, policy);
  if (!opened.ok) {
    await lock.release();
    return opened;
  }
  const ringBuffer = createRingBuffer({
    capacityBytes: options.ringCapacityBytes ?? RING_CAPACITY_BYTES_DEFAULT,
    policy,
    writable: options.follower !== true,
  });
  const { store, meta, engineConfig } = opened.value;
  const wal = new Wal(options, policy, store, meta, engineConfig, ringBuffer, lock);
  wal.created = directory.kind === 'empty';
  return { ok: true, value: wal };
}

/** An open data directory: its log ring, its writer once recovered, its snapshots. */
export class Wal {
  /** This thread's end of the log; other threads attach with `new SharedLog(ringBuffer)`. */
  readonly log: SharedLog;
  created = false;
  private recovered = false;
  private writer: LogWriter | null = null;
  private snapshotter: Snapshotter | null = null;

  constructor(
    private readonly options: WalOptions,
    readonly policy: DurabilityPolicy,
    private readonly store: Store,
    readonly meta: DataMeta,
    /** The configuration the engine must be created with (the data's, grown by the options). */
    readonly engineConfig: EngineConfig,
    readonly ringBuffer: SharedArrayBuffer,
    /** The directory's lock, held until close. */
    readonly lock: DirLock,
  ) {
    this.log = new SharedLog(ringBuffer);
  }

  get dataDir(): string {
    return this.options.dataDir;
  }

  /** The log writer thread's kernel id (thread-cpu.ts); -1 before recovery or when unknown. */
  get writerThreadId(): number {
    return this.writer?.threadId ?? -1;
  }

  /**
   * Rebuilds `engine` (fresh, created with `this.log` as its log) from the directory, starts
   * the writer, and expires holds that are past due. Call once, before serving.
   */
  async recover(engine: SnapshotableEngine): Promise<WalResult<RecoveryReport>> {
    assert(!this.recovered, 'recover runs once per open data directory');
    this.recovered = true;
    const started = performance.now();
    const { logger } = this.options;
    const bounds = logBounds(this.store);
    const chosen = chooseBase(this.store, bounds?.first ?? null);
    if (!chosen.ok) return walError('SNAPSHOT_CORRUPT', chosen.problem);
    for (const skipped of chosen.base.skipped) {
      logger.log('warn', 'snapshot skipped', skipped);
    }
    const manifest = chosen.base.manifest;
    if (manifest !== null) {
      const problem = loadSnapshot(this.store, manifest, engine);
      if (problem !== null) {
        return walError('SNAPSHOT_CORRUPT', `snapshot at LSN ${manifest.lsn}: ${problem}`);
      }
    }
    const baseLsn = manifest?.lsn ?? 0;
    const replayed = replayLog(this.store, engine, { afterLsn: baseLsn, tornTail: true });
    if (!replayed.ok) return replayed;
    const { tornTail } = replayed.value;
    if (tornTail !== null) {
      const deleted = this.truncateFrom(tornTail.fromLsn);
      logger.log('warn', 'torn log tail truncated (never acknowledged)', { ...tornTail, deleted });
    }
    const lastLsn = Math.max(replayed.value.lastLsn, baseLsn);
    const writer = await this.startWriter(lastLsn + 1);
    if (!writer.ok) return writer;
    const expired = engine.expireDue();
    const flushed = await this.log.waitFlushed().then(
      () => null,
      (error: Error) => walError('WRITE_FAILED', `expiring overdue holds: ${error.message}`),
    );
    if (flushed !== null) return flushed;
    const report: RecoveryReport = {
      created: this.created,
      snapshotLsn: baseLsn,
      skippedSnapshots: chosen.base.skipped,
      replayed: replayed.value.applied,
      tornTail,
      lastLsn,
      expired,
      durationMs: Math.round(performance.now() - started),
    };
    logger.log('info', 'recovered', { ...report });
    return { ok: true, value: report };
  }

  private truncateFrom(fromLsn: number): number {
    const log = this.store.log;
    let deleted = 0;
    for (;;) {
      const keys = [
        ...log.getKeys({ start: fromLsn, limit: COMPACT_DELETES_PER_TXN, snapshot: false }),
      ];
      if (keys.length === 0) return deleted;
      log.transactionSync(() => {
        for (const key of keys) log.removeSync(key);
      });
      deleted += keys.length;
    }
  }

  // --- A cluster standby's log (cluster/): records arrive from the region's stream. ---

  /**
   * Rebuilds `engine` from the newest usable snapshot and the local log, truncating a torn
   * last batch, without starting the writer or expiring anything: a standby's engine follows
   * the primary's records, expiries included. Call once, after `reconcile` work on the log.
   */
  recoverFollower(engine: SnapshotableEngine): WalResult<RecoveryReport> {
    assert(!this.recovered, 'recover runs once per open data directory');
    this.recovered = true;
    const started = performance.now();
    const bounds = logBounds(this.store);
    const chosen = chooseBase(this.store, bounds?.first ?? null);
    if (!chosen.ok) return walError('SNAPSHOT_CORRUPT', chosen.problem);
    const manifest = chosen.base.manifest;
    if (manifest !== null) {
      const problem = loadSnapshot(this.store, manifest, engine);
      if (problem !== null) {
        return walError('SNAPSHOT_CORRUPT', `snapshot at LSN ${manifest.lsn}: ${problem}`);
      }
    }
    const baseLsn = manifest?.lsn ?? 0;
    const replayed = replayLog(this.store, engine, { afterLsn: baseLsn, tornTail: true });
    if (!replayed.ok) return replayed;
    const { tornTail } = replayed.value;
    if (tornTail !== null) this.truncateFrom(tornTail.fromLsn);
    return {
      ok: true,
      value: {
        created: this.created,
        snapshotLsn: baseLsn,
        skippedSnapshots: chosen.base.skipped,
        replayed: replayed.value.applied,
        tornTail,
        lastLsn: Math.max(replayed.value.lastLsn, baseLsn),
        expired: 0,
        durationMs: Math.round(performance.now() - started),
      },
    };
  }

  /** First and last LSN in the local log (null when it holds none). */
  bounds(): { first: number; last: number } | null {
    this.store.env.resetReadTxn();
    return logBounds(this.store);
  }

  /** LSN of the newest snapshot (0 when none): the log below it may be compacted away. */
  newestSnapshotLsn(): number {
    for (const key of this.store.snapshotManifests.getKeys({
      reverse: true,
      limit: 1,
      snapshot: false,
    })) {
      return key;
    }
    return 0;
  }

  /** The stored value of one record, as written (a copy), or undefined when absent. */
  readStored(lsn: number): Buffer | undefined {
    return this.store.log.getBinary(lsn) ?? undefined;
  }

  /** Stored values of `count` records from `firstLsn` (fewer when the log ends first). */
  readStoredRange(firstLsn: number, count: number): Buffer[] {
    // lmdb-js keeps a thread's read transaction across calls: renew it, or commits made since
    // by the writer thread stay invisible here.
    this.store.env.resetReadTxn();
    const values: Buffer[] = [];
    for (const { value } of this.store.log.getRange({
      start: firstLsn,
      end: firstLsn + count,
      snapshot: false,
    })) {
      values.push(value);
    }
    return values;
  }

  /** Deletes every record after `lsn` (a tail the region's stream does not have). */
  truncateAfter(lsn: number): number {
    return this.truncateFrom(lsn + 1);
  }

  /**
   * Appends stored values verbatim at consecutive LSNs from `firstLsn`, in one transaction
   * (a standby keeps the primary's LSNs, so after a takeover its log simply continues). The
   * log must end at `firstLsn - 1`, and no writer may be running.
   */
  appendStored(firstLsn: number, values: readonly Uint8Array[]): void {
    assert(this.writer === null, 'appendStored is for a log without a writer');
    this.store.env.resetReadTxn();
    const last = logBounds(this.store)?.last ?? this.newestSnapshotLsn();
    assert(firstLsn === last + 1, `appending LSN ${firstLsn} after ${last}`);
    const log = this.store.log;
    log.transactionSync(() => {
      for (let index = 0; index < values.length; index++) {
        const value = values[index];
        const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
        log.putSync(firstLsn + index, bytes, PUT_APPEND);
      }
    });
  }

  /**
   * Starts writing after the last record: raises the writer session past `sessionAtLeast`
   * (the last session in the log, which a standby took verbatim from its primary), starts the
   * writer (with a replication queue when given), then opens the log to writes.
   */
  async startWriting(options: {
    sessionAtLeast: number;
    replicationBuffer?: SharedArrayBuffer;
  }): Promise<WalResult<number>> {
    assert(this.writer === null, 'the log already has a writer');
    if (options.sessionAtLeast > 0) raiseWriterSession(this.store, options.sessionAtLeast);
    this.store.env.resetReadTxn();
    const last = logBounds(this.store)?.last ?? this.newestSnapshotLsn();
    const writer = await this.startWriter(last + 1, options.replicationBuffer);
    if (!writer.ok) return writer;
    new LogRing(this.ringBuffer).setWritable(true);
    return { ok: true, value: last + 1 };
  }

  private async startWriter(
    nextLsn: number,
    replicationBuffer?: SharedArrayBuffer,
  ): Promise<WalResult<LogWriter>> {
    try {
      this.writer = await LogWriter.start({
        replicationBuffer,
        ringBuffer: this.ringBuffer,
        dataDir: this.options.dataDir,
        nextLsn,
        storeSizeBytesMax: this.options.storeSizeBytesMax ?? STORE_SIZE_BYTES_DEFAULT,
        batchRecordsMax: this.options.writerBatchRecordsMax,
        batchBytesMax: this.options.writerBatchBytesMax,
        verify: this.options.verify,
        logger: this.options.logger,
      });
      return { ok: true, value: this.writer };
    } catch (error) {
      return walError('WRITE_FAILED', `the log writer did not start: ${String(error)}`);
    }
  }

  /** Takes a snapshot in a worker thread (folding the log; the live engine never stalls). */
  snapshot(targetLsn?: number): Promise<WalResult<SnapshotInfo>> {
    this.snapshotter ??= new Snapshotter(
      this.options.dataDir,
      this.policy,
      undefined,
      this.options.logRetainRecords ?? 0,
    );
    return this.snapshotter.take(targetLsn);
  }

  /**
   * Stops a snapshot being folded, if any, at its next step (a node that is stopping does not
   * wait for a fold: the log and the older snapshots are intact, and the next start folds
   * again). Resolves once the fold has ended.
   */
  cancelSnapshot(): Promise<void> {
    return this.snapshotter?.cancel() ?? Promise.resolve();
  }

  /** A reader of this directory's committed records, in this thread. */
  logReader(): LogReader {
    return LogReader.of(this.store);
  }

  /** Bytes of the data file in use. */
  storeUsedBytes(): number {
    return storeUsedBytes(this.store.env);
  }

  /**
   * Writes what is in the ring and stops the writer, leaving the store open (a cluster
   * primary then lets its shipper drain the committed groups before `close`).
   */
  async stopWriter(): Promise<WriterSummary | null> {
    const summary = this.writer === null ? null : await this.writer.stop();
    this.writer = null;
    return summary;
  }

  /** Writes what is in the ring, stops the writer and the snapshot thread, closes the store. */
  async close(): Promise<WriterSummary | null> {
    const summary = this.writer === null ? null : await this.writer.stop();
    this.writer = null;
    if (this.snapshotter !== null) await this.snapshotter.close();
    this.snapshotter = null;
    this.log.close();
    await this.store.close();
    await this.lock.release();
    return summary;
  }
}

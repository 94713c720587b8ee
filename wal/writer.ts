/**
 * The single log writer. It runs in its own worker thread (writer-worker.ts), drains the ring
 * in batches, writes each batch to LMDB in one transaction, commits, and then publishes the
 * durable position and LSN in the ring's control words. Group commit falls out of the loop:
 * while one commit (and its fsync) is in flight, producers keep filling the ring, and the next
 * batch takes everything that arrived, up to `batchRecordsMax` records or `batchBytesMax` bytes.
 *
 * Invariants:
 * - LSNs are assigned here, consecutively, in ring order (which is reservation order, which is
 *   the engine's causal order); the last record of each transaction carries the batch-end flag.
 * - The durable position only moves after the transaction that holds every frame before it
 *   committed under the policy, and the ring only frees frames after that commit.
 * - On any write error the writer stops accepting: it clears the writable flag, records why,
 *   wakes every waiter (they reject, nothing further is acknowledged) and exits.
 *
 * `LogWriter` is the owner's handle (main thread): it starts the worker and stops it.
 */

import { Worker } from 'node:worker_threads';
import { ABORT, type TransactionFlags } from 'lmdb';
import {
  CONTROL_DURABLE_POSITION,
  CONTROL_FAILURE,
  CONTROL_STAT_BATCH_BUCKETS,
  CONTROL_STAT_BATCH_RECORDS_LAST,
  CONTROL_STAT_BATCH_RECORDS_SUM,
  CONTROL_STAT_BATCHES,
  CONTROL_STAT_COMMIT_BUCKETS,
  CONTROL_STAT_COMMIT_MICROS_LAST,
  CONTROL_STAT_COMMIT_MICROS_MAX,
  CONTROL_STAT_COMMIT_MICROS_SUM,
  CONTROL_STOP_REQUESTED,
  CONTROL_WORDS,
  CONTROL_WRITABLE,
  CONTROL_WRITER_SLEEPING,
  CONTROL_WRITER_STATE,
  LOG_BATCH_BUCKET_BOUNDS_RECORDS,
  LOG_COMMIT_BUCKET_BOUNDS_MICROS,
  RECORD_FLAG_BATCH_END,
  RECORD_HEADER_BYTES,
  RING_FRAME_PAD,
  STORE_RESERVE_BYTES,
  WRITER_BATCH_BYTES_MAX,
  WRITER_BATCH_RECORDS_MAX,
  WRITER_COMMIT_SAMPLES_MAX,
  WRITER_FILE_RESERVE_BYTES,
  WRITER_FILE_RESERVE_CHUNK_BYTES,
  WRITER_HOLE_REPORT_MS,
  WRITER_IDLE_WAIT_MS,
  WRITER_STATE_FAILED,
  WRITER_STATE_RUNNING,
  WRITER_STATE_STOPPED,
} from './constants.js';
import { crc32 } from './crc32.js';
import { assert, failureNumber, type WalFailure } from './errors.js';
import { FileReserve } from './file-reserve.js';
import { ownThreadId } from './thread-cpu.js';
import type { WalLogger } from './logger.js';
import { writeRecordHeader } from './record.js';
import { REPLICATION_QUEUE_FULL_WAIT_MS, ReplicationQueue } from './replication-queue.js';
import { LogRing } from './ring.js';
import {
  openStore,
  readWriterSession,
  registerWriterSession,
  type Store,
  storeUsedBytes,
} from './store.js';
import { compiledWalFile } from './worker-file.js';

/** lmdb-js transaction flags: abortable (1) | commit before returning (2). */
const TXN_ABORTABLE_SYNCHRONOUS = 3 as TransactionFlags;
/** Keys only grow, so MDB_APPEND skips the B-tree search. One object, not one per put. */
const PUT_APPEND = { append: true } as const;
/** LMDB pages a transaction may add beyond its values: branch pages, a split, the free list. */
const TXN_PAGES_BOUND = 8;
const STORE_PAGE_BYTES = 4096;
/** The data file is measured at least this often (in batches) even far from the ceiling. */
const STORE_MEASURE_BATCHES = 1_024;

/**
 * An upper bound on how much one transaction of `bytes` of values can grow the data file:
 * leaf pages are at least half full after a split, plus a few pages of tree and bookkeeping.
 */
function growthBound(bytes: number): number {
  return 2 * bytes + TXN_PAGES_BOUND * STORE_PAGE_BYTES;
}

export interface WriterConfig {
  ringBuffer: SharedArrayBuffer;
  dataDir: string;
  /** LSN of the first record this writer will write (last LSN in the store + 1). */
  nextLsn: number;
  /** Ceiling on the data file; the writer goes read-only (STORE_FULL) before crossing it. */
  storeSizeBytesMax: number;
  batchRecordsMax?: number;
  batchBytesMax?: number;
  /** Recompute every frame's CRC before writing it (tests turn this on). */
  verify?: boolean;
  /**
   * A replication queue (replication-queue.ts): each committed batch is pushed to it for the
   * shipper; in `sync` mode the shipper, not the writer, then publishes the durable position.
   */
  replicationBuffer?: SharedArrayBuffer;
  /**
   * Zeroed bytes kept past the log's end in data.mdb under the `fsync` policy (file-reserve.ts);
   * 0 turns it off. Default WRITER_FILE_RESERVE_BYTES.
   */
  fileReserveBytes?: number;
}

export interface WriterSummary {
  batches: number;
  records: number;
  lastLsn: number;
  batchRecordsMean: number;
  batchRecordsMax: number;
  commitMicrosP50: number;
  commitMicrosP99: number;
  commitMicrosMax: number;
}

export type WriterMessage =
  | { type: 'ready'; threadId: number }
  | { type: 'warning'; message: string }
  | { type: 'failed'; failure: WalFailure; message: string }
  | { type: 'stopped'; summary: WriterSummary };

/** Index of the first bucket whose bound is at least `value`; `bounds.length` past the last. */
function bucketOf(bounds: readonly number[], value: number): number {
  let index = 0;
  while (index < bounds.length && value > bounds[index]) index++;
  return index;
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

/** Marks the log failed in shared memory and wakes every thread waiting for durability. */
export function markFailed(ring: LogRing, failure: WalFailure): void {
  const control = ring.control;
  Atomics.store(control, CONTROL_FAILURE, failureNumber(failure));
  Atomics.store(control, CONTROL_WRITABLE, 0);
  Atomics.store(control, CONTROL_WRITER_STATE, WRITER_STATE_FAILED);
  // Waiters sleep on the durable position; a notify without a change makes them recheck.
  Atomics.notify(control, CONTROL_DURABLE_POSITION);
}

/** The writer's state within its thread: buffers allocated once, reused for every batch. */
class WriterLoop {
  private readonly ring: LogRing;
  /** The control words as 64-bit words, for the statistics sums (constants.ts). */
  private readonly controlWide: BigInt64Array;
  private readonly batchRecordsMax: number;
  private readonly batchBytesMax: number;
  private readonly staging: Buffer;
  /** Start offset of each record's stored value in `staging`; one extra slot for the end. */
  private readonly offsets: Int32Array;
  private readonly payloadCrcs: Uint32Array;
  private readonly commitMicros = new Float64Array(WRITER_COMMIT_SAMPLES_MAX);
  private readonly replication: ReplicationQueue | null;
  private reserve: FileReserve | null = null;
  private nextLsn: number;
  private session = 0;
  private batches = 0;
  private records = 0;
  private batchRecordsMaxSeen = 0;
  private holeSince = 0;
  private usedBytesMeasured = 0;
  private growthBytesSinceMeasure = 0;
  /** Starts at the bound, so the first batch measures the file. */
  private batchesSinceMeasure = STORE_MEASURE_BATCHES;

  constructor(
    private readonly config: WriterConfig,
    private readonly store: Store,
    private readonly report: (message: WriterMessage) => void,
  ) {
    this.ring = new LogRing(config.ringBuffer);
    const control = this.ring.control;
    this.controlWide = new BigInt64Array(control.buffer, control.byteOffset, CONTROL_WORDS / 2);
    this.batchRecordsMax = config.batchRecordsMax ?? WRITER_BATCH_RECORDS_MAX;
    this.batchBytesMax = config.batchBytesMax ?? WRITER_BATCH_BYTES_MAX;
    // Recovery bounds a batch by WRITER_BATCH_RECORDS_MAX when it looks for a torn tail.
    assert(
      this.batchRecordsMax >= 1 && this.batchRecordsMax <= WRITER_BATCH_RECORDS_MAX,
      `batchRecordsMax must be in [1, ${WRITER_BATCH_RECORDS_MAX}]`,
    );
    assert(
      this.batchBytesMax >= this.ring.payloadBytesMax + RECORD_HEADER_BYTES,
      'a batch must hold the largest record',
    );
    // Not shared: lmdb-js cannot read values that live in a SharedArrayBuffer.
    this.staging = Buffer.allocUnsafeSlow(this.batchBytesMax);
    this.offsets = new Int32Array(this.batchRecordsMax + 1);
    this.payloadCrcs = new Uint32Array(this.batchRecordsMax);
    this.nextLsn = config.nextLsn;
    this.replication =
      config.replicationBuffer === undefined
        ? null
        : new ReplicationQueue(config.replicationBuffer);
  }

  /** Runs until stopped (drained) or failed. */
  run(): void {
    try {
      this.session = registerWriterSession(this.store, this.nextLsn);
    } catch (error) {
      this.fail('WRITE_FAILED', `registering the writer session failed: ${String(error)}`);
      return;
    }
    this.openReserve();
    try {
      this.loop();
    } finally {
      this.reserve?.close();
    }
  }

  private loop(): void {
    const control = this.ring.control;
    Atomics.store(control, CONTROL_WRITER_STATE, WRITER_STATE_RUNNING);
    this.report({ type: 'ready', threadId: ownThreadId() });
    for (;;) {
      const head = this.ring.head();
      const { count, end } = this.collect(head);
      if (count === 0) {
        // Only pads (or nothing) were read: free them; pads carry no records.
        if (end !== head) this.ring.release(end);
        if (this.stopRequested() && this.ring.tail() === end) break;
        this.sleep(end);
        continue;
      }
      this.holeSince = 0;
      if (!this.write(count, end)) return;
    }
    Atomics.store(control, CONTROL_WRITER_STATE, WRITER_STATE_STOPPED);
    this.report({ type: 'stopped', summary: this.summary() });
  }

  /** Copies published frames from `head` on into the staging buffer; returns how many. */
  private collect(head: number): { count: number; end: number } {
    const ring = this.ring;
    const data = ring.data;
    let position = head;
    let count = 0;
    let bytes = 0;
    while (count < this.batchRecordsMax) {
      const ready = ring.readyWordAt(position);
      if (ready === 0) break;
      if (ready === RING_FRAME_PAD) {
        position = ring.nextPosition(position, ready);
        continue;
      }
      const valueBytes = RECORD_HEADER_BYTES + ready;
      if (bytes + valueBytes > this.batchBytesMax) break;
      const from = ring.payloadIndexAt(position);
      this.staging.set(data.subarray(from, from + ready), bytes + RECORD_HEADER_BYTES);
      const crc = ring.crcAt(position);
      if (this.config.verify) {
        const actual = crc32(this.staging, bytes + RECORD_HEADER_BYTES, bytes + valueBytes);
        assert(actual === crc, `frame CRC mismatch at ring position ${position}`);
      }
      this.payloadCrcs[count] = crc;
      this.offsets[count] = bytes;
      bytes += valueBytes;
      count++;
      position = ring.nextPosition(position, ready);
    }
    this.offsets[count] = bytes;
    return { count, end: position };
  }

  /** Writes `count` staged records in one transaction; false when the writer failed. */
  private write(count: number, end: number): boolean {
    const staging = this.staging;
    const offsets = this.offsets;
    const firstLsn = this.nextLsn;
    const session = this.session;
    for (let i = 0; i < count; i++) {
      const flags = i === count - 1 ? RECORD_FLAG_BATCH_END : 0;
      writeRecordHeader(staging, offsets[i], this.payloadCrcs[i], flags, firstLsn + i, session);
    }
    const store = this.store;
    const log = store.log;
    const started = performance.now();
    let fenced = '';
    try {
      if (!this.roomFor(offsets[count])) return false;
      log.transactionSync(() => {
        const registered = readWriterSession(store);
        if (registered !== session) {
          fenced = `writer session ${registered} replaced this writer's session ${session}`;
          return ABORT;
        }
        for (let i = 0; i < count; i++) {
          // lmdb-js returns false (its types say void) when LMDB refuses the append.
          const value = staging.subarray(offsets[i], offsets[i + 1]);
          if ((log.putSync(firstLsn + i, value, PUT_APPEND) as unknown) === false) {
            fenced = `LSN ${firstLsn + i} was already written by another writer`;
            return ABORT;
          }
        }
        return undefined;
      }, TXN_ABORTABLE_SYNCHRONOUS);
      this.growthBytesSinceMeasure += growthBound(offsets[count]);
      this.batchesSinceMeasure++;
    } catch (error) {
      this.fail('WRITE_FAILED', `LMDB write of LSN ${firstLsn}.. failed: ${String(error)}`);
      return false;
    }
    if (fenced !== '') {
      this.fail('WRITER_FENCED', `${fenced}; nothing of this batch was written or acknowledged`);
      return false;
    }
    const micros = Math.round((performance.now() - started) * 1000);
    this.nextLsn = firstLsn + count;
    this.ring.release(end);
    this.handOver(this.nextLsn - 1, end, count);
    this.publish(end, this.nextLsn - 1, count, micros);
    this.reserveRoom();
    return true;
  }

  /** Under `fsync`, opens the zeroed reserve and fills it before the writer reports ready. */
  private openReserve(): void {
    const aheadBytes = this.config.fileReserveBytes ?? WRITER_FILE_RESERVE_BYTES;
    if (this.ring.policy !== 'fsync' || aheadBytes <= 0) return;
    const opened = FileReserve.open(this.config.dataDir, {
      aheadBytes,
      chunkBytes: Math.min(aheadBytes, WRITER_FILE_RESERVE_CHUNK_BYTES),
      ceilingBytes: this.config.storeSizeBytesMax - STORE_RESERVE_BYTES,
    });
    if ('reason' in opened) {
      this.report({ type: 'warning', message: opened.reason });
      return;
    }
    this.reserve = opened.reserve;
    const steps = Math.ceil(aheadBytes / WRITER_FILE_RESERVE_CHUNK_BYTES);
    for (let step = 0; step < steps && this.reserveRoom(); step++);
  }

  /**
   * One step of the reserve when it runs low: run after the batch is acknowledged, so it delays
   * the next commit (by one chunk's write and sync, a few ms), never this one. True when a step
   * ran.
   */
  private reserveRoom(): boolean {
    const reserve = this.reserve;
    if (
      reserve === null ||
      !reserve.mayWant(this.usedBytesMeasured + this.growthBytesSinceMeasure)
    ) {
      return false;
    }
    if (!reserve.wants(this.measureStore())) return false;
    let added = 0;
    try {
      // Inside a write transaction: LMDB's write lock keeps every other writer out while the
      // zeros go past the file's end. Nothing is written to LMDB; the transaction is aborted.
      this.store.log.transactionSync(() => {
        added = reserve.fill();
        return ABORT;
      }, TXN_ABORTABLE_SYNCHRONOUS);
    } catch (error) {
      reserve.close();
      this.reserve = null;
      this.report({ type: 'warning', message: `reserving room in data.mdb: ${String(error)}` });
      return false;
    }
    if (reserve.disabled !== '') {
      this.report({ type: 'warning', message: reserve.disabled });
      reserve.close();
      this.reserve = null;
    }
    return added > 0;
  }

  /**
   * Gives a committed batch to the replication shipper. A full queue means the stream is
   * behind: the writer waits for room (the ring then fills and the engine refuses new
   * mutations), except when asked to stop, when the shipper may be gone for good.
   */
  private handOver(lastLsn: number, end: number, count: number): void {
    const queue = this.replication;
    if (queue === null) return;
    while (!queue.push(lastLsn, end, count)) {
      if (this.stopRequested()) return;
      queue.waitForRoom(REPLICATION_QUEUE_FULL_WAIT_MS);
    }
  }

  /**
   * False (and the writer failed with STORE_FULL) when a batch of `bytes` could take the data
   * file past its ceiling. Measuring the file is a few microseconds of LMDB calls, so it is
   * done only when a bound on the growth since the last measure could reach the ceiling, or
   * every STORE_MEASURE_BATCHES batches.
   */
  private roomFor(bytes: number): boolean {
    const limit = this.config.storeSizeBytesMax - STORE_RESERVE_BYTES;
    const bound = this.usedBytesMeasured + this.growthBytesSinceMeasure + growthBound(bytes);
    if (bound <= limit && this.batchesSinceMeasure < STORE_MEASURE_BATCHES) return true;
    if (this.measureStore() + growthBound(bytes) <= limit) return true;
    this.fail(
      'STORE_FULL',
      `the store uses ${this.usedBytesMeasured} bytes and the next batch could pass its ` +
        `limit of ${this.config.storeSizeBytesMax} bytes`,
    );
    return false;
  }

  /** Measures the bytes the store's pages take (a few µs of LMDB calls); restarts the bound. */
  private measureStore(): number {
    this.usedBytesMeasured = storeUsedBytes(this.store.env);
    this.growthBytesSinceMeasure = 0;
    this.batchesSinceMeasure = 0;
    return this.usedBytesMeasured;
  }

  private publish(end: number, lastLsn: number, count: number, micros: number): void {
    const control = this.ring.control;
    this.commitMicros[this.batches % WRITER_COMMIT_SAMPLES_MAX] = micros;
    this.batches++;
    this.records += count;
    if (count > this.batchRecordsMaxSeen) this.batchRecordsMaxSeen = count;
    this.publishHistograms(count, micros);
    Atomics.store(control, CONTROL_STAT_BATCHES, this.batches | 0);
    Atomics.store(control, CONTROL_STAT_BATCH_RECORDS_LAST, count);
    Atomics.store(control, CONTROL_STAT_COMMIT_MICROS_LAST, micros);
    if (micros > Atomics.load(control, CONTROL_STAT_COMMIT_MICROS_MAX)) {
      Atomics.store(control, CONTROL_STAT_COMMIT_MICROS_MAX, micros);
    }
    // Under synchronous replication the shipper publishes the durable position once the
    // stream acknowledged the batch too.
    if (this.replication?.mode === 'sync') return;
    this.ring.storeDurable(lastLsn, end);
  }

  /**
   * Adds one commit to the histogram words. Before the batch count is stored: a reader that
   * loads the buckets first and the count after (log.ts) never sees more bucketed commits than
   * the count says (Atomics are sequentially consistent).
   */
  private publishHistograms(count: number, micros: number): void {
    const control = this.ring.control;
    const commitBucket = bucketOf(LOG_COMMIT_BUCKET_BOUNDS_MICROS, micros);
    if (commitBucket < LOG_COMMIT_BUCKET_BOUNDS_MICROS.length) {
      Atomics.add(control, CONTROL_STAT_COMMIT_BUCKETS + commitBucket, 1);
    }
    const batchBucket = bucketOf(LOG_BATCH_BUCKET_BOUNDS_RECORDS, count);
    if (batchBucket < LOG_BATCH_BUCKET_BOUNDS_RECORDS.length) {
      Atomics.add(control, CONTROL_STAT_BATCH_BUCKETS + batchBucket, 1);
    }
    const wide = this.controlWide;
    Atomics.add(wide, CONTROL_STAT_COMMIT_MICROS_SUM / 2, BigInt(micros));
    Atomics.add(wide, CONTROL_STAT_BATCH_RECORDS_SUM / 2, BigInt(count));
  }

  /** Sleeps on the ready word of the frame at `head` until a producer publishes it. */
  private sleep(head: number): void {
    const control = this.ring.control;
    Atomics.store(control, CONTROL_WRITER_SLEEPING, 1);
    // Recheck after raising the flag: a producer that published before seeing the flag is
    // seen here; one that publishes later sees the flag and notifies.
    if (this.ring.readyWordAt(head) === 0 && !this.stopRequested()) {
      const word = (head & this.ring.mask) >>> 2;
      Atomics.wait(this.ring.dataWords, word, 0, WRITER_IDLE_WAIT_MS);
    }
    Atomics.store(control, CONTROL_WRITER_SLEEPING, 0);
    this.checkHole(head);
  }

  /** Reports a frame that stays reserved but unpublished (its producer died mid-append). */
  private checkHole(head: number): void {
    if (this.ring.tail() === head || this.ring.readyWordAt(head) !== 0) {
      this.holeSince = 0;
      return;
    }
    const now = performance.now();
    if (this.holeSince === 0) this.holeSince = now;
    else if (now - this.holeSince > WRITER_HOLE_REPORT_MS) {
      this.report({
        type: 'warning',
        message:
          `the frame at ring position ${head} was reserved but not published for ` +
          `${WRITER_HOLE_REPORT_MS} ms; records after it wait behind it`,
      });
      this.holeSince = now;
    }
  }

  private stopRequested(): boolean {
    return Atomics.load(this.ring.control, CONTROL_STOP_REQUESTED) !== 0;
  }

  private fail(failure: WalFailure, message: string): void {
    markFailed(this.ring, failure);
    this.report({ type: 'failed', failure, message });
  }

  summary(): WriterSummary {
    const samples = this.commitMicros.slice(0, Math.min(this.batches, WRITER_COMMIT_SAMPLES_MAX));
    samples.sort();
    return {
      batches: this.batches,
      records: this.records,
      lastLsn: this.nextLsn - 1,
      batchRecordsMean: this.batches === 0 ? 0 : this.records / this.batches,
      batchRecordsMax: this.batchRecordsMaxSeen,
      commitMicrosP50: percentile(samples, 0.5),
      commitMicrosP99: percentile(samples, 0.99),
      commitMicrosMax: samples.length === 0 ? 0 : samples[samples.length - 1],
    };
  }
}

/** The writer thread's body: opens the store, runs the loop, closes the store. */
export async function runWriter(
  config: WriterConfig,
  report: (message: WriterMessage) => void,
): Promise<void> {
  const ring = new LogRing(config.ringBuffer);
  let store: Store;
  try {
    store = openStore({ path: config.dataDir, policy: ring.policy });
  } catch (error) {
    markFailed(ring, 'WRITE_FAILED');
    report({ type: 'failed', failure: 'WRITE_FAILED', message: `open: ${String(error)}` });
    return;
  }
  try {
    new WriterLoop(config, store, report).run();
  } finally {
    await store.close();
  }
}

export interface LogWriterOptions extends WriterConfig {
  logger: WalLogger;
  /** Called once if the writer fails (the log is read-only from then on). */
  onFailure?: (failure: WalFailure, message: string) => void;
  /** The compiled writer-worker.js; the one next to this module by default. */
  workerFile?: URL;
}

/** The owner's handle on the writer thread. */
export class LogWriter {
  private summaryValue: WriterSummary | null = null;
  private threadIdValue = -1;
  private failureValue: { failure: WalFailure; message: string } | null = null;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly ring: LogRing,
    ready: (error: Error | null) => void,
    options: LogWriterOptions,
  ) {
    const { logger } = options;
    worker.on('message', (message: WriterMessage) => {
      if (message.type === 'ready') {
        this.threadIdValue = message.threadId;
        ready(null);
      } else if (message.type === 'warning') logger.log('warn', message.message);
      else if (message.type === 'stopped') this.summaryValue = message.summary;
      else if (message.type === 'failed') this.recordFailure(message, options);
    });
    worker.on('error', (error) => {
      logger.log('error', 'log writer thread crashed', { error: String(error) });
    });
    this.exited = new Promise((resolve) => {
      worker.on('exit', (code) => {
        if (this.summaryValue === null && this.failureValue === null) {
          // Gone without stopping or failing: nothing more will become durable.
          markFailed(this.ring, 'WRITER_GONE');
          this.recordFailure(
            { failure: 'WRITER_GONE', message: `log writer exited with code ${code}` },
            options,
          );
        }
        ready(new Error(this.failureValue?.message ?? 'log writer exited before it was ready'));
        resolve();
      });
    });
  }

  static async start(options: LogWriterOptions): Promise<LogWriter> {
    const ring = new LogRing(options.ringBuffer);
    const workerData: WriterConfig = {
      ringBuffer: options.ringBuffer,
      dataDir: options.dataDir,
      nextLsn: options.nextLsn,
      storeSizeBytesMax: options.storeSizeBytesMax,
      batchRecordsMax: options.batchRecordsMax,
      batchBytesMax: options.batchBytesMax,
      verify: options.verify,
      replicationBuffer: options.replicationBuffer,
      fileReserveBytes: options.fileReserveBytes,
    };
    const worker = new Worker(options.workerFile ?? compiledWalFile('writer-worker.js'), {
      workerData,
      name: 'wal-writer',
    });
    let settle: (error: Error | null) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    const writer = new LogWriter(worker, ring, (error) => settle(error), options);
    await ready;
    return writer;
  }

  private recordFailure(
    failure: { failure: WalFailure; message: string },
    options: LogWriterOptions,
  ): void {
    if (this.failureValue !== null) return;
    this.failureValue = { failure: failure.failure, message: failure.message };
    options.logger.log(
      'error',
      'write-ahead log is read-only: writes are refused, reads continue',
      { failure: failure.failure, reason: failure.message },
    );
    options.onFailure?.(failure.failure, failure.message);
  }

  /** The writer thread's kernel id (thread-cpu.ts); -1 when unknown. */
  get threadId(): number {
    return this.threadIdValue;
  }

  get failure(): { failure: WalFailure; message: string } | null {
    return this.failureValue;
  }

  /** Asks the writer to write everything already in the ring, then stop; resolves on exit. */
  async stop(): Promise<WriterSummary | null> {
    const control = this.ring.control;
    Atomics.store(control, CONTROL_STOP_REQUESTED, 1);
    // The writer may sleep on the head frame's ready word: wake it to see the flag.
    Atomics.notify(this.ring.dataWords, (this.ring.head() & this.ring.mask) >>> 2);
    await this.exited;
    return this.summaryValue;
  }

  /** Stops the thread at once, without draining (tests that simulate a crash). */
  async kill(): Promise<void> {
    await this.worker.terminate();
    await this.exited;
  }
}

/**
 * `SharedLog`: one thread's end of the write-ahead log. It implements the engine's
 * `OperationLog` (append a record, get a ticket; `writable()` before a mutation) and adds
 * `waitDurable(ticket)`, which the edge awaits before it acknowledges a mutation.
 *
 * Waiting is cheap when thousands of requests wait: a thread keeps its waiters in a fixed FIFO
 * and arms at most one `Atomics.waitAsync` on the ring's durable position; each wake-up
 * resolves, in order, every waiter the new position covers. The writer publishes the position
 * only after the commit the policy requires (see wal/README.md), so a resolved wait means the
 * record is as durable as the policy promises.
 *
 * Invariants: a waiter is resolved only when its ticket is durable; once the log has failed,
 * every waiter that is not durable is rejected with `LogUnavailableError` (code READ_ONLY) and
 * `writable()` stays false. A waiter is bounded in time: one still waiting after
 * `durableWaitMsMax` is rejected with `DurabilityTimeoutError` (code OUTCOME_UNKNOWN: the record
 * was appended and may yet become durable, so the caller cannot say; a retry with the same order
 * id is safe). Tickets a thread receives grow in append order, so the FIFO is in
 * ticket order when callers wait in the order they appended (a waiter behind a later ticket is
 * resolved late, never early).
 */

import type { LogRecord, OperationLog } from '../engine/index.js';
import {
  CONTROL_DURABLE_LSN_HIGH,
  CONTROL_DURABLE_LSN_LOW,
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
  CONTROL_WORDS,
  CONTROL_WRITABLE,
  DURABLE_WAIT_MS_MAX_DEFAULT,
  DURABLE_WAIT_TIMEOUT_MS,
  DURABLE_WAITERS_MAX,
  type DurabilityPolicy,
  LOG_BATCH_BUCKET_BOUNDS_RECORDS,
  LOG_COMMIT_BUCKET_BOUNDS_MICROS,
  RING_FRAME_HEADER_BYTES,
} from './constants.js';
import { crc32 } from './crc32.js';
import { failureFromNumber, LogUnavailableError, type WalFailure } from './errors.js';
import { RecordEncoder } from './record.js';
import { LogRing } from './ring.js';

const UINT32_RANGE = 0x1_0000_0000;
/** The keep-alive timer never needs to fire; it only holds the event loop open. */
const KEEP_ALIVE_INTERVAL_MS = 1 << 30;

type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
) => WaitAsyncResult;

/** Thrown into a wait when a thread has more pending acknowledgements than it may hold. */
export class TooManyWaitersError extends Error {
  readonly code = 'TOO_MANY_IN_FLIGHT';
}

/**
 * Thrown into a wait that passed its bound: the record was appended but is not durable yet, so
 * whether the change will survive is unknown to the waiter.
 */
export class DurabilityTimeoutError extends Error {
  readonly code = 'OUTCOME_UNKNOWN';
}

export interface SharedLogOptions {
  /** Longest a wait for durability may take before it rejects with OUTCOME_UNKNOWN. */
  durableWaitMsMax?: number;
  /** Milliseconds for the wait bound (performance.now by default). */
  now?: () => number;
}

export interface LogStats {
  policy: DurabilityPolicy;
  writable: boolean;
  failure: WalFailure | null;
  /** LSN of the last durable record (0 before the first). */
  durableLsn: number;
  /** Bytes appended but not yet durable: the durability lag. */
  pendingBytes: number;
  ringCapacityBytes: number;
  batches: number;
  batchRecordsLast: number;
  commitMicrosLast: number;
  commitMicrosMax: number;
  /**
   * Commits per duration bucket (LOG_COMMIT_BUCKET_BOUNDS_MICROS) and per batch size bucket
   * (LOG_BATCH_BUCKET_BOUNDS_RECORDS), not cumulative; each count wraps at 2^32. Commits past
   * the last bound are in `batches` only.
   */
  commitBuckets: number[];
  batchBuckets: number[];
  /** Since the log opened: commit time in microseconds, and records written. */
  commitMicrosSum: number;
  batchRecordsSum: number;
}

/** Unsigned counts of `length` control words from `first`. */
function readWords(control: Int32Array, first: number, length: number): number[] {
  const counts: number[] = [];
  for (let index = 0; index < length; index++) {
    counts.push(Atomics.load(control, first + index) >>> 0);
  }
  return counts;
}

export class SharedLog implements OperationLog {
  readonly ring: LogRing;
  private readonly encoder = new RecordEncoder();
  private readonly headroomBytes: number;
  private readonly waitAsync: WaitAsync;
  private readonly resolved = Promise.resolve();
  // The waiter FIFO: parallel fixed arrays indexed modulo DURABLE_WAITERS_MAX.
  private readonly tickets = new Int32Array(DURABLE_WAITERS_MAX);
  /** When each waiter started waiting (`now`), for the bound. */
  private readonly since = new Float64Array(DURABLE_WAITERS_MAX);
  private readonly durableWaitMsMax: number;
  private readonly now: () => number;
  private readonly resolvers: ((() => void) | undefined)[] = new Array(DURABLE_WAITERS_MAX);
  private readonly rejecters: (((error: Error) => void) | undefined)[] = new Array(
    DURABLE_WAITERS_MAX,
  );
  private first = 0;
  private count = 0;
  private armed = false;
  /**
   * A pending Atomics.waitAsync does not keep a thread's event loop alive; this timer does,
   * referenced only while waiters are queued, so a thread never exits with acks pending.
   */
  private readonly keepAlive: NodeJS.Timeout;

  constructor(ringBuffer: SharedArrayBuffer, options: SharedLogOptions = {}) {
    this.durableWaitMsMax = options.durableWaitMsMax ?? DURABLE_WAIT_MS_MAX_DEFAULT;
    this.now = options.now ?? (() => performance.now());
    this.ring = new LogRing(ringBuffer);
    // Two of this ring's largest frames: the next mutation's records always fit without
    // waiting. `writable()` is false while less is free, so the engine refuses new mutations
    // (READ_ONLY, retryable) instead of blocking a thread that holds an order lock.
    this.headroomBytes = 2 * (this.ring.payloadBytesMax + RING_FRAME_HEADER_BYTES);
    this.waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    this.keepAlive = setInterval(() => {}, KEEP_ALIVE_INTERVAL_MS);
    this.keepAlive.unref();
  }

  get policy(): DurabilityPolicy {
    return this.ring.policy;
  }

  writable(): boolean {
    return (
      Atomics.load(this.ring.control, CONTROL_WRITABLE) === 1 &&
      this.ring.freeBytes() >= this.headroomBytes
    );
  }

  append(record: LogRecord): number {
    const payload = this.encoder.encode(record);
    const crc = crc32(payload, 0, payload.length);
    return this.ring.append(payload, 0, payload.length, crc);
  }

  isDurable(ticket: number): boolean {
    return this.ring.policy === 'none' || this.ring.isDurable(ticket);
  }

  /**
   * Resolves once the record with this ticket is durable under the policy (at once for
   * `none`, and for ticket 0, "nothing appended"); rejects with `LogUnavailableError` if the
   * log fails first.
   */
  waitDurable(ticket: number): Promise<void> {
    if (this.isDurable(ticket)) return this.resolved;
    return this.enqueue(ticket);
  }

  /** Queues a wait for `position` (a ticket, or any frame boundary). */
  private enqueue(position: number): Promise<void> {
    if (this.ring.isPositionDurable(position)) return this.resolved;
    const failure = this.failure();
    if (failure !== null) return Promise.reject(new LogUnavailableError(failure));
    if (this.count === DURABLE_WAITERS_MAX) {
      return Promise.reject(new TooManyWaitersError('too many acknowledgements pending'));
    }
    return new Promise<void>((resolve, reject) => {
      const slot = (this.first + this.count) % DURABLE_WAITERS_MAX;
      this.tickets[slot] = position;
      this.since[slot] = this.now();
      this.resolvers[slot] = resolve;
      this.rejecters[slot] = reject;
      if (this.count === 0) this.keepAlive.ref();
      this.count++;
      this.arm();
    });
  }

  /**
   * Resolves once every record appended so far, by any thread, is durable (at once under
   * `none`): a barrier for shutdown, snapshots and tests.
   */
  waitFlushed(): Promise<void> {
    if (this.ring.policy === 'none') return this.resolved;
    return this.enqueue(this.ring.tail());
  }

  private arm(): void {
    if (this.armed) return;
    const control = this.ring.control;
    const seen = Atomics.load(control, CONTROL_DURABLE_POSITION);
    // Settle first with the value we will wait on, so a publish between the load and the wait
    // makes the wait return at once ('not-equal') instead of being missed.
    this.settle();
    if (this.count === 0) return;
    this.armed = true;
    // Wake in time for the oldest waiter's bound (waiters are in the order they started).
    const untilBound = this.since[this.first] + this.durableWaitMsMax - this.now();
    const timeout = Math.max(1, Math.min(DURABLE_WAIT_TIMEOUT_MS, Math.ceil(untilBound)));
    const result = this.waitAsync(control, CONTROL_DURABLE_POSITION, seen, timeout);
    if (result.async) result.value.then(this.onWake);
    else queueMicrotask(this.onWake);
  }

  private readonly onWake = (): void => {
    this.armed = false;
    this.arm();
  };

  /**
   * Resolves every durable waiter from the front; rejects the ones past their bound
   * (OUTCOME_UNKNOWN), and all the rest if the log failed.
   */
  private settle(): void {
    while (this.count > 0 && this.ring.isPositionDurable(this.tickets[this.first])) {
      const resolve = this.resolvers[this.first]!;
      this.take();
      resolve();
    }
    if (this.count > 0) {
      const expired = this.now() - this.durableWaitMsMax;
      while (this.count > 0 && this.since[this.first] <= expired) {
        const reject = this.rejecters[this.first]!;
        this.take();
        reject(
          new DurabilityTimeoutError(
            `not durable after ${this.durableWaitMsMax} ms: the outcome is unknown`,
          ),
        );
      }
    }
    const failure = this.failure();
    if (failure === null) return;
    while (this.count > 0) {
      const reject = this.rejecters[this.first]!;
      this.take();
      reject(new LogUnavailableError(failure));
    }
  }

  private take(): void {
    this.resolvers[this.first] = undefined;
    this.rejecters[this.first] = undefined;
    this.first = (this.first + 1) % DURABLE_WAITERS_MAX;
    this.count--;
    if (this.count === 0) this.keepAlive.unref();
  }

  /** Acknowledgements this thread is waiting for. */
  pendingWaiters(): number {
    return this.count;
  }

  /** Stops holding the event loop open; pending waiters still settle if the log moves. */
  close(): void {
    clearInterval(this.keepAlive);
  }

  failure(): WalFailure | null {
    return failureFromNumber(Atomics.load(this.ring.control, CONTROL_FAILURE));
  }

  /** LSN of the last durable record. The two halves are read separately: metrics only. */
  durableLsn(): number {
    const control = this.ring.control;
    const high = Atomics.load(control, CONTROL_DURABLE_LSN_HIGH);
    return high * UINT32_RANGE + (Atomics.load(control, CONTROL_DURABLE_LSN_LOW) >>> 0);
  }

  stats(): LogStats {
    const control = this.ring.control;
    // The buckets before the batch count: the writer adds to them before it stores the count,
    // so no bucket reads ahead of it.
    const commitBuckets = readWords(
      control,
      CONTROL_STAT_COMMIT_BUCKETS,
      LOG_COMMIT_BUCKET_BOUNDS_MICROS.length,
    );
    const batchBuckets = readWords(
      control,
      CONTROL_STAT_BATCH_BUCKETS,
      LOG_BATCH_BUCKET_BOUNDS_RECORDS.length,
    );
    const wide = new BigInt64Array(control.buffer, control.byteOffset, CONTROL_WORDS / 2);
    const durable = Atomics.load(control, CONTROL_DURABLE_POSITION);
    return {
      policy: this.ring.policy,
      writable: this.writable(),
      failure: this.failure(),
      durableLsn: this.durableLsn(),
      pendingBytes: (this.ring.tail() - durable) | 0,
      ringCapacityBytes: this.ring.capacity,
      batches: Atomics.load(control, CONTROL_STAT_BATCHES) >>> 0,
      batchRecordsLast: Atomics.load(control, CONTROL_STAT_BATCH_RECORDS_LAST),
      commitMicrosLast: Atomics.load(control, CONTROL_STAT_COMMIT_MICROS_LAST),
      commitMicrosMax: Atomics.load(control, CONTROL_STAT_COMMIT_MICROS_MAX),
      commitBuckets,
      batchBuckets,
      commitMicrosSum: Number(Atomics.load(wide, CONTROL_STAT_COMMIT_MICROS_SUM / 2)),
      batchRecordsSum: Number(Atomics.load(wide, CONTROL_STAT_BATCH_RECORDS_SUM / 2)),
    };
  }
}

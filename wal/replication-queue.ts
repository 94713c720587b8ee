/**
 * The hand-off from the log writer to a replication shipper (cluster/shipper.ts): after each
 * group commit the writer pushes one entry (last LSN, ring end position, record count) into
 * this single-producer single-consumer queue in shared memory; the shipper, on another
 * thread's event loop, pops entries, reads the committed records back from LMDB and publishes
 * them. The writer thread cannot publish itself: it blocks in `Atomics.wait` and in
 * synchronous LMDB commits, and a NATS client needs an event loop.
 *
 * Two modes (chosen when the buffer is made, read by both sides from the buffer):
 * - `async`: the writer publishes the ring's durable position after its commit, as without
 *   replication; shipping follows.
 * - `sync`: the writer leaves the durable position alone. The shipper stores it (with
 *   `LogRing.storeDurable`) once the batch is acknowledged by the stream, so a waiter resolves
 *   only when its record is committed locally AND replicated.
 *
 * Layout: control words, then `REPLICATION_QUEUE_SLOTS` slots of four int32 words. Positions
 * (head, tail) count entries and wrap as int32; `tail - head` is the fill.
 *
 * Invariants: only the writer stores the tail, only the shipper stores the head; a slot is
 * written before the tail that publishes it (seq-cst store), and read after the tail load
 * that reveals it, so the shipper never reads a half-written slot. The queue never holds more
 * than `REPLICATION_QUEUE_SLOTS` entries: a full queue makes the writer wait, which backs the
 * ring up, which makes the engine refuse new mutations with READ_ONLY (retryable).
 */

import { assert } from './errors.js';

export const REPLICATION_MODES = ['async', 'sync'] as const;
export type ReplicationMode = (typeof REPLICATION_MODES)[number];

export function isReplicationMode(value: unknown): value is ReplicationMode {
  return typeof value === 'string' && (REPLICATION_MODES as readonly string[]).includes(value);
}

/**
 * Committed batches the shipper may be behind by. A batch is one group commit (hundreds of
 * records under load), so 4,096 batches is far more than a few seconds of peak traffic; a
 * stream that stalls longer than that stops the writer, not memory.
 */
export const REPLICATION_QUEUE_SLOTS = 4_096;
/** A full queue makes the writer sleep this long on the head word between checks. */
export const REPLICATION_QUEUE_FULL_WAIT_MS = 10;

const WORD_TAIL = 0;
const WORD_HEAD = 16;
const WORD_MODE = 32;
/** Last LSN the stream acknowledged, as two int32 halves (metrics and snapshots read it). */
const WORD_SHIPPED_LSN_HIGH = 33;
const WORD_SHIPPED_LSN_LOW = 34;
const CONTROL_WORDS = 48;
const SLOT_WORDS = 4;
const SLOT_LSN_HIGH = 0;
const SLOT_LSN_LOW = 1;
const SLOT_END = 2;
const SLOT_RECORDS = 3;
const UINT32_RANGE = 0x1_0000_0000;

export interface ReplicationEntry {
  /** LSN of the batch's last record. */
  lastLsn: number;
  /** Ring position after the batch's last frame (the durable position it allows). */
  endPosition: number;
  records: number;
}

export function createReplicationBuffer(mode: ReplicationMode): SharedArrayBuffer {
  const words = CONTROL_WORDS + REPLICATION_QUEUE_SLOTS * SLOT_WORDS;
  const buffer = new SharedArrayBuffer(words * Int32Array.BYTES_PER_ELEMENT);
  Atomics.store(new Int32Array(buffer), WORD_MODE, REPLICATION_MODES.indexOf(mode));
  return buffer;
}

export class ReplicationQueue {
  readonly words: Int32Array;
  readonly mode: ReplicationMode;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    const expected = CONTROL_WORDS + REPLICATION_QUEUE_SLOTS * SLOT_WORDS;
    assert(this.words.length === expected, 'not a replication queue buffer');
    const mode = REPLICATION_MODES[Atomics.load(this.words, WORD_MODE)];
    assert(mode !== undefined, 'replication queue has no valid mode');
    this.mode = mode;
  }

  /** Entries pushed and not yet popped. */
  size(): number {
    return (Atomics.load(this.words, WORD_TAIL) - Atomics.load(this.words, WORD_HEAD)) | 0;
  }

  // --- Writer side. ---

  /** Pushes an entry; false when the queue is full (the writer then waits for room). */
  push(lastLsn: number, endPosition: number, records: number): boolean {
    const tail = Atomics.load(this.words, WORD_TAIL);
    if (((tail - Atomics.load(this.words, WORD_HEAD)) | 0) >= REPLICATION_QUEUE_SLOTS) return false;
    const base = CONTROL_WORDS + (tail & (REPLICATION_QUEUE_SLOTS - 1)) * SLOT_WORDS;
    Atomics.store(this.words, base + SLOT_LSN_HIGH, Math.floor(lastLsn / UINT32_RANGE));
    Atomics.store(this.words, base + SLOT_LSN_LOW, (lastLsn % UINT32_RANGE) | 0);
    Atomics.store(this.words, base + SLOT_END, endPosition);
    Atomics.store(this.words, base + SLOT_RECORDS, records);
    // Publish: the shipper loads the tail before it reads the slot.
    Atomics.store(this.words, WORD_TAIL, (tail + 1) | 0);
    Atomics.notify(this.words, WORD_TAIL);
    return true;
  }

  /** Blocks (writer thread only) until the shipper frees a slot or `timeoutMs` passed. */
  waitForRoom(timeoutMs: number): void {
    const head = Atomics.load(this.words, WORD_HEAD);
    if (this.size() < REPLICATION_QUEUE_SLOTS) return;
    Atomics.wait(this.words, WORD_HEAD, head, timeoutMs);
  }

  // --- Shipper side. ---

  /** The entry `offset` places from the head (offset < size()). */
  peek(offset: number, into: ReplicationEntry): ReplicationEntry {
    const index = (Atomics.load(this.words, WORD_HEAD) + offset) & (REPLICATION_QUEUE_SLOTS - 1);
    const base = CONTROL_WORDS + index * SLOT_WORDS;
    into.lastLsn =
      Atomics.load(this.words, base + SLOT_LSN_HIGH) * UINT32_RANGE +
      (Atomics.load(this.words, base + SLOT_LSN_LOW) >>> 0);
    into.endPosition = Atomics.load(this.words, base + SLOT_END);
    into.records = Atomics.load(this.words, base + SLOT_RECORDS);
    return into;
  }

  /** Frees `count` entries from the head and wakes a writer waiting for room. */
  pop(count: number): void {
    assert(count >= 0 && count <= this.size(), 'popping more than the queue holds');
    Atomics.store(this.words, WORD_HEAD, (Atomics.load(this.words, WORD_HEAD) + count) | 0);
    Atomics.notify(this.words, WORD_HEAD);
  }

  /** Resolves once the queue holds an entry (at once if it does), or after `timeoutMs`. */
  waitForEntries(timeoutMs: number): Promise<void> {
    const tail = Atomics.load(this.words, WORD_TAIL);
    if (this.size() > 0) return Promise.resolve();
    type WaitAsync = (
      array: Int32Array,
      index: number,
      value: number,
      timeout: number,
    ) => { async: boolean; value: Promise<string> | string };
    const result = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(
      this.words,
      WORD_TAIL,
      tail,
      timeoutMs,
    );
    return result.async
      ? (result.value as Promise<string>).then(() => undefined)
      : Promise.resolve();
  }

  storeShippedLsn(lsn: number): void {
    Atomics.store(this.words, WORD_SHIPPED_LSN_HIGH, Math.floor(lsn / UINT32_RANGE));
    Atomics.store(this.words, WORD_SHIPPED_LSN_LOW, (lsn % UINT32_RANGE) | 0);
  }

  /** Last LSN the stream acknowledged (halves read separately: metrics and snapshots only). */
  shippedLsn(): number {
    return (
      Atomics.load(this.words, WORD_SHIPPED_LSN_HIGH) * UINT32_RANGE +
      (Atomics.load(this.words, WORD_SHIPPED_LSN_LOW) >>> 0)
    );
  }
}

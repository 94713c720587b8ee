/**
 * The order table: every live order and the idempotency record of finished ones, in shared
 * memory, so any thread can place, look up or move any order.
 *
 * Shape: a hash table of `capacity` slots grouped in buckets of BUCKET_SLOTS, with two-choice
 * hashing: an order id has two candidate buckets and lives in a slot of one of them; a new
 * order goes to the less loaded one, which keeps buckets from overflowing until the table is
 * nearly full (with one choice, a 16-slot bucket overflows at about 40 % load). One int32 lock
 * per bucket; everything done to an order (look-up, insert, every state transition) holds the
 * locks of both its buckets, taken in ascending order so two keys never deadlock. That is what
 * makes concurrent confirm / cancel / change / expire on one order have exactly one winner, and
 * makes a retried order id find the first placement instead of reserving twice.
 *
 * Memory: per bucket, one cache line of id hashes and one of stamps side by side (what a
 * look-up and a claim read), a lock word and an expiry hint; per slot, one compact record (order-slot.ts,
 * 128 bytes) in one buffer; and a shared pool of overflow blocks for allocation entries that do
 * not fit a record (overflow-pool.ts). Nothing is touched at start: the OS commits a page when
 * an order first lands on it (see README, "Memory", for the trade-off).
 *
 * Memory ordering: the locks are futex-style words (futex-lock.ts) taken and released with
 * sequentially consistent Atomics, so every plain write made to a bucket's hashes and stamps,
 * or to a slot's record, while holding the lock is visible to the next thread that takes it.
 * Fields read without the lock (a slot's state, for the expiry scan; the expiry hints) are
 * written with Atomics; such reads are hints and are checked again under the lock.
 *
 * When both buckets are full, the finished order (cancelled, expired, fulfilled) that changed
 * longest ago (to the second) is evicted, taking its idempotency record with it; live orders are
 * never evicted, so two buckets full of live orders refuse a new one (CAPACITY_EXHAUSTED), and
 * so does an order whose entries need overflow blocks the pool no longer has.
 *
 * Overflow blocks and the log: an operation takes the blocks it needs before it appends its
 * record, and gives back blocks it no longer needs only after. Replay (one thread, in log
 * order) then never needs more blocks than the live table held at some instant: at the moment
 * the last of the records up to any point took its blocks, every earlier record had taken
 * its own and none after it had freed any. So a log the live table accepted always replays.
 */

import { assert } from '../assert.js';
import { orderOverflowBlocks } from '../config.js';
import { BUCKET_SLOTS } from '../constants.js';
import { lockWord, unlockWord } from './futex-lock.js';
import {
  allocateOverflowPool,
  OverflowPool,
  type OverflowPoolBuffers,
  overflowPoolBytes,
} from './overflow-pool.js';
import {
  SLOT_BYTES,
  SlotRecords,
  STATE_CANCELLED,
  STATE_EXPIRED,
  STATE_FREE,
  STATE_FULFILLED,
  STATE_HELD,
} from './order-slot.js';

// The slot layout's names, for the modules that import them from the table.
export {
  FLAG_COMMIT,
  FLAG_SPLIT,
  STATE_CANCELLED,
  STATE_CONFIRMED,
  STATE_EXPIRED,
  STATE_FREE,
  STATE_FULFILLED,
  STATE_HELD,
} from './order-slot.js';

export interface OrderTableBuffers {
  /** Per bucket: the earliest hold deadline in it, in whole seconds, or NO_DEADLINE. */
  deadlines: SharedArrayBuffer;
  /**
   * Per bucket, BUCKET_BYTES: a cache line of its slots' id hashes, then a cache line of
   * their stamps (see BUCKET_HASHES, BUCKET_STAMPS). A look-up reads the hashes and touches
   * a slot's record only on a match; a claim reads the stamps. Side by side, the two lines
   * share a page, and the CPU's adjacent-line prefetch brings the second with the first.
   */
  buckets: SharedArrayBuffer;
  /** Per bucket: its lock word. */
  locks: SharedArrayBuffer;
  /** Per slot: its record, SLOT_BYTES (order-slot.ts). */
  slots: SharedArrayBuffer;
  /** The overflow blocks and the pool's control words (overflow-pool.ts). */
  overflow: OverflowPoolBuffers;
}

export interface OrderTableGeometry {
  orderCapacity: number;
}

export interface OrderTableConfig extends OrderTableGeometry {
  /** Longest wait for a bucket lock, in milliseconds (see `lockKey`). */
  lockWaitMsMax: number;
}

/** A bucket without holds. Seconds since the epoch fit uint32 until 2106. */
export const NO_DEADLINE = 0xffff_ffff;

// A bucket's lines (OrderTableBuffers.buckets), byte offsets within the bucket.
/** int32 per slot: the hash of its order id (0 while free). */
export const BUCKET_HASHES = 0;
/** uint32 per slot: its stamp, what claiming a slot needs to know (below). */
export const BUCKET_STAMPS = BUCKET_SLOTS * 4;
export const BUCKET_BYTES = BUCKET_STAMPS + BUCKET_SLOTS * 4;
/** Int32s of one bucket, and where its stamps start among them. */
const BUCKET_INTS = BUCKET_BYTES / 4;
const BUCKET_STAMPS_INT = BUCKET_STAMPS / 4;

/**
 * Slot stamps: SLOT_FREE, or SLOT_LIVE for a held or confirmed order, or for a finished one
 * the second it finished (+1): the finished order that changed longest ago is the one a full
 * bucket gives up.
 */
export const SLOT_FREE = 0;
export const SLOT_LIVE = 0xffff_ffff;

// Checked at load: `hashAt` relies on a power-of-two bucket of hashes then as many stamps.
assert((BUCKET_SLOTS & (BUCKET_SLOTS - 1)) === 0, 'buckets of a size that is not a power of two');
assert(BUCKET_HASHES === 0 && BUCKET_INTS === 2 * BUCKET_SLOTS, 'a bucket of other lines');

/** Where a slot's hash is among the buckets' int32s; its stamp is BUCKET_STAMPS_INT after. */
function hashAt(slot: number): number {
  // (slot / BUCKET_SLOTS) * BUCKET_INTS + slot % BUCKET_SLOTS, with BUCKET_INTS = 2 × slots.
  return slot + (slot & ~(BUCKET_SLOTS - 1));
}

/** The stamp of an order in `state` that last changed at `atMs`. */
function stampOf(state: number, atMs: number): number {
  if (state === STATE_FREE) return SLOT_FREE;
  if (!isFinished(state)) return SLOT_LIVE;
  return Math.min(Math.max(Math.floor(atMs / 1000), 0) + 1, SLOT_LIVE - 1);
}

/**
 * The table's memory, zeroed and untouched but for the expiry hints: the OS commits a page
 * when an order first lands on it, so resident memory follows the orders placed.
 */
export function allocateOrderTable(geometry: OrderTableGeometry): OrderTableBuffers {
  const slots = geometry.orderCapacity;
  const deadlines = new SharedArrayBuffer((slots / BUCKET_SLOTS) * 4);
  new Uint32Array(deadlines).fill(NO_DEADLINE);
  return {
    deadlines,
    buckets: new SharedArrayBuffer((slots / BUCKET_SLOTS) * BUCKET_BYTES),
    locks: new SharedArrayBuffer((slots / BUCKET_SLOTS) * 4),
    slots: new SharedArrayBuffer(slots * SLOT_BYTES),
    overflow: allocateOverflowPool(orderOverflowBlocks(geometry)),
  };
}

const PAGE_INTS = 4096 / 4;

/**
 * Writes every page of the table's buckets and records, so the OS commits them (memory.ts,
 * `commitOrderTable`). Each write is an `Atomics.add` of 0: it changes no value, so the
 * table may be in use, by any thread, meanwhile.
 */
export function touchOrderTable(buffers: OrderTableBuffers): void {
  for (const buffer of [buffers.buckets, buffers.locks, buffers.slots]) {
    const ints = new Int32Array(buffer);
    for (let at = 0; at < ints.length; at += PAGE_INTS) Atomics.add(ints, at, 0);
  }
}

/** Bytes of one slot: its record, hash and stamp, and its share of its bucket's lock and hint. */
export const ORDER_SLOT_BYTES = SLOT_BYTES + BUCKET_BYTES / BUCKET_SLOTS + 8 / BUCKET_SLOTS;

export function orderTableBytes(geometry: OrderTableGeometry): number {
  return (
    geometry.orderCapacity * ORDER_SLOT_BYTES + overflowPoolBytes(orderOverflowBlocks(geometry))
  );
}

export function isFinished(state: number): boolean {
  return state === STATE_CANCELLED || state === STATE_EXPIRED || state === STATE_FULFILLED;
}

export class OrderTable {
  readonly capacity: number;
  /** Every slot's record: the order's fields, id and allocation entries (order-slot.ts). */
  readonly records: SlotRecords;
  /** The buckets' lines as int32 (hashes) and as uint32 (stamps): see hashAt. */
  private readonly hashes: Int32Array;
  private readonly stamps: Uint32Array;
  private readonly locks: Int32Array;
  private readonly deadlines: Uint32Array;
  private readonly bucketMask: number;
  readonly bucketCount: number;
  private readonly lockWaitMsMax: number;

  constructor(geometry: OrderTableConfig, buffers: OrderTableBuffers) {
    this.lockWaitMsMax = geometry.lockWaitMsMax;
    this.capacity = geometry.orderCapacity;
    const pool = new OverflowPool(
      buffers.overflow,
      orderOverflowBlocks(geometry),
      geometry.lockWaitMsMax,
    );
    this.records = new SlotRecords(buffers.slots, this.capacity, pool);
    this.hashes = new Int32Array(buffers.buckets);
    this.stamps = new Uint32Array(buffers.buckets);
    this.locks = new Int32Array(buffers.locks);
    this.deadlines = new Uint32Array(buffers.deadlines);
    this.bucketMask = this.capacity / BUCKET_SLOTS - 1;
    this.bucketCount = this.bucketMask + 1;
    if (this.locks.length !== this.bucketMask + 1) throw new Error('order table: bad buffers');
  }

  /** The overflow pool the records share. */
  get pool(): OverflowPool {
    return this.records.pool;
  }

  /** The first candidate bucket of a key hash. */
  firstBucket(hash: number): number {
    return hash & this.bucketMask;
  }

  /** The second candidate bucket: an independent mix of the hash, never the first bucket. */
  secondBucket(hash: number): number {
    const first = hash & this.bucketMask;
    if (this.bucketMask === 0) return first;
    let mixed = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d);
    mixed ^= mixed >>> 12;
    const second = mixed & this.bucketMask;
    return second === first ? first ^ 1 : second;
  }

  /**
   * Takes the locks of both buckets of a key, lower bucket first. False, holding nothing, when
   * a lock stayed busy for longer than `lockWaitMsMax`: the caller answers LOCK_TIMEOUT.
   */
  lockKey(hash: number): boolean {
    const first = this.firstBucket(hash);
    const second = this.secondBucket(hash);
    const lower = Math.min(first, second);
    if (!this.lock(lower)) return false;
    if (first === second) return true;
    if (this.lock(Math.max(first, second))) return true;
    this.unlock(lower);
    return false;
  }

  unlockKey(hash: number): void {
    const first = this.firstBucket(hash);
    const second = this.secondBucket(hash);
    this.unlock(first);
    if (first !== second) this.unlock(second);
  }

  /** Finds a key's slot (its buckets locked); -1 when absent. */
  findKey(hash: number, key: Uint8Array, keyBytes: number): number {
    const slot = this.find(this.firstBucket(hash), hash, key, keyBytes);
    return slot >= 0 ? slot : this.find(this.secondBucket(hash), hash, key, keyBytes);
  }

  /**
   * A slot for a new key (its buckets locked): a free slot in the bucket with more free slots
   * (the first on a tie), else the finished order updated longest ago in either (ties to the
   * lower slot, so replay evicts the same one); -1 when both hold only live orders.
   */
  claimKey(hash: number): number {
    const first = this.firstBucket(hash);
    const second = this.secondBucket(hash);
    const freeFirst = this.freeSlots(first);
    const freeSecond = this.freeSlots(second);
    if (freeFirst > 0 || freeSecond > 0) {
      return this.firstFree(freeFirst >= freeSecond ? first : second);
    }
    const a = this.oldestFinished(first);
    const b = this.oldestFinished(second);
    if (a < 0) return b;
    if (b < 0) return a;
    const stampA = this.stamps[hashAt(a) + BUCKET_STAMPS_INT];
    const stampB = this.stamps[hashAt(b) + BUCKET_STAMPS_INT];
    if (stampA !== stampB) return stampA < stampB ? a : b;
    return Math.min(a, b);
  }

  /** Whether a slot belongs to one of a key's buckets. */
  slotFitsKey(slot: number, hash: number): boolean {
    const bucket = Math.floor(slot / BUCKET_SLOTS);
    return bucket === this.firstBucket(hash) || bucket === this.secondBucket(hash);
  }

  private freeSlots(bucket: number): number {
    const stamps = this.stamps;
    const base = bucket * BUCKET_INTS + BUCKET_STAMPS_INT;
    let free = 0;
    for (let at = base; at < base + BUCKET_SLOTS; at++) {
      if (stamps[at] === SLOT_FREE) free++;
    }
    return free;
  }

  private firstFree(bucket: number): number {
    const stamps = this.stamps;
    const base = bucket * BUCKET_INTS + BUCKET_STAMPS_INT;
    for (let at = 0; at < BUCKET_SLOTS; at++) {
      if (stamps[base + at] === SLOT_FREE) return bucket * BUCKET_SLOTS + at;
    }
    return -1;
  }

  /** Takes a bucket's lock, waiting at most `lockWaitMsMax`; false when it did not get it. */
  private lock(bucket: number): boolean {
    return lockWord(this.locks, bucket, this.lockWaitMsMax);
  }

  private unlock(bucket: number): void {
    unlockWord(this.locks, bucket);
  }

  /**
   * Records that the hold in `slot` expires at `expiresAt` (ms), called with the slot's key
   * locked, which includes the lock of the slot's own bucket. The bucket's hint only ever moves
   * earlier here; `refreshDeadline` moves it later. A hint that is too early costs a scan of
   * one bucket; it is never later than a hold in the bucket, so the sweep misses nothing.
   */
  noteDeadline(slot: number, expiresAt: number): void {
    const bucket = Math.floor(slot / BUCKET_SLOTS);
    const seconds = Math.floor(expiresAt / 1000);
    if (seconds < Atomics.load(this.deadlines, bucket))
      Atomics.store(this.deadlines, bucket, seconds);
  }

  /**
   * The first bucket from `from` on whose hint is due at `now` (ms), or bucketCount. The scan
   * reads hints with plain loads, not Atomics: a sweep reads every bucket's hint (262,144 of
   * them for 4 M slots, ten times a second), a plain load is several times cheaper, and a hint
   * is only a hint: an aligned Uint32 read never tears, a stale one is caught by the next sweep,
   * and every candidate is checked again under its lock.
   */
  nextDueBucket(from: number, now: number): number {
    const deadlines = this.deadlines;
    const nowSeconds = Math.floor(now / 1000);
    const count = this.bucketCount;
    let bucket = from;
    while (bucket < count && deadlines[bucket] > nowSeconds) bucket++;
    return bucket;
  }

  /** Recomputes a bucket's hint from its holds. Takes only that bucket's lock (or skips). */
  refreshDeadline(bucket: number): void {
    // A hint left too early only costs another scan of the bucket.
    if (!this.lock(bucket)) return;
    try {
      let earliest = NO_DEADLINE;
      const first = bucket * BUCKET_SLOTS;
      const records = this.records;
      for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
        if (records.state(slot) !== STATE_HELD) continue;
        const seconds = Math.floor(records.expiresAt(slot) / 1000);
        if (seconds < earliest) earliest = seconds;
      }
      Atomics.store(this.deadlines, bucket, earliest);
    } finally {
      this.unlock(bucket);
    }
  }

  state(slot: number): number {
    return this.records.state(slot);
  }

  /** Sets a slot's state (under its bucket lock); `atMs` is when the order changed. */
  setState(slot: number, state: number, atMs: number): void {
    assert(state >= STATE_HELD && state <= STATE_FULFILLED, 'a state that does not exist');
    this.stamps[hashAt(slot) + BUCKET_STAMPS_INT] = stampOf(state, atMs);
    this.records.storeState(slot, state);
  }

  /**
   * Whether a slot holds an order, read from its stamp: a scan of a quiescent table (export,
   * checks) reads 4 bytes per slot instead of a line of each record.
   */
  isUsed(slot: number): boolean {
    return this.stamps[hashAt(slot) + BUCKET_STAMPS_INT] !== SLOT_FREE;
  }

  /** The id hash of a slot's order (0 for a slot never used). */
  hashOf(slot: number): number {
    return this.hashes[hashAt(slot)];
  }

  private find(bucket: number, hash: number, key: Uint8Array, keyBytes: number): number {
    const hashes = this.hashes;
    const base = bucket * BUCKET_INTS;
    for (let at = 0; at < BUCKET_SLOTS; at++) {
      if (hashes[base + at] !== hash) continue;
      const slot = bucket * BUCKET_SLOTS + at;
      if (this.records.keyEquals(slot, key, keyBytes)) return slot;
    }
    return -1;
  }

  /**
   * The finished order that changed longest ago in a bucket, to the second (ties to the lower
   * slot, so replay evicts the same one); -1 if none.
   */
  private oldestFinished(bucket: number): number {
    const stamps = this.stamps;
    const base = bucket * BUCKET_INTS + BUCKET_STAMPS_INT;
    let victim = -1;
    let victimStamp = SLOT_LIVE;
    for (let at = 0; at < BUCKET_SLOTS; at++) {
      const stamp = stamps[base + at];
      if (stamp === SLOT_FREE || stamp === SLOT_LIVE) continue;
      if (stamp < victimStamp) {
        victim = bucket * BUCKET_SLOTS + at;
        victimStamp = stamp;
      }
    }
    return victim;
  }

  /**
   * Writes a new order's identity into a claimed slot (state is set by the caller last; the
   * entries, which follow the key in the record, next).
   */
  writeKey(slot: number, hash: number, key: Uint8Array, keyBytes: number): void {
    assert(this.slotFitsKey(slot, hash), "a slot outside its key's buckets");
    this.hashes[hashAt(slot)] = hash;
    this.records.writeKey(slot, key, keyBytes);
  }
}

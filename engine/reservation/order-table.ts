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
 * Memory ordering: the lock is taken with Atomics.compareExchange and released with
 * Atomics.store, both sequentially consistent, so every plain write made to a slot while
 * holding the lock (times, key bytes) is visible to the next thread that takes the lock. Fields
 * that are read without the lock (state, for the expiry scan) are written with Atomics; such
 * reads are hints and are checked again under the lock.
 *
 * When both buckets are full, the finished order (cancelled, expired, fulfilled) that changed
 * longest ago (to the second) is evicted, taking its idempotency record with it; live orders are
 * never evicted, so two buckets full of live orders refuse a new one (CAPACITY_EXHAUSTED).
 */

import { assert } from '../assert.js';
import { BUCKET_SLOTS, ID_BYTES_MAX, LOCK_SPINS_BEFORE_WAIT } from '../constants.js';

// Order states, as stored in M_STATE.
export const STATE_FREE = 0;
export const STATE_HELD = 1;
export const STATE_CONFIRMED = 2;
export const STATE_CANCELLED = 3;
export const STATE_EXPIRED = 4;
export const STATE_FULFILLED = 5;

// Int32 fields of a slot (the meta array). The id's hash lives apart, in `hashes`.
export const M_STATE = 0;
export const M_KEY_BYTES = 1;
export const M_ALLOCATION_COUNT = 2;
export const M_FLAGS = 3;
export const M_FINGERPRINT = 4;
export const META_INTS = 8;

// M_FLAGS bits.
export const FLAG_COMMIT = 1;
export const FLAG_SPLIT = 2;

// Float64 fields of a slot (the times array; locations and ETA live here too).
export const T_CREATED_AT = 0;
export const T_UPDATED_AT = 1;
export const T_EXPIRES_AT = 2;
export const T_LAT = 3;
export const T_LNG = 4;
export const T_ETA = 5;
export const TIMES_FLOATS = 6;

/** Allocation entries are (cell, qty) int32 pairs; cell = dc * skuCapacity + sku. */
export const A_CELL = 0;
export const A_QTY = 1;
export const ALLOCATION_INTS = 2;

// Bucket lock words, a futex-style mutex (Drepper, "Futexes Are Tricky", mutex 2): FREE, or
// HELD by one thread, or HELD with possible WAITERS asleep on the word, whom unlock wakes.
const LOCK_FREE = 0;
const LOCK_HELD = 1;
const LOCK_WAITERS = 2;

export interface OrderTableBuffers {
  /** Per bucket: the earliest hold deadline in it, in whole seconds, or NO_DEADLINE. */
  deadlines: SharedArrayBuffer;
  /**
   * Per slot: the hash of its order id (0 while free). A bucket's 16 hashes share one cache
   * line, so a look-up reads one line per bucket and touches a slot's other fields only on a
   * hash match: the look-up was the largest cost of placing an order in a full table.
   */
  hashes: SharedArrayBuffer;
  /**
   * Per slot, what claiming a slot needs to know, one cache line per bucket: SLOT_FREE, or
   * SLOT_LIVE for a held or confirmed order, or for a finished one the second it finished
   * (+1): the finished order that changed longest ago is the one a full bucket gives up.
   */
  stamps: SharedArrayBuffer;
  meta: SharedArrayBuffer;
  times: SharedArrayBuffer;
  keys: SharedArrayBuffer;
  allocations: SharedArrayBuffer;
  locks: SharedArrayBuffer;
}

export interface OrderTableGeometry {
  orderCapacity: number;
  allocationsPerOrderMax: number;
}

export interface OrderTableConfig extends OrderTableGeometry {
  /** Longest wait for a bucket lock, in milliseconds (see `lockKey`). */
  lockWaitMsMax: number;
}

/** A bucket without holds. Seconds since the epoch fit uint32 until 2106. */
export const NO_DEADLINE = 0xffff_ffff;

/** Slot stamps (see OrderTableBuffers.stamps). */
export const SLOT_FREE = 0;
export const SLOT_LIVE = 0xffff_ffff;

/** The stamp of an order in `state` that last changed at `atMs`. */
function stampOf(state: number, atMs: number): number {
  if (state === STATE_FREE) return SLOT_FREE;
  if (!isFinished(state)) return SLOT_LIVE;
  return Math.min(Math.max(Math.floor(atMs / 1000), 0) + 1, SLOT_LIVE - 1);
}

export function allocateOrderTable(geometry: OrderTableGeometry): OrderTableBuffers {
  const slots = geometry.orderCapacity;
  const deadlines = new SharedArrayBuffer((slots / BUCKET_SLOTS) * 4);
  new Uint32Array(deadlines).fill(NO_DEADLINE);
  const buffers = {
    deadlines,
    hashes: new SharedArrayBuffer(slots * 4),
    stamps: new SharedArrayBuffer(slots * 4),
    meta: new SharedArrayBuffer(slots * META_INTS * 4),
    times: new SharedArrayBuffer(slots * TIMES_FLOATS * 8),
    keys: new SharedArrayBuffer(slots * ID_BYTES_MAX),
    allocations: new SharedArrayBuffer(
      slots * geometry.allocationsPerOrderMax * ALLOCATION_INTS * 4,
    ),
    locks: new SharedArrayBuffer((slots / BUCKET_SLOTS) * 4),
  };
  for (const buffer of Object.values(buffers)) prefault(buffer);
  return buffers;
}

const PAGE_BYTES = 4096;

/**
 * Touches every page of a buffer so the OS commits it now, not on the order path: a fresh
 * slot's first write otherwise takes a page fault (the profile of the order path showed it).
 * The buffer is fresh, so writing a zero changes nothing.
 */
function prefault(buffer: SharedArrayBuffer): void {
  const bytes = new Uint8Array(buffer);
  for (let at = 0; at < bytes.length; at += PAGE_BYTES) bytes[at] = 0;
}

export function orderTableBytes(geometry: OrderTableGeometry): number {
  const perSlot =
    8 + META_INTS * 4 + TIMES_FLOATS * 8 + ID_BYTES_MAX + geometry.allocationsPerOrderMax * 8;
  return geometry.orderCapacity * perSlot + (geometry.orderCapacity / BUCKET_SLOTS) * 8;
}

export function isFinished(state: number): boolean {
  return state === STATE_CANCELLED || state === STATE_EXPIRED || state === STATE_FULFILLED;
}

export class OrderTable {
  readonly capacity: number;
  readonly allocationsMax: number;
  readonly meta: Int32Array;
  readonly times: Float64Array;
  readonly keys: Uint8Array;
  readonly allocations: Int32Array;
  /** The id hash of each slot (see OrderTableBuffers.hashes). */
  readonly hashes: Int32Array;
  private readonly stamps: Uint32Array;
  private readonly locks: Int32Array;
  private readonly deadlines: Uint32Array;
  private readonly bucketMask: number;
  readonly bucketCount: number;
  private readonly lockWaitMsMax: number;

  constructor(geometry: OrderTableConfig, buffers: OrderTableBuffers) {
    this.lockWaitMsMax = geometry.lockWaitMsMax;
    this.capacity = geometry.orderCapacity;
    this.allocationsMax = geometry.allocationsPerOrderMax;
    this.meta = new Int32Array(buffers.meta);
    this.times = new Float64Array(buffers.times);
    this.keys = new Uint8Array(buffers.keys);
    this.allocations = new Int32Array(buffers.allocations);
    this.hashes = new Int32Array(buffers.hashes);
    this.stamps = new Uint32Array(buffers.stamps);
    this.locks = new Int32Array(buffers.locks);
    this.deadlines = new Uint32Array(buffers.deadlines);
    this.bucketMask = this.capacity / BUCKET_SLOTS - 1;
    this.bucketCount = this.bucketMask + 1;
    if (this.locks.length !== this.bucketMask + 1) throw new Error('order table: bad buffers');
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
    const stampA = this.stamps[a];
    const stampB = this.stamps[b];
    if (stampA !== stampB) return stampA < stampB ? a : b;
    return Math.min(a, b);
  }

  /** Whether a slot belongs to one of a key's buckets. */
  slotFitsKey(slot: number, hash: number): boolean {
    const bucket = Math.floor(slot / BUCKET_SLOTS);
    return bucket === this.firstBucket(hash) || bucket === this.secondBucket(hash);
  }

  private isFree(slot: number): boolean {
    return this.stamps[slot] === SLOT_FREE;
  }

  private freeSlots(bucket: number): number {
    let free = 0;
    const first = bucket * BUCKET_SLOTS;
    for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
      if (this.isFree(slot)) free++;
    }
    return free;
  }

  private firstFree(bucket: number): number {
    const first = bucket * BUCKET_SLOTS;
    for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
      if (this.isFree(slot)) return slot;
    }
    return -1;
  }

  /** Takes a bucket's lock, waiting at most `lockWaitMsMax`; false when it did not get it. */
  private lock(bucket: number): boolean {
    const locks = this.locks;
    if (Atomics.compareExchange(locks, bucket, LOCK_FREE, LOCK_HELD) === LOCK_FREE) return true;
    // A holder keeps the lock for microseconds: spin a little before sleeping.
    for (let spin = 0; spin < LOCK_SPINS_BEFORE_WAIT; spin++) {
      if (
        Atomics.load(locks, bucket) === LOCK_FREE &&
        Atomics.compareExchange(locks, bucket, LOCK_FREE, LOCK_HELD) === LOCK_FREE
      ) {
        return true;
      }
    }
    // Mark the lock as having waiters and sleep until the holder's unlock wakes us. Taking it
    // by exchange leaves it marked, so our own unlock wakes whoever else may be asleep.
    const deadline = performance.now() + this.lockWaitMsMax;
    while (Atomics.exchange(locks, bucket, LOCK_WAITERS) !== LOCK_FREE) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(locks, bucket, LOCK_WAITERS, left);
    }
    return true;
  }

  private unlock(bucket: number): void {
    if (Atomics.exchange(this.locks, bucket, LOCK_FREE) === LOCK_WAITERS) {
      Atomics.notify(this.locks, bucket, 1);
    }
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
      for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
        if (this.meta[slot * META_INTS + M_STATE] !== STATE_HELD) continue;
        const seconds = Math.floor(this.times[slot * TIMES_FLOATS + T_EXPIRES_AT] / 1000);
        if (seconds < earliest) earliest = seconds;
      }
      Atomics.store(this.deadlines, bucket, earliest);
    } finally {
      this.unlock(bucket);
    }
  }

  state(slot: number): number {
    return Atomics.load(this.meta, slot * META_INTS + M_STATE);
  }

  /** Sets a slot's state (under its bucket lock); `atMs` is when the order changed. */
  setState(slot: number, state: number, atMs: number): void {
    assert(state >= STATE_HELD && state <= STATE_FULFILLED, `state ${state} for slot ${slot}`);
    this.stamps[slot] = stampOf(state, atMs);
    Atomics.store(this.meta, slot * META_INTS + M_STATE, state);
  }

  private find(bucket: number, hash: number, key: Uint8Array, keyBytes: number): number {
    const meta = this.meta;
    const keys = this.keys;
    const hashes = this.hashes;
    const first = bucket * BUCKET_SLOTS;
    for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
      if (hashes[slot] !== hash) continue;
      const base = slot * META_INTS;
      if (meta[base + M_STATE] === STATE_FREE || meta[base + M_KEY_BYTES] !== keyBytes) continue;
      const keyBase = slot * ID_BYTES_MAX;
      let same = true;
      for (let i = 0; i < keyBytes; i++) {
        if (keys[keyBase + i] !== key[i]) {
          same = false;
          break;
        }
      }
      if (same) return slot;
    }
    return -1;
  }

  /**
   * The finished order that changed longest ago in a bucket, to the second (ties to the lower
   * slot, so replay evicts the same one); -1 if none.
   */
  private oldestFinished(bucket: number): number {
    const stamps = this.stamps;
    const first = bucket * BUCKET_SLOTS;
    let victim = -1;
    let victimStamp = SLOT_LIVE;
    for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
      const stamp = stamps[slot];
      if (stamp === SLOT_FREE || stamp === SLOT_LIVE) continue;
      if (stamp < victimStamp) {
        victim = slot;
        victimStamp = stamp;
      }
    }
    return victim;
  }

  /** Writes a new order's identity into a claimed slot (state is set by the caller last). */
  writeKey(slot: number, hash: number, key: Uint8Array, keyBytes: number): void {
    assert(keyBytes > 0 && keyBytes <= ID_BYTES_MAX, `a key of ${keyBytes} bytes`);
    assert(this.slotFitsKey(slot, hash), `slot ${slot} is not in its key's buckets`);
    this.hashes[slot] = hash;
    this.meta[slot * META_INTS + M_KEY_BYTES] = keyBytes;
    const keys = this.keys;
    const keyBase = slot * ID_BYTES_MAX;
    for (let at = 0; at < keyBytes; at++) keys[keyBase + at] = key[at];
  }

  allocationBase(slot: number): number {
    return slot * this.allocationsMax * ALLOCATION_INTS;
  }

  allocationCount(slot: number): number {
    return this.meta[slot * META_INTS + M_ALLOCATION_COUNT];
  }
}

/**
 * The order table: every live order and the idempotency record of finished ones, in shared
 * memory, so any thread can place, look up or move any order.
 *
 * Shape: a hash table of `capacity` slots grouped in buckets of BUCKET_SLOTS. An order id hashes
 * to one bucket and lives in one of its slots. One int32 lock per bucket serialises everything
 * done to the orders of that bucket: look-up, insert, every state transition. That is what
 * makes concurrent confirm / cancel / change / expire on one order have exactly one winner, and
 * makes a retried order id find the first placement instead of reserving twice.
 *
 * Memory ordering: the lock is taken with Atomics.compareExchange and released with
 * Atomics.store, both sequentially consistent, so every plain write made to a slot while
 * holding the lock (times, key bytes) is visible to the next thread that takes the lock. Fields
 * that are read without the lock (state, for the expiry scan) are written with Atomics; such
 * reads are hints and are checked again under the lock.
 *
 * When a bucket is full, the finished order (cancelled, expired, fulfilled) that changed last
 * longest ago is evicted, taking its idempotency record with it; live orders are never evicted,
 * so a bucket full of live orders refuses new ones (CAPACITY_EXHAUSTED).
 */

import { BUCKET_SLOTS, ID_BYTES_MAX, LOCK_SPINS_MAX } from '../constants.js';

// Order states, as stored in M_STATE.
export const STATE_FREE = 0;
export const STATE_HELD = 1;
export const STATE_CONFIRMED = 2;
export const STATE_CANCELLED = 3;
export const STATE_EXPIRED = 4;
export const STATE_FULFILLED = 5;

// Int32 fields of a slot (the meta array).
export const M_STATE = 0;
/** Bumped every time the slot takes a new order; lets holders of a slot number detect reuse. */
export const M_GENERATION = 1;
export const M_KEY_HASH = 2;
export const M_KEY_BYTES = 3;
export const M_ALLOCATION_COUNT = 4;
export const M_FLAGS = 5;
export const M_FINGERPRINT = 6;
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

/** After this many failed spins a lock waiter sleeps for LOCK_WAIT_MS between tries. */
const LOCK_SPINS_BEFORE_WAIT = 1_000;
const LOCK_WAIT_MS = 0.05;

export interface OrderTableBuffers {
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

export function allocateOrderTable(geometry: OrderTableGeometry): OrderTableBuffers {
  const slots = geometry.orderCapacity;
  return {
    meta: new SharedArrayBuffer(slots * META_INTS * 4),
    times: new SharedArrayBuffer(slots * TIMES_FLOATS * 8),
    keys: new SharedArrayBuffer(slots * ID_BYTES_MAX),
    allocations: new SharedArrayBuffer(
      slots * geometry.allocationsPerOrderMax * ALLOCATION_INTS * 4,
    ),
    locks: new SharedArrayBuffer((slots / BUCKET_SLOTS) * 4),
  };
}

export function orderTableBytes(geometry: OrderTableGeometry): number {
  const perSlot =
    META_INTS * 4 + TIMES_FLOATS * 8 + ID_BYTES_MAX + geometry.allocationsPerOrderMax * 8;
  return geometry.orderCapacity * perSlot + (geometry.orderCapacity / BUCKET_SLOTS) * 4;
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
  private readonly locks: Int32Array;
  private readonly bucketMask: number;

  constructor(geometry: OrderTableGeometry, buffers: OrderTableBuffers) {
    this.capacity = geometry.orderCapacity;
    this.allocationsMax = geometry.allocationsPerOrderMax;
    this.meta = new Int32Array(buffers.meta);
    this.times = new Float64Array(buffers.times);
    this.keys = new Uint8Array(buffers.keys);
    this.allocations = new Int32Array(buffers.allocations);
    this.locks = new Int32Array(buffers.locks);
    this.bucketMask = this.capacity / BUCKET_SLOTS - 1;
    if (this.locks.length !== this.bucketMask + 1) throw new Error('order table: bad buffers');
  }

  bucketOf(hash: number): number {
    return hash & this.bucketMask;
  }

  lock(bucket: number): void {
    const locks = this.locks;
    for (let spin = 0; spin < LOCK_SPINS_MAX; spin++) {
      if (Atomics.compareExchange(locks, bucket, 0, 1) === 0) return;
      // A holder keeps the lock for microseconds; if it was descheduled, sleep briefly rather
      // than burn the core it needs to finish.
      if (spin >= LOCK_SPINS_BEFORE_WAIT) Atomics.wait(locks, bucket, 1, LOCK_WAIT_MS);
    }
    // A thread died holding the lock, or a bug forgot to release it: crash and recover.
    throw new Error(`order table: bucket ${bucket} lock never released`);
  }

  unlock(bucket: number): void {
    Atomics.store(this.locks, bucket, 0);
  }

  state(slot: number): number {
    return Atomics.load(this.meta, slot * META_INTS + M_STATE);
  }

  setState(slot: number, state: number): void {
    Atomics.store(this.meta, slot * META_INTS + M_STATE, state);
  }

  /** Finds the slot of a key in a locked bucket; -1 when absent. */
  find(bucket: number, hash: number, key: Uint8Array, keyBytes: number): number {
    const meta = this.meta;
    const keys = this.keys;
    const first = bucket * BUCKET_SLOTS;
    for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
      const base = slot * META_INTS;
      if (meta[base + M_STATE] === STATE_FREE) continue;
      if (meta[base + M_KEY_HASH] !== hash || meta[base + M_KEY_BYTES] !== keyBytes) continue;
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
   * A slot for a new order in a locked bucket: a free one, else the finished order that was
   * updated longest ago (ties go to the lowest slot, so replay evicts the same one); -1 if
   * every slot holds a live order.
   */
  claim(bucket: number): number {
    const first = bucket * BUCKET_SLOTS;
    let victim = -1;
    let victimUpdatedAt = Number.POSITIVE_INFINITY;
    for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
      const state = this.meta[slot * META_INTS + M_STATE];
      if (state === STATE_FREE) return slot;
      if (!isFinished(state)) continue;
      const updatedAt = this.times[slot * TIMES_FLOATS + T_UPDATED_AT];
      if (updatedAt < victimUpdatedAt) {
        victim = slot;
        victimUpdatedAt = updatedAt;
      }
    }
    return victim;
  }

  /** Writes a new order's identity into a claimed slot (state is set by the caller last). */
  writeKey(slot: number, hash: number, key: Uint8Array, keyBytes: number): void {
    const base = slot * META_INTS;
    this.meta[base + M_GENERATION]++;
    this.meta[base + M_KEY_HASH] = hash;
    this.meta[base + M_KEY_BYTES] = keyBytes;
    this.keys.set(key.subarray(0, keyBytes), slot * ID_BYTES_MAX);
  }

  allocationBase(slot: number): number {
    return slot * this.allocationsMax * ALLOCATION_INTS;
  }

  allocationCount(slot: number): number {
    return this.meta[slot * META_INTS + M_ALLOCATION_COUNT];
  }
}

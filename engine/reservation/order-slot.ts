/**
 * The order slot record: the one definition of its layout, and the only code that reads or
 * writes a slot's bytes. Everything else goes through `SlotRecords`.
 *
 * A slot is SLOT_BYTES (two cache lines) of one SharedArrayBuffer, at slot × SLOT_BYTES:
 *
 *   line 1   state, fingerprint, flags, key length, entry count, overflow chain,
 *            created / updated / expires at, lat, lng, ETA
 *   line 2   the payload: the order id's UTF-8 bytes, padded to ENTRY_BYTES, then as many
 *            allocation entries (cell, qty) as fit in the rest
 *
 * An id of 1-8 bytes leaves room for 7 entries inline, a 20-byte id for 5, a 36-byte UUID for
 * 3, a 64-byte id for none. Entries past the inline room continue, in order, in the slot's
 * chain of overflow blocks (overflow-pool.ts), 7 to a block. So an order costs its slot plus
 * one 64-byte block per 7 entries beyond its inline ones, and placing one touches one page of
 * the table (two adjacent lines) plus a block when it has many lines.
 *
 * Invariants:
 * - an id always fits the payload (ID_BYTES_MAX ≤ SLOT_PAYLOAD_BYTES, checked at load), so
 *   keys never overflow;
 * - a slot's chain holds at least the blocks its entry count needs; it holds more only
 *   between `reserveEntries` and the `writeEntries` that follows it;
 * - a slot that was never used is all zeros: state FREE, no chain (NO_BLOCK is 0).
 *
 * Memory ordering: the state word is written with Atomics.store and read with Atomics.load,
 * because the expiry scan reads it without the lock; every other field is written and read
 * under the lock of the slot's bucket, whose compare-exchange and exchange order them
 * (futex-lock.ts). The expiry scan's unlocked read of `expiresAt` is a hint, checked again
 * under the lock.
 */

import { assert } from '../assert.js';
import { ID_BYTES_MAX } from '../constants.js';
import {
  BLOCK_ENTRIES_INT,
  BLOCK_ENTRIES_MAX,
  BLOCK_INTS,
  blocksForEntries,
  ENTRY_BYTES,
  NO_BLOCK,
  type OverflowPool,
} from './overflow-pool.js';

/** Bytes of one slot record: two cache lines. */
export const SLOT_BYTES = 128;

// Byte offsets of the fields of a slot, with their types.
/** int32: STATE_*. Atomics only. */
export const SLOT_STATE = 0;
/** int32: the request's hash, to tell a retry from a reuse of the id. */
export const SLOT_FINGERPRINT = 4;
/** uint8: FLAG_* bits. */
export const SLOT_FLAGS = 8;
/** uint8: the id's length in bytes, 1 .. ID_BYTES_MAX. */
export const SLOT_KEY_BYTES = 9;
/** uint16: allocation entries, inline and in the chain. */
export const SLOT_ENTRY_COUNT = 10;
/** int32: the first block of the slot's overflow chain, or NO_BLOCK. */
export const SLOT_OVERFLOW = 12;
/** float64: ms since the epoch. */
export const SLOT_CREATED_AT = 16;
/** float64: when the order last changed, ms since the epoch. */
export const SLOT_UPDATED_AT = 24;
/** float64: the hold's deadline, ms since the epoch; 0 when the order is not held. */
export const SLOT_EXPIRES_AT = 32;
/** float64: the delivery location. */
export const SLOT_LAT = 40;
export const SLOT_LNG = 48;
/** float64: minutes. */
export const SLOT_ETA = 56;
/** The payload: key bytes, padded to ENTRY_BYTES, then inline entries (cell, qty int32s). */
export const SLOT_PAYLOAD = 64;
export const SLOT_PAYLOAD_BYTES = SLOT_BYTES - SLOT_PAYLOAD;

// Order states, the values of SLOT_STATE. A slot is FREE only until its first order.
export const STATE_FREE = 0;
export const STATE_HELD = 1;
export const STATE_CONFIRMED = 2;
export const STATE_CANCELLED = 3;
export const STATE_EXPIRED = 4;
export const STATE_FULFILLED = 5;

// FLAGS bits.
export const FLAG_COMMIT = 1;
export const FLAG_SPLIT = 2;

// Indexes of the fields in each typed view, relative to the slot's first element.
const SLOT_INTS = SLOT_BYTES / 4;
const SLOT_FLOATS = SLOT_BYTES / 8;
const SLOT_SHORTS = SLOT_BYTES / 2;
const INT_STATE = SLOT_STATE / 4;
const INT_FINGERPRINT = SLOT_FINGERPRINT / 4;
const INT_OVERFLOW = SLOT_OVERFLOW / 4;
const INT_PAYLOAD = SLOT_PAYLOAD / 4;
const SHORT_ENTRY_COUNT = SLOT_ENTRY_COUNT / 2;
const FLOAT_CREATED_AT = SLOT_CREATED_AT / 8;
const FLOAT_UPDATED_AT = SLOT_UPDATED_AT / 8;
const FLOAT_EXPIRES_AT = SLOT_EXPIRES_AT / 8;
const FLOAT_LAT = SLOT_LAT / 8;
const FLOAT_LNG = SLOT_LNG / 8;
const FLOAT_ETA = SLOT_ETA / 8;
/** Int32s of one entry, and the qty's index within it. */
const ENTRY_INTS = ENTRY_BYTES / 4;
const ENTRY_QTY_INT = 1;

// Checked at load: the fields tile the first line, and every id fits the payload.
assert(SLOT_ETA + 8 === SLOT_PAYLOAD && SLOT_PAYLOAD === 64, 'slot fields past the first line');
assert(ID_BYTES_MAX <= SLOT_PAYLOAD_BYTES, 'an order id longer than the slot payload');
assert(SLOT_PAYLOAD_BYTES % ENTRY_BYTES === 0, 'a payload of partial entries');
assert((ENTRY_BYTES & (ENTRY_BYTES - 1)) === 0, 'entries of a size that is not a power of two');

/** Entries a slot holds inline next to an id of `keyBytes` bytes. */
export function inlineEntries(keyBytes: number): number {
  return (SLOT_PAYLOAD_BYTES - keyPadded(keyBytes)) / ENTRY_BYTES;
}

/** Overflow blocks an order of `entries` entries needs with an id of `keyBytes` bytes. */
export function overflowBlocks(keyBytes: number, entries: number): number {
  return blocksForEntries(entries - inlineEntries(keyBytes));
}

/** The key's bytes rounded up to whole entries: where the inline entries start. */
function keyPadded(keyBytes: number): number {
  // ENTRY_BYTES is a power of two (checked at load).
  return (keyBytes + ENTRY_BYTES - 1) & -ENTRY_BYTES;
}

/** `reserveEntries` results: done, or the pool's POOL_SHORT / POOL_BUSY. */
export const ENTRIES_RESERVED = 0;

export class SlotRecords {
  private readonly ints: Int32Array;
  private readonly shorts: Uint16Array;
  private readonly floats: Float64Array;
  private readonly bytes: Uint8Array;

  constructor(
    buffer: SharedArrayBuffer,
    readonly capacity: number,
    readonly pool: OverflowPool,
  ) {
    assert(buffer.byteLength === capacity * SLOT_BYTES, 'slot records of the wrong size');
    this.ints = new Int32Array(buffer);
    this.shorts = new Uint16Array(buffer);
    this.floats = new Float64Array(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  state(slot: number): number {
    return Atomics.load(this.ints, slot * SLOT_INTS + INT_STATE);
  }

  /** Sets the state word; the stamp that goes with it is the table's (OrderTable.setState). */
  storeState(slot: number, state: number): void {
    Atomics.store(this.ints, slot * SLOT_INTS + INT_STATE, state);
  }

  fingerprint(slot: number): number {
    return this.ints[slot * SLOT_INTS + INT_FINGERPRINT];
  }

  setFingerprint(slot: number, fingerprint: number): void {
    this.ints[slot * SLOT_INTS + INT_FINGERPRINT] = fingerprint;
  }

  flags(slot: number): number {
    return this.bytes[slot * SLOT_BYTES + SLOT_FLAGS];
  }

  setFlags(slot: number, flags: number): void {
    assert(flags >= 0 && flags <= 0xff, 'slot flags past a byte');
    this.bytes[slot * SLOT_BYTES + SLOT_FLAGS] = flags;
  }

  keyBytes(slot: number): number {
    return this.bytes[slot * SLOT_BYTES + SLOT_KEY_BYTES];
  }

  entryCount(slot: number): number {
    return this.shorts[slot * SLOT_SHORTS + SHORT_ENTRY_COUNT];
  }

  createdAt(slot: number): number {
    return this.floats[slot * SLOT_FLOATS + FLOAT_CREATED_AT];
  }

  updatedAt(slot: number): number {
    return this.floats[slot * SLOT_FLOATS + FLOAT_UPDATED_AT];
  }

  expiresAt(slot: number): number {
    return this.floats[slot * SLOT_FLOATS + FLOAT_EXPIRES_AT];
  }

  lat(slot: number): number {
    return this.floats[slot * SLOT_FLOATS + FLOAT_LAT];
  }

  lng(slot: number): number {
    return this.floats[slot * SLOT_FLOATS + FLOAT_LNG];
  }

  etaMinutes(slot: number): number {
    return this.floats[slot * SLOT_FLOATS + FLOAT_ETA];
  }

  /** Sets when the order was created and last changed. */
  setTimes(slot: number, createdAt: number, updatedAt: number): void {
    const base = slot * SLOT_FLOATS;
    this.floats[base + FLOAT_CREATED_AT] = createdAt;
    this.floats[base + FLOAT_UPDATED_AT] = updatedAt;
  }

  setUpdatedAt(slot: number, at: number): void {
    this.floats[slot * SLOT_FLOATS + FLOAT_UPDATED_AT] = at;
  }

  setExpiresAt(slot: number, at: number): void {
    this.floats[slot * SLOT_FLOATS + FLOAT_EXPIRES_AT] = at;
  }

  setLocation(slot: number, lat: number, lng: number): void {
    const base = slot * SLOT_FLOATS;
    this.floats[base + FLOAT_LAT] = lat;
    this.floats[base + FLOAT_LNG] = lng;
  }

  setEtaMinutes(slot: number, minutes: number): void {
    this.floats[slot * SLOT_FLOATS + FLOAT_ETA] = minutes;
  }

  /**
   * Writes an order's id into its slot. The inline entries start after the key, so a new key
   * drops them: the caller writes the entries next (`writeEntries`). The chain stays.
   */
  writeKey(slot: number, key: Uint8Array, keyBytes: number): void {
    assert(keyBytes > 0 && keyBytes <= ID_BYTES_MAX, 'a key length out of range');
    const bytes = this.bytes;
    const base = slot * SLOT_BYTES;
    bytes[base + SLOT_KEY_BYTES] = keyBytes;
    this.shorts[slot * SLOT_SHORTS + SHORT_ENTRY_COUNT] = 0;
    const keyBase = base + SLOT_PAYLOAD;
    for (let at = 0; at < keyBytes; at++) bytes[keyBase + at] = key[at];
  }

  /** Whether a used slot holds the id `key[0 .. keyBytes)`. */
  keyEquals(slot: number, key: Uint8Array, keyBytes: number): boolean {
    const bytes = this.bytes;
    const base = slot * SLOT_BYTES;
    if (bytes[base + SLOT_KEY_BYTES] !== keyBytes || this.state(slot) === STATE_FREE) return false;
    const keyBase = base + SLOT_PAYLOAD;
    for (let at = 0; at < keyBytes; at++) {
      if (bytes[keyBase + at] !== key[at]) return false;
    }
    return true;
  }

  /** Copies a slot's id bytes into `out` (ID_BYTES_MAX long); returns their count. */
  keyInto(slot: number, out: Uint8Array): number {
    const base = slot * SLOT_BYTES;
    const keyBytes = this.bytes[base + SLOT_KEY_BYTES];
    for (let at = 0; at < keyBytes; at++) out[at] = this.bytes[base + SLOT_PAYLOAD + at];
    return keyBytes;
  }

  /** The slot's id as a string. */
  keyString(slot: number): string {
    const base = slot * SLOT_BYTES;
    const length = this.bytes[base + SLOT_KEY_BYTES];
    return Buffer.from(this.bytes.buffer, base + SLOT_PAYLOAD, length).toString('utf8');
  }

  /** Blocks in the slot's overflow chain. */
  chainBlocks(slot: number): number {
    let blocks = 0;
    const pool = this.pool;
    for (let block = this.ints[slot * SLOT_INTS + INT_OVERFLOW]; block !== NO_BLOCK; blocks++) {
      block = pool.next(block);
    }
    return blocks;
  }

  /**
   * Makes room for `count` entries next to an id of `keyBytes` bytes, taking blocks from the
   * pool when the slot's chain is too short. ENTRIES_RESERVED, or POOL_SHORT / POOL_BUSY with
   * nothing taken. Never shrinks the chain: `writeEntries` gives back what it does not use,
   * after the change is logged (see OrderTable on why frees follow the log).
   */
  reserveEntries(slot: number, keyBytes: number, count: number): number {
    const needed = overflowBlocks(keyBytes, count);
    if (needed === 0) return ENTRIES_RESERVED;
    const pool = this.pool;
    const headAt = slot * SLOT_INTS + INT_OVERFLOW;
    let tail = NO_BLOCK;
    let have = 0;
    for (let block = this.ints[headAt]; block !== NO_BLOCK; block = pool.next(block)) {
      tail = block;
      have++;
    }
    if (have >= needed) return ENTRIES_RESERVED;
    const taken = pool.take(needed - have);
    if (taken < 0) return taken;
    if (tail === NO_BLOCK) this.ints[headAt] = taken;
    else pool.link(tail, taken);
    return ENTRIES_RESERVED;
  }

  /** Copies a slot's entries into `cells` and `qtys` (in order); returns how many. */
  readEntries(slot: number, cells: Int32Array, qtys: Int32Array): number {
    const ints = this.ints;
    const count = this.entryCount(slot);
    const keyBytes = this.keyBytes(slot);
    const inline = Math.min(count, inlineEntries(keyBytes));
    let at = slot * SLOT_INTS + INT_PAYLOAD + keyPadded(keyBytes) / 4;
    for (let entry = 0; entry < inline; entry++, at += ENTRY_INTS) {
      cells[entry] = ints[at];
      qtys[entry] = ints[at + ENTRY_QTY_INT];
    }
    const pool = this.pool;
    const blocks = pool.ints;
    let entry = inline;
    for (let block = ints[slot * SLOT_INTS + INT_OVERFLOW]; entry < count; ) {
      assert(block !== NO_BLOCK, 'an overflow chain shorter than its entries');
      const end = Math.min(count, entry + BLOCK_ENTRIES_MAX);
      at = block * BLOCK_INTS + BLOCK_ENTRIES_INT;
      for (; entry < end; entry++, at += ENTRY_INTS) {
        cells[entry] = blocks[at];
        qtys[entry] = blocks[at + ENTRY_QTY_INT];
      }
      block = pool.next(block);
    }
    return count;
  }

  /**
   * Writes a slot's entries (its key written first: they follow it) into room reserved by
   * `reserveEntries`, and gives the blocks of the chain it no longer needs back to the pool.
   */
  writeEntries(slot: number, cells: Int32Array, qtys: Int32Array, count: number): void {
    assert(count >= 0 && count <= 0xffff, 'an entry count past its field');
    const ints = this.ints;
    const keyBytes = this.keyBytes(slot);
    const inline = Math.min(count, inlineEntries(keyBytes));
    let at = slot * SLOT_INTS + INT_PAYLOAD + keyPadded(keyBytes) / 4;
    for (let entry = 0; entry < inline; entry++, at += ENTRY_INTS) {
      ints[at] = cells[entry];
      ints[at + ENTRY_QTY_INT] = qtys[entry];
    }
    this.shorts[slot * SLOT_SHORTS + SHORT_ENTRY_COUNT] = count;
    const pool = this.pool;
    const blocks = pool.ints;
    let entry = inline;
    let last = NO_BLOCK;
    let block = ints[slot * SLOT_INTS + INT_OVERFLOW];
    for (; entry < count; block = pool.next(block)) {
      assert(block !== NO_BLOCK, 'entries written past their reserved room');
      const end = Math.min(count, entry + BLOCK_ENTRIES_MAX);
      at = block * BLOCK_INTS + BLOCK_ENTRIES_INT;
      for (; entry < end; entry++, at += ENTRY_INTS) {
        blocks[at] = cells[entry];
        blocks[at + ENTRY_QTY_INT] = qtys[entry];
      }
      last = block;
    }
    if (block === NO_BLOCK) return;
    // `block` starts the part of the chain these entries do not use: detach it and free it.
    if (last === NO_BLOCK) ints[slot * SLOT_INTS + INT_OVERFLOW] = NO_BLOCK;
    else pool.link(last, NO_BLOCK);
    pool.free(block);
  }
}

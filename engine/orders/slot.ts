/**
 * Orders in and out of their slots: a placement's record written into a slot, a slot read
 * out as an answer (answers.ts) or as snapshot fields, snapshot fields written back, and the
 * checks `verify` makes of a used slot. The record's layout is order-slot.ts's alone; this
 * file speaks in its fields.
 *
 * Allocation entries are stored as (cell, qty) with cell = dc × skuCapacity + sku; log records
 * and snapshots carry them as flat (dc, sku, qty) triples. `cells` and `qtys` are this thread's
 * scratch for one slot's entries, valid until the next read.
 *
 * Every call is made under the lock of the slot's buckets (or on a table no other thread
 * uses: replay, import, checks of a quiescent engine).
 */

import { type OrderAnswers, etaTenths } from '../answers.js';
import type { EngineContext } from '../context.js';
import { ID_BYTES_MAX } from '../constants.js';
import { SnapshotImportError } from '../failure.js';
import type { LogRecord } from '../log.js';
import {
  ENTRIES_RESERVED,
  FLAG_COMMIT,
  FLAG_SPLIT,
  overflowBlocks,
  STATE_FULFILLED,
  STATE_HELD,
} from '../reservation/order-slot.js';
import { POOL_BUSY, POOL_SHORT } from '../reservation/overflow-pool.js';
import { hashBytes } from '../validate.js';
import type { OrderParser } from './parse.js';

/** The fields of an exported order (Engine's OrderSnapshot). */
export interface OrderSnapshotFields {
  slot: number;
  orderId: string;
  state: number;
  flags: number;
  fingerprint: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
  lat: number;
  lng: number;
  etaMinutes: number;
  /** Flat triples: dc, sku, qty. */
  allocation: number[];
}

/**
 * `reserve` results: room made, or the overflow pool has too few blocks left, or its lock
 * stayed busy for the whole bounded wait (nothing taken in either case).
 */
export const ROOM_RESERVED = ENTRIES_RESERVED;
export const ROOM_SHORT = POOL_SHORT;
export const ROOM_BUSY = POOL_BUSY;

export class SlotCodec {
  /** One slot's entries, read by `readEntries` or staged for `writeEntries`. */
  readonly cells: Int32Array;
  readonly qtys: Int32Array;
  private readonly keyScratch = new Uint8Array(ID_BYTES_MAX);

  constructor(private readonly context: EngineContext) {
    this.cells = new Int32Array(context.config.allocationsPerOrderMax);
    this.qtys = new Int32Array(context.config.allocationsPerOrderMax);
  }

  /** Reads a slot's entries into `cells` and `qtys`; returns how many. */
  readEntries(slot: number): number {
    return this.context.orders.records.readEntries(slot, this.cells, this.qtys);
  }

  /** Writes the first `count` entries of `cells` and `qtys` into a slot (room reserved). */
  writeEntries(slot: number, count: number): void {
    this.context.orders.records.writeEntries(slot, this.cells, this.qtys, count);
  }

  /**
   * Makes room in a slot for `entries` entries next to an id of `keyBytes` bytes, before the
   * change that needs it is logged: ROOM_RESERVED, or ROOM_SHORT / ROOM_BUSY with nothing
   * taken.
   */
  reserve(slot: number, keyBytes: number, entries: number): number {
    return this.context.orders.records.reserveEntries(slot, keyBytes, entries);
  }

  /** Stages flat (dc, sku, qty) triples as entries; returns how many. */
  stageTriples(triples: readonly number[]): number {
    const skuCapacity = this.context.config.skuCapacity;
    const count = triples.length / 3;
    if (count > this.cells.length) throw new Error('orders: an allocation past its maximum');
    for (let entry = 0; entry < count; entry++) {
      this.cells[entry] = triples[entry * 3] * skuCapacity + triples[entry * 3 + 1];
      this.qtys[entry] = triples[entry * 3 + 2];
    }
    return count;
  }

  /** Writes flat triples as a slot's entries (room reserved). */
  writeTriples(slot: number, triples: readonly number[]): void {
    this.writeEntries(slot, this.stageTriples(triples));
  }

  /** The slot's entries (read into `cells` and `qtys`) as flat triples. */
  triplesOf(slot: number): number[] {
    const skuCapacity = this.context.config.skuCapacity;
    const count = this.readEntries(slot);
    const triples = new Array<number>(count * 3);
    for (let entry = 0; entry < count; entry++) {
      const cell = this.cells[entry];
      triples[entry * 3] = Math.floor(cell / skuCapacity);
      triples[entry * 3 + 1] = cell % skuCapacity;
      triples[entry * 3 + 2] = this.qtys[entry];
    }
    return triples;
  }

  /**
   * Writes a placed order into its claimed slot: id, fields and entries (room reserved). The
   * state is the caller's to set, last.
   */
  writePlaced(
    slot: number,
    hash: number,
    parser: OrderParser,
    record: Extract<LogRecord, { type: 'place' }>,
  ): void {
    const { orders } = this.context;
    const records = orders.records;
    orders.writeKey(slot, hash, parser.key, parser.keyBytes);
    records.setFlags(
      slot,
      (record.mode === 1 ? FLAG_COMMIT : 0) | (record.policy === 1 ? FLAG_SPLIT : 0),
    );
    records.setFingerprint(slot, record.fingerprint);
    records.setTimes(slot, record.at, record.at);
    records.setExpiresAt(slot, record.expiresAt);
    records.setLocation(slot, record.lat, record.lng);
    records.setEtaMinutes(slot, record.etaMinutes);
    this.writeTriples(slot, record.allocation);
  }

  touch(slot: number, at: number): void {
    this.context.orders.records.setUpdatedAt(slot, at);
  }

  keyString(slot: number): string {
    return this.context.orders.records.keyString(slot);
  }

  /**
   * Appends the order in `slot` to `answers` as it is now. For a placement (created, or a
   * retry with the same lines), `lines` is the parser holding them, and each allocation entry
   * names the request line it serves; otherwise `lines` is null and the line is -1.
   */
  writeAnswer(
    slot: number,
    orderId: string,
    result: number,
    answers: OrderAnswers,
    lines: OrderParser | null,
  ): void {
    const { orders, config } = this.context;
    const records = orders.records;
    const at = answers.beginOrder(orderId, result);
    const flags = records.flags(slot);
    const state = records.state(slot);
    answers.state[at] = state;
    answers.commit[at] = (flags & FLAG_COMMIT) !== 0 ? 1 : 0;
    answers.split[at] = (flags & FLAG_SPLIT) !== 0 ? 1 : 0;
    answers.etaTenths[at] = etaTenths(records.etaMinutes(slot));
    answers.expiresAt[at] = state === STATE_HELD ? records.expiresAt(slot) : 0;
    answers.createdAt[at] = records.createdAt(slot);
    answers.updatedAt[at] = records.updatedAt(slot);
    answers.lat[at] = records.lat(slot);
    answers.lng[at] = records.lng(slot);
    const count = this.readEntries(slot);
    const skuCapacity = config.skuCapacity;
    for (let entry = 0; entry < count; entry++) {
      const cell = this.cells[entry];
      const sku = cell % skuCapacity;
      const line = lines === null ? -1 : lines.lineOf(sku);
      answers.addAllocation(at, Math.floor(cell / skuCapacity), sku, this.qtys[entry], line);
    }
  }

  /** A used slot as snapshot fields. */
  exportOrder(slot: number): OrderSnapshotFields {
    const records = this.context.orders.records;
    return {
      slot,
      orderId: records.keyString(slot),
      state: records.state(slot),
      flags: records.flags(slot),
      fingerprint: records.fingerprint(slot),
      createdAt: records.createdAt(slot),
      updatedAt: records.updatedAt(slot),
      expiresAt: records.expiresAt(slot),
      lat: records.lat(slot),
      lng: records.lng(slot),
      etaMinutes: records.etaMinutes(slot),
      allocation: this.triplesOf(slot),
    };
  }

  /**
   * Writes exported fields into their slot of a fresh table (the id already encoded into
   * `parser`, its hash checked against the slot's buckets).
   */
  importOrder(order: OrderSnapshotFields, hash: number, parser: OrderParser): void {
    const { orders } = this.context;
    const records = orders.records;
    const slot = order.slot;
    const count = order.allocation.length / 3;
    if (this.reserve(slot, parser.keyBytes, count) !== ROOM_RESERVED) {
      const message = 'snapshot: the overflow pool is smaller than the data (orderOverflowBlocks)';
      throw new SnapshotImportError('CONFIG_TOO_SMALL', message);
    }
    orders.writeKey(slot, hash, parser.key, parser.keyBytes);
    records.setFlags(slot, order.flags);
    records.setFingerprint(slot, order.fingerprint);
    records.setTimes(slot, order.createdAt, order.updatedAt);
    records.setExpiresAt(slot, order.expiresAt);
    records.setLocation(slot, order.lat, order.lng);
    records.setEtaMinutes(slot, order.etaMinutes);
    this.writeTriples(slot, order.allocation);
    orders.setState(slot, order.state, order.updatedAt);
    if (order.state === STATE_HELD) orders.noteDeadline(slot, order.expiresAt);
  }

  /**
   * What is wrong with a used slot (verify): its state, its key's length, hash and bucket, its
   * entry count and its overflow chain. Returns how many overflow blocks it owns, so the
   * caller can account for the pool.
   */
  checkSlot(slot: number, problems: string[]): number {
    const { orders, config } = this.context;
    const records = orders.records;
    const state = records.state(slot);
    if (state < STATE_HELD || state > STATE_FULFILLED)
      problems.push(`slot ${slot}: state ${state}`);
    const chain = records.chainBlocks(slot);
    const keyBytes = records.keyInto(slot, this.keyScratch);
    if (keyBytes <= 0 || keyBytes > ID_BYTES_MAX) {
      problems.push(`slot ${slot}: a key of ${keyBytes} bytes`);
      return chain;
    }
    const hash = hashBytes(this.keyScratch, keyBytes);
    if (hash !== orders.hashOf(slot))
      problems.push(`slot ${slot}: its hash does not match its key`);
    if (!orders.slotFitsKey(slot, hash)) problems.push(`slot ${slot}: not in its key's buckets`);
    const count = records.entryCount(slot);
    if (count > config.allocationsPerOrderMax) {
      problems.push(`slot ${slot}: ${count} allocation entries`);
    } else if (chain !== overflowBlocks(keyBytes, count)) {
      problems.push(`slot ${slot}: ${chain} overflow blocks for ${count} entries`);
    }
    return chain;
  }
}

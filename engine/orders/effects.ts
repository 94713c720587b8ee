/**
 * The effect of each logged order transition on stock and on the order's slot, shared by the
 * live engine and replay so both move stock exactly alike; and the observer's notices of
 * live changes.
 *
 * Logging discipline (see log.ts): `logAndApply` appends the record before applying it, while
 * the caller holds the order's bucket locks, so a record that frees units is in the log before
 * the units show in the counters; and overflow blocks an order gives back go to the pool only
 * after its record is logged (see OrderTable on why).
 */

import type { EngineContext } from '../context.js';
import type { LogRecord } from '../log.js';
import {
  STATE_CANCELLED,
  STATE_CONFIRMED,
  STATE_EXPIRED,
  STATE_FULFILLED,
} from '../reservation/order-slot.js';
import type { OrderEventType } from '../types.js';
import type { SlotCodec } from './slot.js';
import { statusName } from './views.js';

export type OrderRecord = Extract<LogRecord, { orderId: string }>;

const EVENT_TYPES: Record<OrderRecord['type'], OrderEventType> = {
  place: 'placed',
  confirm: 'confirmed',
  cancel: 'cancelled',
  expire: 'expired',
  extend: 'extended',
  change: 'changed',
  fulfil: 'fulfilled',
};

export class OrderEffects {
  constructor(
    private readonly context: EngineContext,
    private readonly slots: SlotCodec,
  ) {}

  /** Appends a transition's record, applies it and tells the observer (live only). */
  logAndApply(slot: number, record: OrderRecord): void {
    this.context.lastTicket = this.context.log.append(record);
    this.applyToSlot(slot, record);
    this.notify(slot, record);
  }

  /** The stock and state effect of a logged transition (not place or change). */
  applyToSlot(slot: number, record: LogRecord): void {
    const orders = this.context.orders;
    switch (record.type) {
      case 'confirm':
        if (record.released.length > 0) this.releaseParts(slot, record.released);
        orders.records.setExpiresAt(slot, 0);
        orders.setState(slot, STATE_CONFIRMED, record.at);
        break;
      case 'cancel':
      case 'expire':
        this.moveAll(slot, false);
        orders.setState(
          slot,
          record.type === 'cancel' ? STATE_CANCELLED : STATE_EXPIRED,
          record.at,
        );
        break;
      case 'extend':
        orders.records.setExpiresAt(slot, record.expiresAt);
        // The bucket's hint only moves earlier here: a later deadline leaves it early (a
        // wasted scan), an earlier one must pull it forward or the sweep misses the hold.
        orders.noteDeadline(slot, record.expiresAt);
        break;
      case 'fulfil':
        this.moveAll(slot, true);
        orders.setState(slot, STATE_FULFILLED, record.at);
        break;
      default:
        throw new Error(`orders: cannot apply ${record.type} to a slot`);
    }
    this.slots.touch(slot, record.at);
  }

  /**
   * A basket change: the old units go back, the new allocation is taken as logged, and the
   * slot holds it (replay; the live change has already moved the counters).
   */
  applyChange(slot: number, record: Extract<LogRecord, { type: 'change' }>): void {
    const stock = this.context.stock;
    this.moveAll(slot, false);
    const triples = record.allocation;
    for (let at = 0; at < triples.length; at += 3) {
      stock.forceReserve(triples[at], triples[at + 1], triples[at + 2]);
    }
    this.writeChanged(slot, record);
  }

  /** Writes a change's allocation and time into its slot (room reserved before the log). */
  writeChanged(slot: number, record: Extract<LogRecord, { type: 'change' }>): void {
    this.slots.writeTriples(slot, record.allocation);
    this.context.orders.records.setEtaMinutes(slot, record.etaMinutes);
    this.slots.touch(slot, record.at);
  }

  /** Every unit the order holds goes back to available (release) or leaves (pick). */
  private moveAll(slot: number, pick: boolean): void {
    const { stock, config } = this.context;
    const slots = this.slots;
    const count = slots.readEntries(slot);
    for (let entry = 0; entry < count; entry++) {
      const cell = slots.cells[entry];
      const dc = Math.floor(cell / config.skuCapacity);
      const sku = cell % config.skuCapacity;
      if (pick) stock.pick(dc, sku, slots.qtys[entry]);
      else stock.release(dc, sku, slots.qtys[entry]);
    }
  }

  /**
   * A partial confirm: releases each (dc, sku, qty) of `released` from the order's first
   * entry at that cell, dropping entries left empty, and writes the shrunk allocation back.
   */
  private releaseParts(slot: number, released: readonly number[]): void {
    const { stock, config } = this.context;
    const slots = this.slots;
    const { cells, qtys } = slots;
    let count = slots.readEntries(slot);
    for (let at = 0; at < released.length; at += 3) {
      const dc = released[at];
      const sku = released[at + 1];
      const qty = released[at + 2];
      const cell = dc * config.skuCapacity + sku;
      let entry = 0;
      while (entry < count && cells[entry] !== cell) entry++;
      if (entry === count) {
        throw new Error(`orders: release of a cell the order does not hold (${dc}, ${sku})`);
      }
      if (qtys[entry] < qty) throw new Error('orders: release exceeds holding');
      qtys[entry] -= qty;
      stock.release(dc, sku, qty);
      if (qtys[entry] > 0) continue;
      cells.copyWithin(entry, entry + 1, count);
      qtys.copyWithin(entry, entry + 1, count);
      count--;
    }
    slots.writeEntries(slot, count);
  }

  /** Tells the observer which cells a live change moved and what happened to the order. */
  notify(slot: number, record: OrderRecord): void {
    const { observer, orders, config } = this.context;
    if (observer === null) return;
    if (record.type === 'confirm') {
      const released = record.released;
      for (let at = 0; at < released.length; at += 3)
        observer.stockChanged(released[at], released[at + 1]);
    } else if (record.type !== 'extend') {
      const slots = this.slots;
      const count = slots.readEntries(slot);
      for (let entry = 0; entry < count; entry++) {
        const cell = slots.cells[entry];
        observer.stockChanged(Math.floor(cell / config.skuCapacity), cell % config.skuCapacity);
      }
    }
    observer.orderEvent({
      type: EVENT_TYPES[record.type],
      orderId: record.orderId,
      status: statusName(orders.state(slot)),
      at: record.at,
    });
  }
}

/**
 * The order book of one thread: placement, the lifecycle, expiry, replay and the order
 * table's export, import and checks, over the shared order table. It wires the parts (each in
 * its own file) to one thread's scratch; the Engine calls it.
 */

import type { OrderAnswers } from '../answers.js';
import type { EngineContext } from '../context.js';
import { STATE_CONFIRMED, STATE_FREE, STATE_HELD } from '../reservation/order-slot.js';
import type {
  BasketCheckResult,
  OrderLineInput,
  OrderRequest,
  OrderResult,
  PlaceOrderInput,
} from '../types.js';
import { OrderEffects, type OrderRecord } from './effects.js';
import { Expiry } from './expiry.js';
import { Lifecycle } from './lifecycle.js';
import { OrderParser } from './parse.js';
import { Placement } from './place.js';
import { Replay } from './replay.js';
import { type OrderSnapshotFields, SlotCodec } from './slot.js';

export class OrderBook {
  private readonly parser: OrderParser;
  private readonly slots: SlotCodec;
  private readonly expiry: Expiry;
  private readonly placement: Placement;
  private readonly lifecycle: Lifecycle;
  private readonly replayer: Replay;

  constructor(private readonly context: EngineContext) {
    this.parser = new OrderParser(context);
    this.slots = new SlotCodec(context);
    const effects = new OrderEffects(context, this.slots);
    this.expiry = new Expiry(context, effects);
    this.placement = new Placement(context, this.parser, this.slots, effects, this.expiry);
    this.lifecycle = new Lifecycle(
      context,
      this.parser,
      this.placement,
      this.slots,
      effects,
      this.expiry,
    );
    this.replayer = new Replay(context, this.parser, this.slots, effects);
  }

  placeInto(request: OrderRequest, answers: OrderAnswers): void {
    this.placement.placeInto(request, answers);
  }

  placeOrder(input: PlaceOrderInput): OrderResult {
    return this.placement.placeOrder(input);
  }

  checkBasket(input: PlaceOrderInput): BasketCheckResult {
    return this.placement.checkBasket(input);
  }

  confirm(orderId: string, lines?: readonly OrderLineInput[]): OrderResult {
    return this.lifecycle.confirm(orderId, lines);
  }

  cancel(orderId: string): OrderResult {
    return this.lifecycle.cancel(orderId);
  }

  cancelInto(orderId: string, answers: OrderAnswers): void {
    this.lifecycle.cancelInto(orderId, answers);
  }

  extend(orderId: string, ttlSeconds: number): OrderResult {
    return this.lifecycle.extend(orderId, ttlSeconds);
  }

  changeOrder(orderId: string, lines: readonly OrderLineInput[]): OrderResult {
    return this.lifecycle.changeOrder(orderId, lines);
  }

  fulfil(orderId: string): OrderResult {
    return this.lifecycle.fulfil(orderId);
  }

  getOrder(orderId: string): OrderResult {
    return this.lifecycle.getOrder(orderId);
  }

  expireDue(): number {
    return this.expiry.expireDue();
  }

  replay(record: OrderRecord): void {
    this.replayer.replay(record);
  }

  /** Every used slot as snapshot fields, in slot order (a quiescent table). */
  exportOrders(): OrderSnapshotFields[] {
    const orders = this.context.orders;
    const exported: OrderSnapshotFields[] = [];
    for (let slot = 0; slot < orders.capacity; slot++) {
      if (orders.isUsed(slot)) exported.push(this.slots.exportOrder(slot));
    }
    return exported;
  }

  /** Restores orders exported by `exportOrders` into their original slots of a fresh table. */
  importOrders(snapshots: readonly OrderSnapshotFields[]): void {
    const orders = this.context.orders;
    const parser = this.parser;
    for (const order of snapshots) {
      if (parser.encodeKey(order.orderId) < 0) {
        throw new Error(`snapshot: bad order id ${JSON.stringify(order.orderId)}`);
      }
      const hash = parser.keyHash();
      if (!Number.isInteger(order.slot) || order.slot < 0 || order.slot >= orders.capacity) {
        throw new Error(`snapshot: order ${order.orderId} has no slot ${order.slot}`);
      }
      if (!orders.slotFitsKey(order.slot, hash)) {
        throw new Error(`snapshot: order ${order.orderId} is in the wrong bucket`);
      }
      if (orders.state(order.slot) !== STATE_FREE) throw new Error('snapshot: slot used twice');
      this.slots.importOrder(order, hash, this.parser);
    }
  }

  /**
   * O(capacity) check of every used slot of a quiescent table (verify): each slot's identity,
   * entries and chain, the overflow pool's accounting, and the units live orders hold per
   * cell (cell → units, added to `held`) for the caller to compare with the counters.
   */
  checkOrders(held: Map<number, number>): string[] {
    const { orders, config } = this.context;
    const problems: string[] = [];
    const cells = config.dcCapacity * config.skuCapacity;
    const slots = this.slots;
    let owned = 0;
    for (let slot = 0; slot < orders.capacity; slot++) {
      if (!orders.isUsed(slot)) continue;
      owned += slots.checkSlot(slot, problems);
      const state = orders.state(slot);
      if (state !== STATE_HELD && state !== STATE_CONFIRMED) continue;
      const count = slots.readEntries(slot);
      if (count === 0) problems.push(`slot ${slot}: a live order holds nothing`);
      for (let entry = 0; entry < count; entry++) {
        const cell = slots.cells[entry];
        const qty = slots.qtys[entry];
        if (cell < 0 || cell >= cells || qty <= 0) {
          problems.push(`slot ${slot}: allocation entry ${entry} is (${cell}, ${qty})`);
        }
        held.set(cell, (held.get(cell) ?? 0) + qty);
      }
    }
    problems.push(...orders.pool.checkAccounting(owned));
    return problems;
  }
}

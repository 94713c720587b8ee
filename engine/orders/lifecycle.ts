/**
 * The lifecycle of a placed order: confirm (in full, or in part releasing the rest), cancel,
 * extend a hold, change a held basket in place, fulfil, and look up.
 *
 * Every operation runs under the locks of the order's buckets, so racing operations on one
 * order serialise and exactly one of them moves the stock; a hold past its deadline is expired
 * first. A repeat of a transition already made (confirm a confirmed order, cancel a cancelled
 * one, fulfil a fulfilled one) answers the order and changes nothing. Each transition is a
 * live decision here followed by its effect (effects.ts), which replay shares.
 */

import { type OrderAnswers, RESULT_EXISTS } from '../answers.js';
import type { EngineContext } from '../context.js';
import { HOLD_TTL_SECONDS_MAX } from '../constants.js';
import { fail, lockTimeout } from '../failure.js';
import type { LogRecord } from '../log.js';
import {
  FLAG_SPLIT,
  STATE_CANCELLED,
  STATE_CONFIRMED,
  STATE_FULFILLED,
  STATE_HELD,
} from '../reservation/order-slot.js';
import type { Failure, OrderLineInput, OrderRequest, OrderResult } from '../types.js';
import { isCount, isIntInRange } from '../validate.js';
import type { OrderEffects } from './effects.js';
import type { Expiry } from './expiry.js';
import type { OrderParser } from './parse.js';
import { type Placement, roomRefusal } from './place.js';
import { ROOM_RESERVED, type SlotCodec } from './slot.js';
import { orderResultOf, statusName } from './views.js';

const OP_GET = 0;
const OP_CONFIRM = 1;
const OP_CANCEL = 2;
const OP_EXTEND = 3;
const OP_CHANGE = 4;
const OP_FULFIL = 5;

export class Lifecycle {
  constructor(
    private readonly context: EngineContext,
    private readonly parser: OrderParser,
    private readonly placement: Placement,
    private readonly slots: SlotCodec,
    private readonly effects: OrderEffects,
    private readonly expiry: Expiry,
  ) {}

  confirm(orderId: string, lines?: readonly OrderLineInput[]): OrderResult {
    return this.transition(orderId, OP_CONFIRM, lines, 0);
  }

  cancel(orderId: string): OrderResult {
    return this.transition(orderId, OP_CANCEL, undefined, 0);
  }

  extend(orderId: string, ttlSeconds: number): OrderResult {
    if (!isIntInRange(ttlSeconds, 1, HOLD_TTL_SECONDS_MAX)) return fail('BAD_TTL');
    return this.transition(orderId, OP_EXTEND, undefined, ttlSeconds);
  }

  changeOrder(orderId: string, lines: readonly OrderLineInput[]): OrderResult {
    return this.transition(orderId, OP_CHANGE, lines, 0);
  }

  fulfil(orderId: string): OrderResult {
    return this.transition(orderId, OP_FULFIL, undefined, 0);
  }

  getOrder(orderId: string): OrderResult {
    return this.transition(orderId, OP_GET, undefined, 0);
  }

  /** Cancels an order and appends the answer to `answers` (the typed twin of `cancel`). */
  cancelInto(orderId: string, answers: OrderAnswers): void {
    this.transitionInto(orderId, OP_CANCEL, undefined, 0, answers);
  }

  private transition(
    orderId: string,
    op: number,
    lines: readonly OrderLineInput[] | undefined,
    ttlSeconds: number,
  ): OrderResult {
    const answers = this.context.answers;
    answers.reset();
    this.transitionInto(orderId, op, lines, ttlSeconds, answers);
    return orderResultOf(answers, 0, this.context);
  }

  private transitionInto(
    orderId: string,
    op: number,
    lines: readonly OrderLineInput[] | undefined,
    ttlSeconds: number,
    answers: OrderAnswers,
  ): void {
    const context = this.context;
    context.lastTicket = 0;
    const parser = this.parser;
    if (parser.encodeKey(orderId) < 0) {
      answers.refuse(String(orderId), fail('BAD_ORDER_ID').error);
      return;
    }
    if (op !== OP_GET && !context.log.writable()) {
      answers.refuse(orderId, fail('READ_ONLY').error);
      return;
    }
    const orders = context.orders;
    const hash = parser.keyHash();
    if (!orders.lockKey(hash)) {
      answers.refuse(orderId, lockTimeout(context.config.lockWaitMsMax).error);
      return;
    }
    try {
      const slot = orders.findKey(hash, parser.key, parser.keyBytes);
      if (slot < 0) {
        answers.refuse(orderId, fail('ORDER_NOT_FOUND').error);
        return;
      }
      this.expiry.expireIfDue(slot, orderId);
      const refusal = this.decide(slot, orderId, op, lines, ttlSeconds);
      if (refusal !== null) answers.refuse(orderId, refusal.error);
      else this.slots.writeAnswer(slot, orderId, RESULT_EXISTS, answers, null);
    } finally {
      orders.unlockKey(hash);
    }
  }

  /** Makes the transition `op` on a locked slot; a refusal, or null when done (or a no-op). */
  private decide(
    slot: number,
    orderId: string,
    op: number,
    lines: readonly OrderLineInput[] | undefined,
    ttlSeconds: number,
  ): Failure | null {
    const context = this.context;
    const state = context.orders.state(slot);
    switch (op) {
      case OP_GET:
        return null;
      case OP_CONFIRM:
        if (state === STATE_CONFIRMED) return null;
        if (state !== STATE_HELD) return this.wrongState(slot, 'confirm');
        return this.confirmHeld(slot, orderId, lines);
      case OP_CANCEL:
        if (state === STATE_CANCELLED) return null;
        if (state !== STATE_HELD && state !== STATE_CONFIRMED)
          return this.wrongState(slot, 'cancel');
        this.effects.logAndApply(slot, { type: 'cancel', at: context.clock(), orderId });
        return null;
      case OP_EXTEND: {
        if (state !== STATE_HELD) return this.wrongState(slot, 'extend');
        const at = context.clock();
        const expiresAt = at + ttlSeconds * 1000;
        this.effects.logAndApply(slot, { type: 'extend', at, orderId, expiresAt });
        return null;
      }
      case OP_CHANGE:
        if (state !== STATE_HELD) return this.wrongState(slot, 'change');
        return this.changeHeld(slot, orderId, lines);
      case OP_FULFIL:
        if (state === STATE_FULFILLED) return null;
        if (state !== STATE_CONFIRMED) return this.wrongState(slot, 'fulfil');
        this.effects.logAndApply(slot, { type: 'fulfil', at: context.clock(), orderId });
        return null;
    }
    throw new Error(`orders: unknown transition ${op}`);
  }

  private wrongState(slot: number, action: string): Failure {
    const status = statusName(this.context.orders.state(slot));
    return fail('INVALID_STATE', `cannot ${action} an order that is ${status}`, { status });
  }

  private confirmHeld(
    slot: number,
    orderId: string,
    lines: readonly OrderLineInput[] | undefined,
  ): Failure | null {
    const released: number[] = [];
    if (lines !== undefined) {
      const keep = this.keptQuantities(lines);
      if (!(keep instanceof Map)) return keep;
      const invalid = this.planPartialConfirm(slot, keep, released);
      if (invalid !== null) return invalid;
    }
    this.effects.logAndApply(slot, {
      type: 'confirm',
      at: this.context.clock(),
      orderId,
      released,
    });
    return null;
  }

  /** A partial confirm's lines as SKU index → quantity kept, or a refusal. */
  private keptQuantities(lines: readonly OrderLineInput[]): Map<number, number> | Failure {
    const { catalogue, config } = this.context;
    if (!Array.isArray(lines)) return fail('BAD_REQUEST', 'lines must be an array');
    if (lines.length > config.linesPerOrderMax) return fail('TOO_MANY_LINES');
    const keep = new Map<number, number>();
    for (const line of lines) {
      if (typeof line !== 'object' || line === null)
        return fail('BAD_REQUEST', 'a line must be an object');
      const sku = typeof line.sku === 'string' ? catalogue.skuIndexes.get(line.sku) : undefined;
      if (sku === undefined) return fail('UNKNOWN_SKU', `unknown SKU ${String(line.sku)}`);
      if (!isCount(line.qty)) return fail('BAD_QUANTITY', 'a confirmed quantity is an int32 ≥ 0');
      if (keep.has(sku)) return fail('DUPLICATE_LINE');
      keep.set(sku, line.qty);
    }
    return keep;
  }

  /**
   * Works out what a partial confirm releases: for each SKU, the order keeps the listed
   * quantity from its entries in allocation order (nearest DC first) and releases the rest.
   * SKUs not listed are released whole.
   */
  private planPartialConfirm(
    slot: number,
    keep: Map<number, number>,
    released: number[],
  ): Failure | null {
    const { catalogue, config } = this.context;
    const { cells, qtys } = this.slots;
    const count = this.slots.readEntries(slot);
    const skuCapacity = config.skuCapacity;
    const held = new Map<number, number>();
    for (let entry = 0; entry < count; entry++) {
      const sku = cells[entry] % skuCapacity;
      held.set(sku, (held.get(sku) ?? 0) + qtys[entry]);
    }
    let kept = 0;
    for (const [sku, qty] of keep) {
      const have = held.get(sku);
      const id = catalogue.skus[sku].id;
      if (have === undefined) return fail('BAD_FIELD', `SKU ${id} is not in this order`);
      if (qty > have) return fail('BAD_QUANTITY', `cannot confirm more of ${id} than is held`);
      kept += qty;
    }
    if (kept === 0)
      return fail('EMPTY_ORDER', 'a partial confirm keeps at least one unit; cancel instead');
    for (let entry = 0; entry < count; entry++) {
      const cell = cells[entry];
      const qty = qtys[entry];
      const sku = cell % skuCapacity;
      const keepLeft = keep.get(sku) ?? 0;
      const keepHere = Math.min(keepLeft, qty);
      keep.set(sku, keepLeft - keepHere);
      if (qty > keepHere) released.push(Math.floor(cell / skuCapacity), sku, qty - keepHere);
    }
    return null;
  }

  /**
   * Replaces a held basket in place. The order's own units count as available to it (as
   * credit), so its hold never blocks its new quantities; what the new basket does not use
   * goes back after the change is logged.
   */
  private changeHeld(
    slot: number,
    orderId: string,
    lines: readonly OrderLineInput[] | undefined,
  ): Failure | null {
    const context = this.context;
    const records = context.orders.records;
    const parsed = this.parser.linesOf(lines);
    if ('ok' in parsed) return parsed;
    const input: OrderRequest = {
      orderId,
      lat: records.lat(slot),
      lng: records.lng(slot),
      mode: 'hold',
      policy: (records.flags(slot) & FLAG_SPLIT) !== 0 ? 'split' : 'single-dc',
      ttlSeconds: undefined,
      maxMinutes: undefined,
      skus: parsed.skus,
      qty: parsed.qty,
      lineStart: 0,
      lineCount: parsed.skus.length,
    };
    const invalid = this.parser.parseLines(input);
    if (invalid !== null) return invalid;
    const refusal = this.allocateWithCredit(slot, input);
    if (refusal !== null) return refusal;
    const record: Extract<LogRecord, { type: 'change' }> = {
      type: 'change',
      at: context.clock(),
      orderId,
      fingerprint: records.fingerprint(slot),
      etaMinutes: this.placement.allocation.etaMinutes,
      expiresAt: records.expiresAt(slot),
      allocation: this.placement.allocationTriples(),
    };
    context.lastTicket = context.log.append(record);
    this.giveBackCredit();
    this.effects.writeChanged(slot, record);
    this.notifyCredit();
    this.effects.notify(slot, record);
    return null;
  }

  /**
   * Allocates a changed basket with the order's current entries as credit, and makes room in
   * its slot for the new entries; a refusal (nothing taken) or null.
   */
  private allocateWithCredit(slot: number, input: OrderRequest): Failure | null {
    const { config, stock, orders } = this.context;
    const allocation = this.placement.allocation;
    allocation.reset();
    const { cells, qtys } = this.slots;
    const count = this.slots.readEntries(slot);
    for (let entry = 0; entry < count; entry++) {
      const cell = cells[entry];
      allocation.addCredit(
        Math.floor(cell / config.skuCapacity),
        cell % config.skuCapacity,
        qtys[entry],
      );
    }
    const refusal = this.placement.allocate(input, false, true);
    if (refusal !== null) return refusal;
    const keyBytes = orders.records.keyBytes(slot);
    const room = this.slots.reserve(slot, keyBytes, allocation.count);
    if (room === ROOM_RESERVED) return null;
    allocation.rollback(stock);
    return roomRefusal(room, config.lockWaitMsMax);
  }

  /** Live: the new allocation's extra units are already taken; unused credit goes back. */
  private giveBackCredit(): void {
    const allocation = this.placement.allocation;
    for (let at = 0; at < allocation.creditCount; at++) {
      const left = allocation.creditLeft[at];
      if (left > 0)
        this.context.stock.release(allocation.creditDc[at], allocation.creditSku[at], left);
    }
  }

  /** The cells a changed basket left; the new ones are reported by `notify`. */
  private notifyCredit(): void {
    const observer = this.context.observer;
    if (observer === null) return;
    const allocation = this.placement.allocation;
    for (let at = 0; at < allocation.creditCount; at++) {
      observer.stockChanged(allocation.creditDc[at], allocation.creditSku[at]);
    }
  }
}

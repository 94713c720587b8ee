/**
 * Replay of order records from the log: each record makes the state change the live engine
 * made, in the same slot (claims and evictions depend only on the records before it), with
 * the same stock effect (effects.ts). Replay runs alone on its table, so a busy lock, an order
 * placed twice, a transition of an unknown order or a table without room are corruption or a
 * bug, and throw.
 */

import type { EngineContext } from '../context.js';
import type { LogRecord } from '../log.js';
import { STATE_CONFIRMED, STATE_HELD } from '../reservation/order-slot.js';
import type { OrderEffects, OrderRecord } from './effects.js';
import type { OrderParser } from './parse.js';
import { ROOM_RESERVED, type SlotCodec } from './slot.js';

export class Replay {
  constructor(
    private readonly context: EngineContext,
    private readonly parser: OrderParser,
    private readonly slots: SlotCodec,
    private readonly effects: OrderEffects,
  ) {}

  /** Applies an order record from the log. */
  replay(record: OrderRecord): void {
    const orders = this.context.orders;
    const parser = this.parser;
    if (parser.encodeKey(record.orderId) < 0) {
      throw new Error(`replay: bad order id ${JSON.stringify(record.orderId)}`);
    }
    const hash = parser.keyHash();
    if (!orders.lockKey(hash)) throw new Error(`replay: the lock of ${record.orderId} is held`);
    try {
      const slot = orders.findKey(hash, parser.key, parser.keyBytes);
      if (record.type === 'place') {
        if (slot >= 0) throw new Error(`replay: order ${record.orderId} placed twice`);
        this.place(hash, record);
        return;
      }
      if (slot < 0) throw new Error(`replay: ${record.type} of unknown order ${record.orderId}`);
      if (record.type === 'change') {
        this.reserve(slot, parser.keyBytes, record.allocation, record.orderId);
        this.effects.applyChange(slot, record);
        return;
      }
      this.effects.applyToSlot(slot, record);
    } finally {
      orders.unlockKey(hash);
    }
  }

  private place(hash: number, record: Extract<LogRecord, { type: 'place' }>): void {
    const { orders, stock } = this.context;
    const slot = orders.claimKey(hash);
    if (slot < 0) throw new Error(`replay: no room for order ${record.orderId}`);
    this.reserve(slot, this.parser.keyBytes, record.allocation, record.orderId);
    const triples = record.allocation;
    for (let at = 0; at < triples.length; at += 3) {
      stock.forceReserve(triples[at], triples[at + 1], triples[at + 2]);
    }
    this.slots.writePlaced(slot, hash, this.parser, record);
    orders.setState(slot, record.mode === 1 ? STATE_CONFIRMED : STATE_HELD, record.at);
    if (record.mode === 0) orders.noteDeadline(slot, record.expiresAt);
  }

  /**
   * Room for a record's entries. The live table had it when the record was logged, and
   * replay never needs more (OrderTable), so a pool without it is smaller than the data's.
   */
  private reserve(slot: number, keyBytes: number, triples: readonly number[], orderId: string) {
    if (this.slots.reserve(slot, keyBytes, triples.length / 3) === ROOM_RESERVED) return;
    throw new Error(
      `replay: the overflow pool has no room for order ${orderId}; ` +
        'orderOverflowBlocks is smaller than the data needs',
    );
  }
}

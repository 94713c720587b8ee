/**
 * The engine's O(capacity) invariants, for tests and `verify` runs on a quiescent engine:
 *
 * - conservation: at every cell, onHand − available equals the units live orders hold there;
 * - no counter past QUANTITY_MAX;
 * - every used slot of the order table is consistent: a known state, its key in one of its
 *   key's buckets, allocation entries of positive quantities at cells that exist, a live
 *   order holding something, an overflow chain of the length its entries need;
 * - the overflow pool loses no block: blocks in chains plus blocks free equal blocks handed out.
 */

import { QUANTITY_MAX } from './constants.js';
import type { EngineContext } from './context.js';
import type { OrderBook } from './orders/index.js';

export function checkInvariants(context: EngineContext, book: OrderBook): string[] {
  const { stock, catalogue, config } = context;
  const held = new Map<number, number>();
  const problems = book.checkOrders(held);
  for (let dc = 0; dc < catalogue.dcs.length; dc++) {
    for (let sku = 0; sku < catalogue.skus.length; sku++) {
      const reserved = stock.onHand(dc, sku) - stock.available(dc, sku);
      const expected = held.get(dc * config.skuCapacity + sku) ?? 0;
      if (reserved !== expected) {
        problems.push(`cell ${dc}/${sku}: counters reserve ${reserved}, orders hold ${expected}`);
      }
      if (stock.onHand(dc, sku) > QUANTITY_MAX) problems.push(`cell ${dc}/${sku}: overflow`);
    }
  }
  return problems;
}

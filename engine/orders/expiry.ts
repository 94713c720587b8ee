/**
 * Hold expiry: lazily, when an operation touches a hold past its deadline, and by the sweep
 * (`expireDue`) the node runs several times a second.
 *
 * The sweep reads each bucket's earliest-deadline hint and skips buckets whose hint lies in
 * the future without reading their slots, so it costs one read per bucket plus the buckets
 * with something due. A slot's state and deadline read without the lock are hints: the
 * expiry itself happens under the order's bucket locks, after checking them again.
 */

import type { EngineContext } from '../context.js';
import { BUCKET_SLOTS } from '../constants.js';
import type { LogRecord } from '../log.js';
import { STATE_EXPIRED, STATE_HELD } from '../reservation/order-slot.js';
import type { OrderEffects } from './effects.js';

export class Expiry {
  constructor(
    private readonly context: EngineContext,
    private readonly effects: OrderEffects,
  ) {}

  /** Expires a hold whose deadline passed (called under the order's bucket locks). */
  expireIfDue(slot: number, orderId: string): void {
    const orders = this.context.orders;
    if (orders.state(slot) !== STATE_HELD) return;
    const now = this.context.clock();
    if (orders.records.expiresAt(slot) > now) return;
    const record: LogRecord = { type: 'expire', at: now, orderId };
    this.effects.logAndApply(slot, record);
  }

  /** Expires every hold past its deadline; returns how many. */
  expireDue(): number {
    const orders = this.context.orders;
    const now = this.context.clock();
    let expired = 0;
    for (
      let bucket = orders.nextDueBucket(0, now);
      bucket < orders.bucketCount;
      bucket = orders.nextDueBucket(bucket + 1, now)
    ) {
      const first = bucket * BUCKET_SLOTS;
      for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
        // Unlocked reads are a hint; the state and deadline are checked again under the lock.
        if (orders.state(slot) !== STATE_HELD) continue;
        if (orders.records.expiresAt(slot) > now) continue;
        if (this.expireLocked(slot)) expired++;
      }
      orders.refreshDeadline(bucket);
    }
    return expired;
  }

  /** Takes the locks of the order in `slot` and expires it if still due; whether it did. */
  private expireLocked(slot: number): boolean {
    const orders = this.context.orders;
    // The key hash is only written under the key's locks; if the slot was reused between
    // the unlocked read and the lock, the checks below see the new order.
    const hash = orders.hashOf(slot);
    // A lock held for that long: this hold is expired by a later sweep.
    if (!orders.lockKey(hash)) return false;
    try {
      if (orders.hashOf(slot) !== hash || orders.state(slot) !== STATE_HELD) return false;
      this.expireIfDue(slot, orders.records.keyString(slot));
      return orders.state(slot) === STATE_EXPIRED;
    } finally {
      orders.unlockKey(hash);
    }
  }
}

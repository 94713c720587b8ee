/**
 * The source of the order event stream, on the main thread: follows the log's durable LSN,
 * reads the newly durable records back from LMDB, and writes one event per order record into
 * the shared ring (order-event-ring.ts) with the record's LSN. The workers push from the ring.
 *
 * Why from the log and not from the engine as changes happen: the log gives one total order
 * (the LSN) that survives a restart, so a consumer can resume exactly where it stopped; and an
 * event is only shown once its change is durable, so no consumer ever sees an order a crash
 * then forgets.
 *
 * Cost: nothing while no worker has an orders subscriber (THROUGH just follows the durable
 * LSN; workers that gain a subscriber read the gap from the log themselves); otherwise one
 * LMDB read and one record decode per durable record, at most TAIL_RECORDS_PER_TICK per tick.
 */

import type { LogRecord } from '../engine/index.js';
import type { OrderEventType, OrderStatus } from '../protocol/index.js';
import type { LogReader } from '../wal/index.js';
import type { OrderEventWriter } from './order-event-ring.js';

/**
 * Records read per tick. The tail runs every ORDER_EVENT_TAIL_MS (10 ms) and a worker reads
 * the ring every subscription tick (20 ms): two tail ticks write at most half of the 65,536
 * slots, so a worker on time is never lapped (one that is reads the gap from the log).
 */
export const TAIL_RECORDS_PER_TICK = 16_384;

/** The event a record of the log makes, or null for records that are not about an order. */
export function orderEventOf(
  record: LogRecord,
): { type: OrderEventType; status: OrderStatus } | null {
  switch (record.type) {
    case 'place':
      return { type: 'placed', status: record.mode === 1 ? 'confirmed' : 'held' };
    case 'confirm':
      return { type: 'confirmed', status: 'confirmed' };
    case 'cancel':
      return { type: 'cancelled', status: 'cancelled' };
    case 'expire':
      return { type: 'expired', status: 'expired' };
    case 'fulfil':
      return { type: 'fulfilled', status: 'fulfilled' };
    // Only a held order can be changed or extended, and it stays held.
    case 'change':
      return { type: 'changed', status: 'held' };
    case 'extend':
      return { type: 'extended', status: 'held' };
    default:
      return null;
  }
}

export class OrderEventTail {
  private readonly visit = (lsn: number, record: LogRecord): void => {
    const event = orderEventOf(record);
    if (event === null) return;
    const orderId = (record as { orderId: string }).orderId;
    this.writer.write(lsn, event.type, orderId, event.status, record.at);
  };

  constructor(
    private readonly writer: OrderEventWriter,
    private readonly reader: LogReader,
    /** The newest durable LSN. */
    private readonly durableLsn: () => number,
  ) {}

  /** Publishes what became durable since the last tick; returns the events' LSN range end. */
  tick(): number {
    const durable = this.durableLsn();
    const through = this.writer.through();
    if (durable <= through) return through;
    if (this.writer.subscribers() === 0) {
      this.writer.skipThrough(durable);
      return durable;
    }
    if (this.writer.skipping()) this.writer.resume();
    const next = this.reader.read(through + 1, durable, TAIL_RECORDS_PER_TICK, this.visit);
    this.writer.publishThrough(next - 1);
    return next - 1;
  }
}

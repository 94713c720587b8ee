/**
 * The change feed between a node's threads: which stock cells changed, and the low-stock
 * alerts the main thread derived from them. Each thread's engine reports its own changes to a
 * `ChangeCollector` (the engine observer); every tick the thread publishes the distinct cells
 * on a `FeedChannel` (a BroadcastChannel named per node, reaching every other thread) and
 * evaluates them itself. Order events are only counted here: the order event stream reads them
 * from the durable log, in log order (order-event-tail.ts).
 *
 * Invariants: the observer path allocates nothing (CellSet, counter increments);
 * a full CellSet is published at once rather than grown; every message is structured-cloneable.
 */

import { BroadcastChannel } from 'node:worker_threads';
import type { EngineObserver, OrderEvent } from '../engine/index.js';
import type { LowStockAlert } from '../protocol/index.js';
import { CellSet } from './cell-set.js';
import { ORDER_EVENT_TYPES, orderEventTypeIndex } from './order-event-ring.js';

export type FeedMessage =
  /** Cells (dc × skuCapacity + sku) whose stock changed, from thread `from`. */
  | { type: 'cells'; from: number; cells: Int32Array }
  /** Low-stock crossings, from the main thread. */
  | { type: 'alerts'; alerts: LowStockAlert[] };

/** The engine observer of one thread. */
export class ChangeCollector implements EngineObserver {
  readonly cells: CellSet;
  /** Order events this thread's engine reported, by type (ORDER_EVENT_TYPES order). */
  readonly eventCounts = new Float64Array(ORDER_EVENT_TYPES.length);

  constructor(
    private readonly skuCapacity: number,
    cellsMax: number,
    /** Called when the cell set is full: publish it now, then collecting goes on. */
    private readonly onFull: () => void,
  ) {
    this.cells = new CellSet(cellsMax);
  }

  stockChanged(dc: number, sku: number): void {
    const cell = dc * this.skuCapacity + sku;
    if (this.cells.add(cell)) return;
    this.onFull();
    this.cells.add(cell);
  }

  orderEvent(event: OrderEvent): void {
    this.eventCounts[orderEventTypeIndex(event.type)]++;
  }
}

/** One thread's end of the node's feed channel. */
export class FeedChannel {
  private readonly channel: BroadcastChannel;

  constructor(name: string, onMessage: (message: FeedMessage) => void) {
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (event) => onMessage((event as { data: FeedMessage }).data);
    // The channel alone never keeps a thread alive: listen sockets and timers decide that.
    this.channel.unref();
  }

  /** Delivers `message` to every other thread of the node (not to this one). */
  post(message: FeedMessage): void {
    this.channel.postMessage(message);
  }

  close(): void {
    this.channel.close();
  }
}

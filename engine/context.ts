/**
 * What the parts of one thread's engine share: configuration, the injected clock and log, the
 * shared-memory tables, this thread's catalogue and geo index, and the last log ticket.
 */

import type { OrderAnswers } from './answers.js';
import type { Catalogue } from './catalogue.js';
import type { EngineConfig } from './config.js';
import type { DeliveryAreaIndex } from './geo/index.js';
import type { OperationLog } from './log.js';
import type { OrderTable } from './reservation/order-table.js';
import type { StockTable } from './stock/stock-table.js';
import type { EngineObserver } from './types.js';

/** Milliseconds since the epoch. Injected so tests and replay control time. */
export type Clock = () => number;

export interface EngineContext {
  readonly config: EngineConfig;
  readonly clock: Clock;
  log: OperationLog;
  readonly stock: StockTable;
  readonly orders: OrderTable;
  readonly catalogue: Catalogue;
  readonly geo: DeliveryAreaIndex;
  lastTicket: number;
  observer: EngineObserver | null;
  /** Scratch for the object API: one order's answer, read back into an object at once. */
  readonly answers: OrderAnswers;
}

/**
 * Every SharedArrayBuffer of the engine, allocated once at start from the configuration:
 * the stock shards and the order table. `EngineShared` is structured-cloneable, so the
 * composition root posts it to each worker thread, which attaches its own Engine to it.
 *
 * The memory is zeroed and untouched: the OS commits a page when it is first written, so a
 * node holds what its stock and orders use, not what its capacities allow. `commitOrderTable`
 * trades the other way for whoever wants it (see README, "Memory").
 */

import type { EngineConfig } from './config.js';
import {
  allocateOrderTable,
  type OrderTableBuffers,
  orderTableBytes,
  touchOrderTable,
} from './reservation/order-table.js';
import { allocateStockShards, CELL_BYTES } from './stock/stock-table.js';

export interface EngineShared {
  config: EngineConfig;
  stock: SharedArrayBuffer[];
  orders: OrderTableBuffers;
}

export function allocateShared(config: EngineConfig): EngineShared {
  return { config, stock: allocateStockShards(config), orders: allocateOrderTable(config) };
}

/** Bytes of shared memory a configuration reserves (pages are committed as they are touched). */
export function sharedBytes(config: EngineConfig): { stock: number; orders: number } {
  return {
    stock: config.dcCapacity * config.skuCapacity * CELL_BYTES,
    orders: orderTableBytes(config),
  };
}

/**
 * Commits every page of the order table's buckets and slot records now (not its overflow
 * pool, which only large orders use): the order path then never takes a first-touch page
 * fault, and the process holds the whole table from here on. For benchmarks of the steady
 * state, and for a node that would rather pay at start than on its first million orders.
 * Changes no value (see touchOrderTable), so it may run while the table is in use.
 */
export function commitOrderTable(shared: EngineShared): void {
  touchOrderTable(shared.orders);
}

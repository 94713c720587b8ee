/**
 * Every SharedArrayBuffer of the engine, allocated once at start from the configuration:
 * the stock shards and the order table. `EngineShared` is structured-cloneable, so the
 * composition root posts it to each worker thread, which attaches its own Engine to it.
 */

import type { EngineConfig } from './config.js';
import {
  allocateOrderTable,
  type OrderTableBuffers,
  orderTableBytes,
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

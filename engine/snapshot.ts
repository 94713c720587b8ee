/**
 * The engine's state as plain data, for snapshots (wal/snapshot-store.ts) and copies: the
 * catalogue and the orders as one value, `EngineState`, and the stock counters one DC at a
 * time. An export is read from a quiescent engine (a private one folded from the log); an
 * import goes into a fresh engine, before anything else happens to it.
 *
 * Format 1 (the only one): each order by its fields and slot (`OrderSnapshot`), never by the
 * table's bytes, so a snapshot loads whatever the slot layout of the release reading it. The
 * capacities say what the data needs: the order capacity must equal the configuration's (it
 * decides slots), the others may have grown (allocations are (DC, SKU, qty) triples, so cell
 * indexes are worked out again for the SKU capacity of the engine loading them).
 */

import type { EngineConfig } from './config.js';
import type { EngineContext } from './context.js';
import { SnapshotImportError } from './failure.js';
import type { LogRecord } from './log.js';
import type { OrderBook, OrderSnapshotFields } from './orders/index.js';
import type { DcRecord, SkuRecord } from './types.js';

/** One order in a state snapshot: its slot and every field, so import restores it exactly. */
export type OrderSnapshot = OrderSnapshotFields;

/** The engine's state apart from stock counters (exported per DC, see exportStockOfDc). */
export interface EngineState {
  format: 1;
  capacities: Pick<
    EngineConfig,
    'dcCapacity' | 'skuCapacity' | 'orderCapacity' | 'allocationsPerOrderMax'
  >;
  dcs: DcRecord[];
  skus: SkuRecord[];
  orders: OrderSnapshot[];
}

export function exportState(context: EngineContext, book: OrderBook): EngineState {
  const { catalogue, config } = context;
  return {
    format: 1,
    capacities: {
      dcCapacity: config.dcCapacity,
      skuCapacity: config.skuCapacity,
      orderCapacity: config.orderCapacity,
      allocationsPerOrderMax: config.allocationsPerOrderMax,
    },
    dcs: catalogue.dcs.slice(),
    skus: catalogue.skus.slice(),
    orders: book.exportOrders(),
  };
}

/**
 * Loads a state into a fresh engine (no orders placed, no stock yet): the catalogue through
 * `applyCatalogue`, as replay would, then the orders into their slots.
 */
export function importState(
  context: EngineContext,
  book: OrderBook,
  state: EngineState,
  applyCatalogue: (record: Extract<LogRecord, { type: 'dc' | 'sku' }>) => void,
): void {
  if (state.format !== 1) {
    const message = `snapshot format ${state.format} is not supported`;
    throw new SnapshotImportError('DATA_VERSION_MISMATCH', message);
  }
  const { config } = context;
  const caps = state.capacities;
  if (caps.orderCapacity !== config.orderCapacity) {
    const message = 'snapshot: the order capacity must equal the configuration';
    throw new SnapshotImportError('CONFIG_MISMATCH', message);
  }
  // Cell indexes depend on the SKU capacity, and none is stored: orders come as (DC, SKU)
  // triples and stock per DC, so a larger SKU capacity loads them as they are.
  if (
    caps.dcCapacity > config.dcCapacity ||
    caps.skuCapacity > config.skuCapacity ||
    caps.allocationsPerOrderMax > config.allocationsPerOrderMax
  ) {
    throw new SnapshotImportError(
      'CONFIG_TOO_SMALL',
      'snapshot: the configuration is smaller than the data',
    );
  }
  for (const dc of state.dcs) applyCatalogue({ type: 'dc', at: 0, actor: 'snapshot', dc });
  for (const sku of state.skus) applyCatalogue({ type: 'sku', at: 0, actor: 'snapshot', sku });
  book.importOrders(state.orders);
}

/** One DC's counters, [available, onHand] per SKU of the catalogue, as a copy. */
export function exportStockOfDc(context: EngineContext, dc: number): Int32Array {
  const { stock } = context;
  const count = context.catalogue.skus.length;
  const cells = new Int32Array(count * 2);
  for (let sku = 0; sku < count; sku++) {
    cells[sku * 2] = stock.available(dc, sku);
    cells[sku * 2 + 1] = stock.onHand(dc, sku);
  }
  return cells;
}

export function importStockOfDc(context: EngineContext, dc: number, cells: Int32Array): void {
  const { stock } = context;
  for (let sku = 0; sku < cells.length / 2; sku++) {
    stock.load(dc, sku, cells[sku * 2], cells[sku * 2 + 1]);
  }
}

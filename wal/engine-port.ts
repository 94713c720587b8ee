/**
 * What the log needs from an engine: replay a record, export and import the whole state (the
 * catalogue and orders as one value, stock one DC at a time), and expire holds after replay.
 * `Engine` (engine/index.ts) satisfies it; tests may pass anything that does.
 *
 * `createPrivateEngine` makes an engine that is nobody's live engine: its own shared memory,
 * no log. Snapshots and `verify` fold the log into one, so the live engine never stalls.
 */

import {
  Engine,
  type EngineConfig,
  type EngineState,
  type LogRecord,
  NO_LOG,
} from '../engine/index.js';

export interface SnapshotableEngine {
  /** Ticket of the last record the last mutating call appended (0 when none). */
  readonly lastTicket: number;
  applyRecord(record: LogRecord): void;
  exportState(): EngineState;
  /** Loads a state into a fresh engine (nothing placed, no stock yet). */
  importState(state: EngineState): void;
  /** Loads more orders after `importState` (a snapshot's orders arrive a batch at a time). */
  importOrders(orders: EngineState['orders']): void;
  /** One DC's counters, [available, onHand] per SKU of the catalogue. */
  exportStockOfDc(dc: number): Int32Array;
  importStockOfDc(dc: number, cells: Int32Array): void;
  /** Expires holds past their deadline, appending their records; returns how many. */
  expireDue(): number;
}

export function createPrivateEngine(config: EngineConfig, clock: () => number): SnapshotableEngine {
  return Engine.create(config, { clock, log: NO_LOG });
}

/** The whole state as plain data: the exported state plus every DC's counters. */
export function exportFullState(engine: SnapshotableEngine): EngineState & { stock: Int32Array[] } {
  const state = engine.exportState();
  const stock = state.dcs.map((_, dc) => engine.exportStockOfDc(dc));
  return { ...state, stock };
}

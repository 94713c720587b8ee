/**
 * The state of the engine and of the reference model in one comparable shape: the catalogue,
 * both counters of every cell of the catalogue, and every order by id (slot and fingerprint
 * left out: where an order lives and how its request hashes are the engine's business).
 *
 * Reads only: `stateOfEngine` uses exportState and exportStockOfDc, never getOrder (which may
 * expire a due hold), so comparing changes nothing.
 */

import type { Engine } from '../engine.js';
import { FLAG_COMMIT, FLAG_SPLIT } from '../reservation/order-table.js';
import type { DcRecord, OrderStatus, SkuRecord } from '../types.js';
import type { Model } from './model.js';
import { canonical, differences } from './operations.js';

export interface ComparableOrder {
  status: OrderStatus;
  mode: 'hold' | 'commit';
  policy: 'single-dc' | 'split';
  lat: number;
  lng: number;
  etaMinutes: number;
  expiresAt: number;
  createdAt: number;
  updatedAt: number;
  /** Flat (dc, sku, qty) triples in the order's entry order. */
  allocation: number[];
}

export interface ComparableState {
  dcs: DcRecord[];
  skus: SkuRecord[];
  /** `dc/sku` → [onHand, available], every cell of the catalogue. */
  stock: Record<string, [number, number]>;
  orders: Record<string, ComparableOrder>;
}

/** Order states of the order table, by their number. */
const STATUS_OF_STATE: readonly (OrderStatus | null)[] = [
  null,
  'held',
  'confirmed',
  'cancelled',
  'expired',
  'fulfilled',
];

export function stateOfEngine(engine: Engine): ComparableState {
  const exported = engine.exportState();
  const stock: ComparableState['stock'] = {};
  for (let dc = 0; dc < exported.dcs.length; dc++) {
    const cells = engine.exportStockOfDc(dc);
    for (let sku = 0; sku < exported.skus.length; sku++) {
      stock[`${dc}/${sku}`] = [cells[sku * 2 + 1], cells[sku * 2]];
    }
  }
  const orders: ComparableState['orders'] = {};
  for (const order of exported.orders) {
    orders[order.orderId] = {
      status: STATUS_OF_STATE[order.state] ?? ('free' as OrderStatus),
      mode: (order.flags & FLAG_COMMIT) !== 0 ? 'commit' : 'hold',
      policy: (order.flags & FLAG_SPLIT) !== 0 ? 'split' : 'single-dc',
      lat: order.lat,
      lng: order.lng,
      etaMinutes: order.etaMinutes,
      expiresAt: order.expiresAt,
      createdAt: order.createdAt,
      updatedAt: order.updatedAt,
      allocation: order.allocation,
    };
  }
  return { dcs: exported.dcs, skus: exported.skus, stock, orders };
}

export function stateOfModel(model: Model): ComparableState {
  const stock: ComparableState['stock'] = {};
  for (let dc = 0; dc < model.dcs.length; dc++) {
    for (let sku = 0; sku < model.skus.length; sku++) {
      const cell = model.cell(dc, sku);
      stock[`${dc}/${sku}`] = [cell.onHand, cell.available];
    }
  }
  const orders: ComparableState['orders'] = {};
  for (const order of model.allOrders()) {
    orders[order.orderId] = {
      status: order.status,
      mode: order.mode,
      policy: order.policy,
      lat: order.lat,
      lng: order.lng,
      etaMinutes: order.etaMinutes,
      expiresAt: order.expiresAt,
      createdAt: order.createdAt,
      updatedAt: order.updatedAt,
      allocation: order.allocation.flatMap((entry) => [entry.dc, entry.sku, entry.qty]),
    };
  }
  return { dcs: model.dcs.slice(), skus: model.skus.slice(), stock, orders };
}

/** Whether two states are equal, field by field, without building any text (the fast path). */
export function sameState(left: ComparableState, right: ComparableState): boolean {
  if (canonical(left.dcs) !== canonical(right.dcs)) return false;
  if (canonical(left.skus) !== canonical(right.skus)) return false;
  const cells = Object.keys(left.stock);
  if (cells.length !== Object.keys(right.stock).length) return false;
  for (const cell of cells) {
    const a = left.stock[cell];
    const b = right.stock[cell];
    if (b === undefined || a[0] !== b[0] || a[1] !== b[1]) return false;
  }
  const ids = Object.keys(left.orders);
  if (ids.length !== Object.keys(right.orders).length) return false;
  return ids.every((id) => sameOrder(left.orders[id], right.orders[id]));
}

function sameOrder(a: ComparableOrder, b: ComparableOrder | undefined): boolean {
  if (b === undefined) return false;
  const scalars =
    a.status === b.status &&
    a.mode === b.mode &&
    a.policy === b.policy &&
    a.lat === b.lat &&
    a.lng === b.lng &&
    a.etaMinutes === b.etaMinutes &&
    a.expiresAt === b.expiresAt &&
    a.createdAt === b.createdAt &&
    a.updatedAt === b.updatedAt;
  return (
    scalars &&
    a.allocation.length === b.allocation.length &&
    a.allocation.every((value, at) => value === b.allocation[at])
  );
}

/**
 * Where the engine's state differs from the model's, as `path: engine ≠ model` lines, after
 * the engine's own invariant check and the model's; empty when they agree.
 */
export function compareWithModel(engine: Engine, model: Model, limit = 12): string[] {
  const problems = engine.checkInvariants().map((problem) => `engine invariant: ${problem}`);
  problems.push(...model.problems().map((problem) => `model invariant: ${problem}`));
  const fromEngine = stateOfEngine(engine);
  const fromModel = stateOfModel(model);
  if (sameState(fromEngine, fromModel)) return problems.slice(0, limit);
  const left = JSON.parse(JSON.stringify(fromEngine));
  const right = JSON.parse(JSON.stringify(fromModel));
  problems.push(...differences(left, right, limit).map((line) => `engine ≠ model at ${line}`));
  return problems.slice(0, limit);
}

/**
 * Operations as plain data, runnable against anything with the engine's public operations: the
 * real Engine, or the reference model (model.ts). The case suite, the simulator's workers and
 * its checker all go through `runOperation`, so the two implementations are always asked the
 * same thing in the same way and answer in one comparable form.
 *
 * Invariants: an operation is structured-cloneable (it crosses threads); an `Answer` is plain
 * JSON with no `message` text in errors (prose is not part of the contract), so two answers are
 * equal exactly when their canonical forms are equal.
 */

import type { EngineApi } from '../api.js';
import type { LogRecord } from '../log.js';
import type {
  Attribution,
  DcInput,
  Location,
  OrderLineInput,
  PlaceOrderInput,
  SkuInput,
} from '../types.js';

export type Operation =
  | { kind: 'place'; input: PlaceOrderInput }
  | { kind: 'check'; input: PlaceOrderInput }
  | { kind: 'confirm'; orderId: string; lines?: OrderLineInput[] }
  | { kind: 'cancel'; orderId: string }
  | { kind: 'extend'; orderId: string; ttlSeconds: number }
  | { kind: 'change'; orderId: string; lines: OrderLineInput[] }
  | { kind: 'fulfil'; orderId: string }
  | { kind: 'get'; orderId: string }
  | { kind: 'expire' }
  | { kind: 'receive'; dc: string; sku: string; qty: number }
  | { kind: 'adjust'; dc: string; sku: string; onHand: number }
  | { kind: 'stock'; dc: string; sku: string }
  | { kind: 'availability'; location: Location; skus: string[]; maxMinutes?: number }
  | { kind: 'dc'; input: DcInput }
  | { kind: 'sku'; input: SkuInput };

export type OperationKind = Operation['kind'];

/** What both the engine and the model offer; the case suite and the simulator need no more. */
export type OperationsApi = Pick<
  EngineApi,
  | 'upsertDc'
  | 'upsertSku'
  | 'receive'
  | 'adjust'
  | 'getStock'
  | 'availability'
  | 'placeOrder'
  | 'checkBasket'
  | 'confirm'
  | 'cancel'
  | 'extend'
  | 'changeOrder'
  | 'fulfil'
  | 'getOrder'
  | 'expireDue'
>;

/** An answer in comparable form: plain JSON, errors without their message. */
export type Answer = unknown;

export const SIMULATION_ACTOR: Attribution = { actor: 'simulator', reason: 'seeded run' };

/** Runs one operation and returns its answer in comparable form. */
export function runOperation(
  api: OperationsApi,
  operation: Operation,
  by: Attribution = SIMULATION_ACTOR,
): Answer {
  switch (operation.kind) {
    case 'place':
      return comparable(api.placeOrder(operation.input));
    case 'check':
      return comparable(api.checkBasket(operation.input));
    case 'confirm':
      return comparable(api.confirm(operation.orderId, operation.lines));
    case 'cancel':
      return comparable(api.cancel(operation.orderId));
    case 'extend':
      return comparable(api.extend(operation.orderId, operation.ttlSeconds));
    case 'change':
      return comparable(api.changeOrder(operation.orderId, operation.lines));
    case 'fulfil':
      return comparable(api.fulfil(operation.orderId));
    case 'get':
      return comparable(api.getOrder(operation.orderId));
    case 'expire':
      return { expired: api.expireDue() };
    case 'receive':
      return comparable(api.receive(operation.dc, operation.sku, operation.qty, by));
    case 'adjust':
      return comparable(api.adjust(operation.dc, operation.sku, operation.onHand, by));
    case 'stock':
      return comparable(api.getStock(operation.dc, operation.sku));
    case 'availability':
      return comparable(api.availability(operation.location, operation.skus, operation.maxMinutes));
    case 'dc':
      return comparable(api.upsertDc(operation.input, by));
    case 'sku':
      return comparable(api.upsertSku(operation.input, by));
  }
}

/** A result as plain JSON, with every error's prose message removed. */
export function comparable(result: unknown): Answer {
  const plain = JSON.parse(JSON.stringify(result)) as Record<string, unknown>;
  if (plain !== null && typeof plain === 'object' && plain.ok === false) {
    const error = plain.error as Record<string, unknown>;
    delete error.message;
  }
  return plain;
}

/** A log record in comparable form: the fingerprint is a hash only the engine computes. */
export function comparableRecord(record: LogRecord): unknown {
  const plain = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
  delete plain.fingerprint;
  return plain;
}

/** JSON with object keys sorted, so equal values have equal text whatever their key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
  }
  return sorted;
}

/** Where two plain values differ, as `path: left ≠ right` lines (at most `limit` of them). */
export function differences(left: unknown, right: unknown, limit = 12): string[] {
  const found: string[] = [];
  walk(left, right, '', found, limit);
  return found;
}

function walk(left: unknown, right: unknown, path: string, found: string[], limit: number): void {
  if (found.length >= limit) return;
  const bothObjects =
    left !== null && right !== null && typeof left === 'object' && typeof right === 'object';
  if (!bothObjects || Array.isArray(left) !== Array.isArray(right)) {
    if (canonical(left) !== canonical(right)) {
      found.push(`${path || '.'}: ${canonical(left)} ≠ ${canonical(right)}`);
    }
    return;
  }
  const keys = new Set([...Object.keys(left as object), ...Object.keys(right as object)]);
  for (const key of [...keys].sort()) {
    const at = Array.isArray(left) ? `${path}[${key}]` : `${path}.${key}`;
    walk(
      (left as Record<string, unknown>)[key],
      (right as Record<string, unknown>)[key],
      at,
      found,
      limit,
    );
  }
}

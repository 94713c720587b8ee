/**
 * The records the engine appends to its operation log, and the log interface it appends to.
 *
 * The engine appends a record for every state change while it still holds the lock that
 * orders the change (an order's bucket lock), and appends a record that makes stock
 * available (receive, release) before the counters show the units. So the log's order is a
 * causal order: any change that depended on another comes after it, and replaying the log in
 * order (or any prefix of it) rebuilds a state the live engine went through.
 *
 * Indexes (`dc`, `sku`) are the catalogue's dense indexes; a `dc` or `sku` record assigning
 * them always comes earlier in the log. Times are milliseconds since the epoch.
 */

import type { DcRecord, SkuRecord } from './types.js';

export type LogRecord =
  | { type: 'dc'; at: number; actor: string; dc: DcRecord }
  | { type: 'sku'; at: number; actor: string; sku: SkuRecord }
  | {
      type: 'receive';
      at: number;
      actor: string;
      reason: string;
      dc: number;
      sku: number;
      qty: number;
    }
  | {
      /** A count: on-hand became `onHand`; `delta` was added to on-hand and to available. */
      type: 'adjust';
      at: number;
      actor: string;
      reason: string;
      dc: number;
      sku: number;
      onHand: number;
      delta: number;
    }
  | {
      type: 'place';
      at: number;
      orderId: string;
      /** 0 = hold, 1 = commit. */
      mode: 0 | 1;
      /** 0 = single-dc, 1 = split. */
      policy: 0 | 1;
      lat: number;
      lng: number;
      etaMinutes: number;
      /** 0 for commit orders. */
      expiresAt: number;
      /** Hash of the request, to tell a retry from a reuse of the id. */
      fingerprint: number;
      /** Flat triples: dc, sku, qty. */
      allocation: number[];
    }
  | {
      /** Hold → confirmed; `released` (flat triples) went back to available (partial confirm). */
      type: 'confirm';
      at: number;
      orderId: string;
      released: number[];
    }
  | { type: 'cancel'; at: number; orderId: string }
  | { type: 'expire'; at: number; orderId: string }
  | { type: 'extend'; at: number; orderId: string; expiresAt: number }
  | {
      /** A held basket edited in place: `allocation` replaces the old one. */
      type: 'change';
      at: number;
      orderId: string;
      fingerprint: number;
      etaMinutes: number;
      expiresAt: number;
      allocation: number[];
    }
  | { type: 'fulfil'; at: number; orderId: string };

export type LogRecordType = LogRecord['type'];

/**
 * Where the engine appends. `append` returns a ticket: a position the caller waits on before
 * it acknowledges (the log's durability policy decides what "durable" means). `writable` is
 * checked before a mutation starts, so a read-only log refuses the request without side effects.
 * The record is lent for the call: the engine writes the next order's record over the same
 * object, so an implementation that keeps a record keeps a copy.
 */
export interface OperationLog {
  writable(): boolean;
  append(record: LogRecord): number;
}

/** A log that keeps nothing, for in-process use without durability (benchmarks, tests). */
export const NO_LOG: OperationLog = {
  writable: () => true,
  append: () => 0,
};

/**
 * Answers built for the wire: the results of a batch of order operations or availability
 * queries, written by the engine into preallocated columns (typed arrays), with no object per
 * line, per DC or per SKU. The edge encodes the columns as they are (protocol v2's column
 * form); the engine's object API (`placeOrder`, `availability`) reads the same columns back
 * into objects, so both paths share one implementation.
 *
 * Indexes in the columns are the engine's dense catalogue indexes (DC and SKU); whoever
 * encodes an answer turns them into ids.
 *
 * Invariants: `reset()` starts a batch; every `begin*` is followed by exactly one `end*` (or
 * `refuse`) before the next; capacities are fixed at construction and a batch that would pass
 * them is refused by the caller before it starts (asserted here).
 */

import type { ErrorBody } from '../protocol/index.js';

/** A placement created the order. */
export const RESULT_CREATED = 0;
/** The order id exists with the same contents: the answer is the order as it is now. */
export const RESULT_EXISTS = 1;
/** Refused: `errors[i]` says why; nothing changed. */
export const RESULT_REFUSED = 2;

/** ETAs travel as whole tenths of a minute; this is "no ETA" (no DC, or nothing in stock). */
export const ETA_NONE = -1;

/** Minutes to tenths of a minute, as every ETA on the wire is rounded. */
export function etaTenths(minutes: number): number {
  return Math.round(minutes * 10);
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`answers invariant broken: ${message}`);
}

export class OrderAnswers {
  count = 0;
  /** RESULT_* per order. */
  readonly result: Int32Array;
  /** Order state (STATE_* of the order table, 1 = held ...) per order; 0 when refused. */
  readonly state: Int32Array;
  /** 1 for commit orders, 0 for holds. */
  readonly commit: Uint8Array;
  /** 1 for split orders. */
  readonly split: Uint8Array;
  readonly etaTenths: Int32Array;
  /** Hold deadline (ms since the epoch); 0 when the order is not held. */
  readonly expiresAt: Float64Array;
  readonly createdAt: Float64Array;
  readonly updatedAt: Float64Array;
  readonly lat: Float64Array;
  readonly lng: Float64Array;
  /** First allocation entry of each order, and how many it has. */
  readonly allocationStart: Int32Array;
  readonly allocationCount: Int32Array;
  allocationTotal = 0;
  readonly allocationDc: Int32Array;
  readonly allocationSku: Int32Array;
  readonly allocationQty: Int32Array;
  /** The line of the order's request an entry serves (placements); -1 when not known. */
  readonly allocationLine: Int32Array;
  /** Why each refused order was refused (undefined for the others). */
  readonly errors: (ErrorBody | undefined)[];
  /** The order id of each answer (as asked; the engine's key bytes are its UTF-8). */
  readonly orderIds: string[];

  constructor(
    readonly ordersMax: number,
    allocationsMax: number,
  ) {
    this.result = new Int32Array(ordersMax);
    this.state = new Int32Array(ordersMax);
    this.commit = new Uint8Array(ordersMax);
    this.split = new Uint8Array(ordersMax);
    this.etaTenths = new Int32Array(ordersMax);
    this.expiresAt = new Float64Array(ordersMax);
    this.createdAt = new Float64Array(ordersMax);
    this.updatedAt = new Float64Array(ordersMax);
    this.lat = new Float64Array(ordersMax);
    this.lng = new Float64Array(ordersMax);
    this.allocationStart = new Int32Array(ordersMax);
    this.allocationCount = new Int32Array(ordersMax);
    this.allocationDc = new Int32Array(allocationsMax);
    this.allocationSku = new Int32Array(allocationsMax);
    this.allocationQty = new Int32Array(allocationsMax);
    this.allocationLine = new Int32Array(allocationsMax);
    this.errors = new Array(ordersMax).fill(undefined);
    this.orderIds = new Array(ordersMax).fill('');
  }

  get allocationsMax(): number {
    return this.allocationDc.length;
  }

  reset(): void {
    for (let at = 0; at < this.count; at++) this.errors[at] = undefined;
    this.count = 0;
    this.allocationTotal = 0;
  }

  /** Room for one more order with up to `entries` allocation entries. */
  hasRoom(entries: number): boolean {
    return this.count < this.ordersMax && this.allocationTotal + entries <= this.allocationsMax;
  }

  /** Records a refusal as the next answer. */
  refuse(orderId: string, error: ErrorBody): number {
    assert(this.count < this.ordersMax, 'refusal past the batch capacity');
    const at = this.count++;
    this.result[at] = RESULT_REFUSED;
    this.errors[at] = error;
    this.orderIds[at] = orderId;
    // Every column is written for every answer, so nothing of an earlier batch shows through.
    this.state[at] = 0;
    this.commit[at] = 0;
    this.split[at] = 0;
    this.etaTenths[at] = ETA_NONE;
    this.expiresAt[at] = 0;
    this.createdAt[at] = 0;
    this.updatedAt[at] = 0;
    this.lat[at] = 0;
    this.lng[at] = 0;
    this.allocationStart[at] = this.allocationTotal;
    this.allocationCount[at] = 0;
    return at;
  }

  /** Starts an accepted answer; the caller fills its fields and allocation, then `endOrder`. */
  beginOrder(orderId: string, result: number): number {
    assert(this.count < this.ordersMax, 'answer past the batch capacity');
    const at = this.count++;
    this.result[at] = result;
    this.orderIds[at] = orderId;
    this.allocationStart[at] = this.allocationTotal;
    this.allocationCount[at] = 0;
    return at;
  }

  addAllocation(at: number, dc: number, sku: number, qty: number, line: number): void {
    const entry = this.allocationTotal++;
    assert(entry < this.allocationDc.length, 'allocation past the batch capacity');
    this.allocationDc[entry] = dc;
    this.allocationSku[entry] = sku;
    this.allocationQty[entry] = qty;
    this.allocationLine[entry] = line;
    this.allocationCount[at]++;
  }
}

/**
 * Availability of a batch of queries. Per query: the DCs in range (nearest first) with their
 * ETA, then per SKU asked (in request order) the total free units (-1 for an unknown SKU), the
 * best ETA, and with the breakdown the units at each DC of the query (a row per SKU).
 */
export class AvailabilityAnswers {
  count = 0;
  breakdown = true;
  /** Per query: its first DC, DC count, first SKU, SKU count, first per-DC count. */
  readonly dcStart: Int32Array;
  readonly dcCount: Int32Array;
  readonly skuStart: Int32Array;
  readonly skuCount: Int32Array;
  readonly perDcStart: Int32Array;
  dcTotal = 0;
  readonly dcs: Int32Array;
  readonly dcEtaTenths: Int32Array;
  skuTotal = 0;
  readonly available: Int32Array;
  readonly etaTenths: Int32Array;
  perDcTotal = 0;
  readonly perDc: Int32Array;

  constructor(
    readonly queriesMax: number,
    readonly skusMax: number,
    dcsPerQueryMax: number,
  ) {
    this.dcStart = new Int32Array(queriesMax);
    this.dcCount = new Int32Array(queriesMax);
    this.skuStart = new Int32Array(queriesMax);
    this.skuCount = new Int32Array(queriesMax);
    this.perDcStart = new Int32Array(queriesMax);
    this.dcs = new Int32Array(queriesMax * dcsPerQueryMax);
    this.dcEtaTenths = new Int32Array(queriesMax * dcsPerQueryMax);
    this.available = new Int32Array(skusMax);
    this.etaTenths = new Int32Array(skusMax);
    this.perDc = new Int32Array(skusMax * dcsPerQueryMax);
  }

  reset(breakdown: boolean): void {
    this.count = 0;
    this.breakdown = breakdown;
    this.dcTotal = 0;
    this.skuTotal = 0;
    this.perDcTotal = 0;
  }

  /** Room for one more query of `skus` SKUs. */
  hasRoom(skus: number): boolean {
    return this.count < this.queriesMax && this.skuTotal + skus <= this.skusMax;
  }

  /**
   * Appends an empty answer for a refused query of `skus` SKUs (no DC, -1 per SKU), so the
   * batch's columns stay aligned with its requests.
   */
  skip(skus: number): void {
    assert(this.hasRoom(skus), 'skipped query past the batch capacity');
    const query = this.count++;
    this.dcStart[query] = this.dcTotal;
    this.dcCount[query] = 0;
    this.skuStart[query] = this.skuTotal;
    this.skuCount[query] = skus;
    this.perDcStart[query] = this.perDcTotal;
    this.available.fill(-1, this.skuTotal, this.skuTotal + skus);
    this.etaTenths.fill(ETA_NONE, this.skuTotal, this.skuTotal + skus);
    this.skuTotal += skus;
  }
}

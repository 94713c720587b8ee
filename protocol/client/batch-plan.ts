/**
 * How a caller's batch (`placeOrders`, `availabilityMany`) becomes wire requests, and how
 * their answers become one view. A batch is cut into parts: on a version-2 connection, the
 * entries that share options travel together as column requests of at most the node's batch
 * limits, the in-flight window and a frame's bytes; an entry the columns cannot carry exactly
 * (a shape the node's validator refuses, a query of no SKUs) travels alone in its version-1
 * form, so the node answers it as it would answer that call. On a version-1 connection every
 * entry travels alone.
 *
 * Invariants:
 * - Every entry is in exactly one part; `partOf[i]` / `entryOf[i]` say where, and a part's
 *   entries keep the caller's order.
 * - No part is over the limits it was cut for (entries, SKUs, estimated bytes).
 * - A part's answer is read into columns (or a refusal of its one entry) before `assemble`;
 *   an error answer that concerns the request rather than the entry fails the whole batch.
 * - Nothing is made per order line, SKU or DC: per entry, only numbers in typed arrays and
 *   references to the caller's own strings.
 */

import type { ErrorBody, ErrorCode } from '../codes.js';
import { MessageKinds, type Op } from '../messages.js';
import {
  type AvailabilityColumnsRead,
  type AvailabilityQuery,
  AvailabilityBatchResult,
  isCarriedQuery,
  mergeAvailabilityColumns,
  type QueryOptions,
  queryBytesMax,
  queryColumnsOfResult,
  readAvailabilityColumns,
  refusedQueryColumns,
} from './availability-batch.js';
import type { BatchEncoder } from './batch-encoder.js';
import type { SkuRefs } from './sku-refs.js';
import { errorFromBody, InventoryError } from './errors.js';
import {
  isCarriedMaxMinutes,
  isCarriedOrder,
  mergeOrderColumns,
  OrderBatchResult,
  type OrderColumns,
  type OrderOptions,
  orderBytesMax,
  orderColumnsOfResult,
  orderOptionsOf,
  type PlaceOrderInput,
  readOrderColumns,
  refusedOrderColumns,
  sharesOrderOptions,
} from './order-batch.js';

/**
 * Bytes of a request besides its entries: the `[id, op, args]` envelope, the args' keys, the
 * counts and shared options, and the column headers. Well over what they take (about 150).
 */
export const REQUEST_ENVELOPE_BYTES_MAX = 1024;

/** The limits a batch is cut to: the node's (from hello) and the client's window. */
export interface BatchLimits {
  linesPerOrderMax: number;
  skusPerRequestMax: number;
  ordersPerBatchMax: number;
  queriesPerBatchMax: number;
  skusPerBatchMax: number;
  frameBytesMax: number;
  /** The in-flight window: a request heavier than it could never be sent. */
  windowMax: number;
}

/** Orders one `placeOrders` request may carry under `limits`. */
export function ordersPerRequestMax(limits: BatchLimits): number {
  return Math.max(1, Math.min(limits.ordersPerBatchMax, limits.windowMax));
}

export function queriesPerRequestMax(limits: BatchLimits): number {
  return Math.max(1, Math.min(limits.queriesPerBatchMax, limits.windowMax));
}

/** Bytes the entries of one request may take. */
export function entryBytesMax(limits: BatchLimits): number {
  return Math.max(0, limits.frameBytesMax - REQUEST_ENVELOPE_BYTES_MAX);
}

/**
 * Error codes that are about a request, not about the entry it carries: an entry sent alone
 * and answered with one of these fails the whole batch (as a column request answered so
 * would), instead of counting as that entry's refusal.
 */
const REQUEST_LEVEL_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'FORBIDDEN',
  'UNAUTHORIZED',
  'UNKNOWN_OP',
  'TOO_MANY_IN_FLIGHT',
  'RATE_LIMITED',
  'READ_ONLY',
  'NOT_READY',
  'SHUTTING_DOWN',
  'TIMEOUT',
  'INTERNAL',
  'FRAME_TOO_LARGE',
]);

/** A part's answer read: the part's columns, or why the whole batch failed. */
export type PartOutcome<C> = C | InventoryError;

/** A part's args encoded when it is sent, for the connection's SKU table. */
export interface EncodedPart {
  args: Uint8Array;
  /** The SKU refs it defines (null: none); the table holds them once it is answered ok. */
  defined: Int32Array | null;
}

/**
 * One request of a batch: an entry sent alone (`args`, a map for the codec), or a column request
 * (`encode`, run when the part is sent: its SKUs by ref when `refs` is not null).
 */
export type PartPlan<C> = {
  op: Op;
  /** Entries it counts against the in-flight window. */
  weight: number;
  read(kind: number, body: unknown): PartOutcome<C>;
} & (
  | { args: Record<string, unknown>; encode?: undefined }
  | { encode: (refs: SkuRefs | null) => EncodedPart; args?: undefined }
);

export interface BatchPlan<C, V> {
  parts: PartPlan<C>[];
  /** The view over every part's columns, in the caller's order. */
  assemble(answers: readonly C[]): V;
}

function malformed(op: Op): InventoryError {
  return new InventoryError('BAD_FRAME', `the node's ${op} answer is not well-formed columns`);
}

/** An error answer to an entry sent alone: its refusal, or a failure of the whole batch. */
function entryRefusal<C>(body: unknown, refused: (body: ErrorBody) => C): PartOutcome<C> {
  const error = errorFromBody(body);
  return REQUEST_LEVEL_CODES.has(error.code) ? error : refused(body as ErrorBody);
}

/** Entries of one open part while a batch is being cut. */
interface Filling<O> {
  options: O;
  slot: number;
  indexes: number[];
  items: number;
  bytes: number;
}

// Orders.

function orderPart(
  orders: readonly PlaceOrderInput[],
  filling: Filling<OrderOptions>,
  encoder: BatchEncoder,
): PartPlan<OrderColumns> {
  const { indexes, options } = filling;
  const count = indexes.length;
  return {
    op: 'placeOrders',
    encode(refs) {
      const orderAt = (entry: number) => orders[indexes[entry]];
      const args = encoder.placeOrders(count, filling.items, options, orderAt, refs);
      return { args, defined: encoder.defined };
    },
    weight: count,
    read(kind, body) {
      if (kind !== MessageKinds.OK) return errorFromBody(body);
      return readOrderColumns(body, count) ?? malformed('placeOrders');
    },
  };
}

function singleOrderPart(order: PlaceOrderInput): PartPlan<OrderColumns> {
  return {
    op: 'placeOrder',
    args: order as unknown as Record<string, unknown>,
    weight: 1,
    read(kind, body) {
      if (kind !== MessageKinds.OK) return entryRefusal(body, refusedOrderColumns);
      try {
        return orderColumnsOfResult(body as never, order);
      } catch {
        return malformed('placeOrder');
      }
    },
  };
}

/**
 * The open part whose options `order` shares. A loop, not `open.find` with an arrow: an arrow
 * in the planning loop closes over that iteration's order, and V8 then allocates a context
 * for every iteration, whether the arrow runs or not.
 */
function openOrderPart(
  open: readonly Filling<OrderOptions>[],
  order: PlaceOrderInput,
): Filling<OrderOptions> | undefined {
  for (let at = 0; at < open.length; at++) {
    if (sharesOrderOptions(open[at].options, order)) return open[at];
  }
  return undefined;
}

/** The open part of queries with the window `minutes` (see openOrderPart). */
function openQueryPart(
  open: readonly Filling<QueryOptions>[],
  minutes: number | undefined,
): Filling<QueryOptions> | undefined {
  for (let at = 0; at < open.length; at++) {
    if (open[at].options.maxMinutes === minutes) return open[at];
  }
  return undefined;
}

/**
 * Cuts `orders` into requests. `version` is the connection's protocol version: below 2, each
 * order is a `placeOrder` of its own.
 */
export function planPlaceOrders(
  orders: readonly PlaceOrderInput[],
  limits: BatchLimits,
  version: number,
  encoder: BatchEncoder,
): BatchPlan<OrderColumns, OrderBatchResult> {
  const count = orders.length;
  // Plain arrays, not Int32Arrays: a typed array over 64 bytes has a backing store of its
  // own, which V8 frees one by one in its scavenges.
  const partOf = new Array<number>(count).fill(0);
  const entryOf = new Array<number>(count).fill(0);
  const parts: PartPlan<OrderColumns>[] = [];
  const open: Filling<OrderOptions>[] = [];
  const entriesMax = ordersPerRequestMax(limits);
  const bytesMax = entryBytesMax(limits);
  let last: Filling<OrderOptions> | undefined;
  for (let at = 0; at < count; at++) {
    const order = orders[at];
    if (version < 2 || !isCarriedOrder(order, limits.linesPerOrderMax, encoder.isCarriedSku)) {
      partOf[at] = parts.length;
      parts.push(singleOrderPart(order));
      continue;
    }
    // Consecutive orders mostly share their options: the last part is checked first.
    let filling =
      last !== undefined && sharesOrderOptions(last.options, order)
        ? last
        : openOrderPart(open, order);
    const bytes = orderBytesMax(order);
    if (
      filling !== undefined &&
      (filling.indexes.length === entriesMax || filling.bytes + bytes > bytesMax)
    ) {
      parts[filling.slot] = orderPart(orders, filling, encoder);
      open.splice(open.indexOf(filling), 1);
      filling = undefined;
    }
    if (filling === undefined) {
      filling = {
        options: orderOptionsOf(order),
        slot: parts.length,
        indexes: [],
        items: 0,
        bytes: 0,
      };
      parts.push(undefined as never);
      open.push(filling);
    }
    partOf[at] = filling.slot;
    entryOf[at] = filling.indexes.length;
    filling.indexes.push(at);
    filling.items += order.lines.length;
    filling.bytes += bytes;
    last = filling;
  }
  for (const filling of open) parts[filling.slot] = orderPart(orders, filling, encoder);
  return {
    parts,
    assemble(answers) {
      const columns =
        answers.length === 1 && count === answers[0].results.length
          ? answers[0]
          : mergeOrderColumns({ parts: answers, partOf, entryOf });
      return new OrderBatchResult(columns, orders);
    },
  };
}

// Availability.

function queryPart(
  queries: readonly AvailabilityQuery[],
  filling: Filling<QueryOptions>,
  encoder: BatchEncoder,
): PartPlan<AvailabilityColumnsRead> {
  const { indexes, options } = filling;
  const count = indexes.length;
  const skuCounts = new Int32Array(count);
  return {
    op: 'availabilityMany',
    encode(refs) {
      const args = encoder.availabilityMany(
        count,
        filling.items,
        options.maxMinutes,
        options.breakdown,
        (entry) => queries[indexes[entry]],
        skuCounts,
        refs,
      );
      return { args, defined: encoder.defined };
    },
    weight: count,
    read(kind, body) {
      if (kind !== MessageKinds.OK) return errorFromBody(body);
      return (
        readAvailabilityColumns(body, skuCounts, options.breakdown) ?? malformed('availabilityMany')
      );
    },
  };
}

/** A query sent alone as `availability` (its answer is columns from version 2 on). */
function singleQueryPart(
  query: AvailabilityQuery,
  options: QueryOptions,
  version: number,
): PartPlan<AvailabilityColumnsRead> {
  const skus = Array.isArray(query?.skus) ? query.skus : [];
  const args: Record<string, unknown> = { ...query, breakdown: options.breakdown };
  if (options.maxMinutes !== undefined) args.maxMinutes = options.maxMinutes;
  const refused = (body: ErrorBody) => refusedQueryColumns(skus.length, options.breakdown, body);
  return {
    op: 'availability',
    args,
    weight: 1,
    read(kind, body) {
      if (kind !== MessageKinds.OK) return entryRefusal(body, refused);
      if (version < 2) return queryColumnsOfResult(body as never, skus, options.breakdown);
      const columns = readAvailabilityColumns(body, Int32Array.of(skus.length), options.breakdown);
      return columns ?? malformed('availability');
    },
  };
}

/** The window a query asks for: its own, else the batch's. */
function windowOf(query: AvailabilityQuery, fallback: number | undefined): number | undefined {
  const own = query?.maxMinutes;
  return own === undefined || own === null ? fallback : own;
}

/**
 * Cuts `queries` into requests; queries of one delivery window travel together. Below
 * version 2, each query is an `availability` of its own.
 */
export function planAvailabilityMany(
  queries: readonly AvailabilityQuery[],
  breakdown: boolean,
  maxMinutes: number | undefined,
  limits: BatchLimits,
  version: number,
  encoder: BatchEncoder,
): BatchPlan<AvailabilityColumnsRead, AvailabilityBatchResult> {
  const count = queries.length;
  // Plain arrays, not Int32Arrays: a typed array over 64 bytes has a backing store of its
  // own, which V8 frees one by one in its scavenges.
  const partOf = new Array<number>(count).fill(0);
  const entryOf = new Array<number>(count).fill(0);
  const parts: PartPlan<AvailabilityColumnsRead>[] = [];
  const open: Filling<QueryOptions>[] = [];
  const entriesMax = queriesPerRequestMax(limits);
  const bytesMax = entryBytesMax(limits);
  let last: Filling<QueryOptions> | undefined;
  for (let at = 0; at < count; at++) {
    const query = queries[at];
    const minutes = windowOf(query, maxMinutes);
    if (
      version < 2 ||
      !isCarriedQuery(query, limits.skusPerRequestMax, encoder.areCarriedSkus) ||
      !isCarriedMaxMinutes(minutes)
    ) {
      partOf[at] = parts.length;
      parts.push(singleQueryPart(query, { maxMinutes: minutes, breakdown }, version));
      continue;
    }
    let filling =
      last !== undefined && last.options.maxMinutes === minutes
        ? last
        : openQueryPart(open, minutes);
    const skus = query.skus.length;
    const bytes = queryBytesMax(query);
    if (
      filling !== undefined &&
      (filling.indexes.length === entriesMax ||
        filling.items + skus > limits.skusPerBatchMax ||
        filling.bytes + bytes > bytesMax)
    ) {
      parts[filling.slot] = queryPart(queries, filling, encoder);
      open.splice(open.indexOf(filling), 1);
      filling = undefined;
    }
    if (filling === undefined) {
      const options = { maxMinutes: minutes, breakdown };
      filling = { options, slot: parts.length, indexes: [], items: 0, bytes: 0 };
      parts.push(undefined as never);
      open.push(filling);
    }
    partOf[at] = filling.slot;
    entryOf[at] = filling.indexes.length;
    filling.indexes.push(at);
    filling.items += skus;
    filling.bytes += bytes;
    last = filling;
  }
  for (const filling of open) parts[filling.slot] = queryPart(queries, filling, encoder);
  return {
    parts,
    assemble(answers) {
      const columns =
        answers.length === 1 && count === answers[0].skuCounts.length
          ? answers[0]
          : mergeAvailabilityColumns({ parts: answers, partOf, entryOf, breakdown });
      return new AvailabilityBatchResult(columns, queries);
    },
  };
}

/**
 * Orders as columns, on the SDK's side of protocol v2: which orders the `placeOrders` columns
 * carry exactly, how a batch's request columns are built, how an answer's columns are read,
 * and `OrderBatchResult`, the typed view a caller reads the answers through.
 *
 * Invariants:
 * - `isCarriedOrder` accepts exactly the orders the node's `placeOrder` validator accepts (same
 *   id, location, line, quantity and option rules), so an order is never refused for its
 *   shape in a batch where it would be taken alone, and its refusal, if any, is the engine's.
 * - Building columns reads the caller's orders and copies what it needs into typed arrays; the
 *   only objects made are per batch (the columns and two arrays of existing strings).
 * - A view reads its columns in place: nothing is made per order, line or DC until a caller
 *   asks for an object (`order`, `orderResult`, `error`). Every column's length is checked
 *   when the answer is read, so accessors index within bounds.
 */

import { type ErrorBody, ErrorCodes } from '../codes.js';
import { binBytesOf, ColumnCopies, readF64Column, readI32Column } from '../columns.js';
import { MAX_MINUTES_CEILING, QUANTITY_MAX, TTL_SECONDS_MAX } from '../limits.js';
import {
  type AllocationLine,
  type AllocationPolicy,
  BatchResults,
  isPlainMap,
  type OrderMode,
  type OrderResult,
  type OrderStatus,
  type OrderView,
  type PlaceOrderArgs,
  WIRE_STATUSES,
} from '../messages.js';
import { isValidId } from '../validate.js';
import { errorFromBody, type InventoryError } from './errors.js';

/** One order of a `placeOrders` batch: the same fields as a `placeOrder` call. */
export type PlaceOrderInput = PlaceOrderArgs;

/** What happened to one order of a batch. */
export type OrderOutcome = 'created' | 'exists' | 'refused';

const OUTCOMES: readonly OrderOutcome[] = ['created', 'exists', 'refused'];

/**
 * Bytes one order adds to a request at most, besides its strings: the lat, lng and
 * lineCounts columns (20) and a string header for the order id (3).
 */
const ORDER_BYTES_FIXED = 23;
/** Bytes one line adds at most, besides its SKU's characters: a qty (4), a header (3). */
const LINE_BYTES_FIXED = 7;
/** A UTF-16 code unit takes at most 3 bytes of UTF-8 (a surrogate pair 4 for 2 units). */
const UTF8_BYTES_PER_UNIT_MAX = 3;

function isOptionalIntIn(value: unknown, min: number, max: number): boolean {
  if (value === undefined || value === null) return true;
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** A delivery window the validator accepts: absent, or a number in (0, 1440]. */
export function isCarriedMaxMinutes(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  return typeof value === 'number' && value > 0 && value <= MAX_MINUTES_CEILING;
}

function isLatitude(value: unknown): boolean {
  return typeof value === 'number' && value >= -90 && value <= 90;
}

function isLongitude(value: unknown): boolean {
  return typeof value === 'number' && value >= -180 && value <= 180;
}

/**
 * Whether `order` is one the `placeOrders` columns carry exactly: what the node's
 * `placeOrder` validator accepts. Anything else is sent (or refused) as `placeOrder` would be.
 */
export function isCarriedOrder(
  order: unknown,
  linesPerOrderMax: number,
  isCarriedSku: (id: unknown) => boolean = isValidId,
): boolean {
  if (!isPlainMap(order)) return false;
  if (!isValidId(order.orderId)) return false;
  const location = order.location;
  if (!isPlainMap(location) || !isLatitude(location.lat) || !isLongitude(location.lng)) {
    return false;
  }
  const mode = order.mode;
  if (mode !== 'hold' && mode !== 'commit') return false;
  const policy = order.policy;
  if (policy !== undefined && policy !== null && policy !== 'single-dc' && policy !== 'split') {
    return false;
  }
  if (!isOptionalIntIn(order.ttlSeconds, 1, TTL_SECONDS_MAX)) return false;
  if (!isCarriedMaxMinutes(order.maxMinutes)) return false;
  return areCarriedLines(order.lines, linesPerOrderMax, isCarriedSku);
}

function areCarriedLines(
  lines: unknown,
  linesPerOrderMax: number,
  isCarriedSku: (id: unknown) => boolean,
): boolean {
  if (!Array.isArray(lines) || lines.length === 0 || lines.length > linesPerOrderMax) {
    return false;
  }
  for (let line = 0; line < lines.length; line++) {
    const entry = lines[line];
    if (!isPlainMap(entry) || !isCarriedSku(entry.sku)) return false;
    const qty = entry.qty;
    if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1 || qty > QUANTITY_MAX) {
      return false;
    }
    // Orders are a handful of lines: pairwise comparison, as the validator does.
    for (let earlier = 0; earlier < line; earlier++) {
      if ((lines[earlier] as { sku: string }).sku === entry.sku) return false;
    }
  }
  return true;
}

/** The most bytes `order` (a carried one) adds to a `placeOrders` request. */
export function orderBytesMax(order: PlaceOrderInput): number {
  let bytes = ORDER_BYTES_FIXED + order.orderId.length * UTF8_BYTES_PER_UNIT_MAX;
  const lines = order.lines;
  for (let line = 0; line < lines.length; line++) {
    bytes += LINE_BYTES_FIXED + lines[line].sku.length * UTF8_BYTES_PER_UNIT_MAX;
  }
  return bytes;
}

/** The options every order of one `placeOrders` request shares. */
export interface OrderOptions {
  mode: OrderMode;
  policy: AllocationPolicy | undefined;
  ttlSeconds: number | undefined;
  maxMinutes: number | undefined;
}

/** nil and absent mean the same on the wire; the SDK keeps undefined for both. */
function given<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value;
}

export function orderOptionsOf(order: PlaceOrderInput): OrderOptions {
  return {
    mode: order.mode,
    policy: given(order.policy),
    ttlSeconds: given(order.ttlSeconds),
    maxMinutes: given(order.maxMinutes),
  };
}

/** Whether `order` may travel in a request with `options`. */
export function sharesOrderOptions(options: OrderOptions, order: PlaceOrderInput): boolean {
  return (
    options.mode === order.mode &&
    options.policy === given(order.policy) &&
    options.ttlSeconds === given(order.ttlSeconds) &&
    options.maxMinutes === given(order.maxMinutes)
  );
}

function bytesOf(column: Int32Array | Float64Array): Uint8Array {
  return new Uint8Array(column.buffer, column.byteOffset, column.byteLength);
}

/**
 * The `placeOrders` args for `count` carried orders: `orderAt(entry)` gives each, in request
 * order, and `lineTotal` is the sum of their line counts. The reference form of the request:
 * the SDK sends what BatchEncoder writes, which tests check is these args' encoding.
 */
export function placeOrdersArgs(
  count: number,
  lineTotal: number,
  options: OrderOptions,
  orderAt: (entry: number) => PlaceOrderInput,
): Record<string, unknown> {
  const orderIds = new Array<string>(count);
  const lat = new Float64Array(count);
  const lng = new Float64Array(count);
  const lineCounts = new Int32Array(count);
  const skus = new Array<string>(lineTotal);
  const qty = new Int32Array(lineTotal);
  let at = 0;
  for (let entry = 0; entry < count; entry++) {
    const order = orderAt(entry);
    orderIds[entry] = order.orderId;
    lat[entry] = order.location.lat;
    lng[entry] = order.location.lng;
    const lines = order.lines;
    lineCounts[entry] = lines.length;
    for (let line = 0; line < lines.length; line++) {
      skus[at] = lines[line].sku;
      qty[at] = lines[line].qty;
      at++;
    }
  }
  if (at !== lineTotal) throw new Error(`placeOrders: ${at} lines counted as ${lineTotal}`);
  const args: Record<string, unknown> = {
    orders: count,
    orderIds,
    lat: bytesOf(lat),
    lng: bytesOf(lng),
    lineCounts: bytesOf(lineCounts),
    skus,
    qty: bytesOf(qty),
    mode: options.mode,
  };
  if (options.policy !== undefined) args.policy = options.policy;
  if (options.ttlSeconds !== undefined) args.ttlSeconds = options.ttlSeconds;
  if (options.maxMinutes !== undefined) args.maxMinutes = options.maxMinutes;
  return args;
}

/** The answer to a `placeOrders` request, read: columns of N orders and of A entries. */
export interface OrderColumns {
  /** BatchResults per order: 0 created, 1 exists, 2 refused. */
  results: Int32Array;
  /** WIRE_STATUSES index per order (0 held ... 4 fulfilled); -1 when refused. */
  status: Int32Array;
  /** Tenths of a minute. */
  etaTenths: Int32Array;
  /** Milliseconds since the epoch; 0 unless held. */
  expiresAt: Float64Array;
  createdAt: Float64Array;
  updatedAt: Float64Array;
  /** Allocation entries per order; the entries follow order after order. */
  allocations: Int32Array;
  /** The line (index into the order's `lines`) each entry serves; -1 when not known. */
  allocLine: Int32Array;
  /** The DC of each entry, as an index into `dcs`. */
  allocDc: Int32Array;
  allocQty: Int32Array;
  dcs: readonly string[];
  /** Refused orders as [index, error body], in index order. */
  errors: readonly (readonly [number, ErrorBody])[];
}

function readErrors(value: unknown, count: number): [number, ErrorBody][] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return undefined;
  let last = -1;
  for (const pair of value) {
    if (!Array.isArray(pair) || pair.length !== 2 || !isPlainMap(pair[1])) return undefined;
    const index = pair[0];
    if (!Number.isInteger(index) || index <= last || index >= count) return undefined;
    last = index;
  }
  return value as [number, ErrorBody][];
}

function readIds(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  for (const id of value) if (typeof id !== 'string') return undefined;
  return value as string[];
}

/**
 * Reads a `placeOrders` answer of `count` orders, or undefined when it is not one (a column
 * missing or of the wrong length, an allocation naming a DC it does not list).
 */
/** The binary columns of a `placeOrders` answer (ColumnCopies' capacity). */
const ORDER_COLUMN_KEYS = [
  'results',
  'status',
  'etaTenths',
  'expiresAt',
  'createdAt',
  'updatedAt',
  'allocations',
  'allocLine',
  'allocDc',
  'allocQty',
] as const;

export function readOrderColumns(body: unknown, count: number): OrderColumns | undefined {
  if (!isPlainMap(body)) return undefined;
  const copies = new ColumnCopies(binBytesOf(body, ORDER_COLUMN_KEYS));
  const results = readI32Column(body.results, count, copies);
  const status = readI32Column(body.status, count, copies);
  const etaTenths = readI32Column(body.etaTenths, count, copies);
  const expiresAt = readF64Column(body.expiresAt, count, copies);
  const createdAt = readF64Column(body.createdAt, count, copies);
  const updatedAt = readF64Column(body.updatedAt, count, copies);
  const allocations = readI32Column(body.allocations, count, copies);
  const dcs = readIds(body.dcs);
  const errors = readErrors(body.errors, count);
  if (
    results === undefined ||
    status === undefined ||
    etaTenths === undefined ||
    expiresAt === undefined ||
    createdAt === undefined ||
    updatedAt === undefined ||
    allocations === undefined ||
    dcs === undefined ||
    errors === undefined
  ) {
    return undefined;
  }
  let entries = 0;
  for (let at = 0; at < count; at++) {
    const result = results[at];
    if (result < 0 || result > BatchResults.REFUSED || allocations[at] < 0) return undefined;
    if (result !== BatchResults.REFUSED && (status[at] < 0 || status[at] >= 5)) return undefined;
    entries += allocations[at];
  }
  const allocLine = readI32Column(body.allocLine, entries, copies);
  const allocDc = readI32Column(body.allocDc, entries, copies);
  const allocQty = readI32Column(body.allocQty, entries, copies);
  if (allocLine === undefined || allocDc === undefined || allocQty === undefined) return undefined;
  for (let entry = 0; entry < entries; entry++) {
    if (allocDc[entry] < 0 || allocDc[entry] >= dcs.length) return undefined;
  }
  return {
    results,
    status,
    etaTenths,
    expiresAt,
    createdAt,
    updatedAt,
    allocations,
    allocLine,
    allocDc,
    allocQty,
    dcs,
    errors,
  };
}

/** The columns of one refused order (a local refusal, or a `placeOrder` error answer). */
export function refusedOrderColumns(error: ErrorBody): OrderColumns {
  return {
    results: Int32Array.of(BatchResults.REFUSED),
    status: Int32Array.of(-1),
    etaTenths: Int32Array.of(-1),
    expiresAt: new Float64Array(1),
    createdAt: new Float64Array(1),
    updatedAt: new Float64Array(1),
    allocations: new Int32Array(1),
    allocLine: new Int32Array(0),
    allocDc: new Int32Array(0),
    allocQty: new Int32Array(0),
    dcs: [],
    errors: [[0, error]],
  };
}

/**
 * The columns of one order from a version-1 `placeOrder` answer (the SDK on a v1 node). An
 * allocation SKU the order's lines do not name (an order changed since) gets line -1.
 */
export function orderColumnsOfResult(result: OrderResult, input: PlaceOrderInput): OrderColumns {
  const order = result.order;
  const allocation = Array.isArray(order.allocation) ? order.allocation : [];
  const entries = allocation.length;
  const allocLine = new Int32Array(entries);
  const allocDc = new Int32Array(entries);
  const allocQty = new Int32Array(entries);
  const dcs: string[] = [];
  for (let entry = 0; entry < entries; entry++) {
    const { sku, dc, qty } = allocation[entry];
    allocLine[entry] = input.lines.findIndex((line) => line.sku === sku);
    let dcIndex = dcs.indexOf(dc);
    if (dcIndex < 0) dcIndex = dcs.push(dc) - 1;
    allocDc[entry] = dcIndex;
    allocQty[entry] = qty;
  }
  return {
    results: Int32Array.of(result.created ? BatchResults.CREATED : BatchResults.EXISTS),
    status: Int32Array.of(WIRE_STATUSES.indexOf(order.status)),
    etaTenths: Int32Array.of(Math.round(order.etaMinutes * 10)),
    expiresAt: Float64Array.of(order.status === 'held' ? (order.expiresAt ?? 0) : 0),
    createdAt: Float64Array.of(order.createdAt),
    updatedAt: Float64Array.of(order.updatedAt),
    allocations: Int32Array.of(entries),
    allocLine,
    allocDc,
    allocQty,
    dcs,
    errors: [],
  };
}

/** The body for an answer the node should have explained and did not (a node bug). */
function internalError(): ErrorBody {
  return { code: 'INTERNAL', message: `${ErrorCodes.INTERNAL.text}: a refusal without a reason` };
}

/** First allocation entry of each order: a prefix sum of `allocations`. */
function allocationStarts(allocations: Int32Array): Int32Array {
  const starts = new Int32Array(allocations.length);
  let entry = 0;
  for (let at = 0; at < allocations.length; at++) {
    starts[at] = entry;
    entry += allocations[at];
  }
  return starts;
}

/**
 * The answers to a batch of orders, read in place. Order `i` is the caller's `orders[i]`.
 * Numbers come straight from the columns; objects (`order`, `orderResult`, `error`) are built
 * when asked for, each call a new one. The raw columns are `columns`: views of the answer
 * frame as it arrived (or of one copy of its unaligned columns), so keeping a result keeps
 * that frame's bytes.
 */
export class OrderBatchResult {
  readonly count: number;
  readonly columns: Readonly<OrderColumns>;
  private readonly starts: Int32Array;

  constructor(
    columns: OrderColumns,
    private readonly orders: readonly PlaceOrderInput[],
  ) {
    this.columns = columns;
    this.count = columns.results.length;
    if (orders.length !== this.count) {
      throw new Error(`OrderBatchResult: ${this.count} answers for ${orders.length} orders`);
    }
    this.starts = allocationStarts(columns.allocations);
  }

  /** Orders refused (`result(i) === 'refused'`). */
  get refusedCount(): number {
    return this.columns.errors.length;
  }

  result(index: number): OrderOutcome {
    return OUTCOMES[this.columns.results[index]];
  }

  /** True when this request placed the order (not a retry of an earlier one). */
  created(index: number): boolean {
    return this.columns.results[index] === BatchResults.CREATED;
  }

  refused(index: number): boolean {
    return this.columns.results[index] === BatchResults.REFUSED;
  }

  /** Why order `index` was refused, as `placeOrder` would have rejected; else undefined. */
  error(index: number): InventoryError | undefined {
    const body = this.errorBody(index);
    return body === undefined ? undefined : errorFromBody(body);
  }

  /** The refusal's error body as the node sent it; undefined for an order not refused. */
  errorBody(index: number): ErrorBody | undefined {
    if (!this.refused(index)) return undefined;
    const errors = this.columns.errors;
    // Errors are in index order: a binary search finds the order's without a table.
    let low = 0;
    let high = errors.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const at = errors[middle][0];
      if (at === index) return errors[middle][1];
      if (at < index) low = middle + 1;
      else high = middle - 1;
    }
    return internalError();
  }

  /** The order's state now (an `exists` answer may show a later state); undefined if refused. */
  status(index: number): OrderStatus | undefined {
    return this.refused(index) ? undefined : WIRE_STATUSES[this.columns.status[index]];
  }

  etaMinutes(index: number): number | undefined {
    return this.refused(index) ? undefined : this.columns.etaTenths[index] / 10;
  }

  /** When a hold expires (ms since the epoch); undefined unless the order is held. */
  expiresAt(index: number): number | undefined {
    return this.columns.status[index] === 0 && !this.refused(index)
      ? this.columns.expiresAt[index]
      : undefined;
  }

  createdAt(index: number): number | undefined {
    return this.refused(index) ? undefined : this.columns.createdAt[index];
  }

  updatedAt(index: number): number | undefined {
    return this.refused(index) ? undefined : this.columns.updatedAt[index];
  }

  /** Allocation entries of order `index` are `allocationStart(index)` + 0 .. count - 1. */
  allocationCount(index: number): number {
    return this.columns.allocations[index];
  }

  allocationStart(index: number): number {
    return this.starts[index];
  }

  /** The DC of allocation entry `entry`. */
  allocationDc(entry: number): string {
    return this.columns.dcs[this.columns.allocDc[entry]];
  }

  allocationQty(entry: number): number {
    return this.columns.allocQty[entry];
  }

  /** The SKU of entry `entry` of order `index`, or '' when the node could not name its line. */
  allocationSku(index: number, entry: number): string {
    const line = this.columns.allocLine[entry];
    return line < 0 ? '' : this.orders[index].lines[line].sku;
  }

  /** Whether every allocation entry of order `index` names its line (see allocationSku). */
  allocationComplete(index: number): boolean {
    const start = this.starts[index];
    const end = start + this.columns.allocations[index];
    for (let entry = start; entry < end; entry++) {
      if (this.columns.allocLine[entry] < 0) return false;
    }
    return true;
  }

  /** The order as `placeOrder` would answer it (`OrderView`); undefined when refused. */
  order(index: number): OrderView | undefined {
    if (this.refused(index)) return undefined;
    const input = this.orders[index];
    const columns = this.columns;
    const start = this.starts[index];
    const count = columns.allocations[index];
    const allocation: AllocationLine[] = new Array(count);
    for (let entry = 0; entry < count; entry++) {
      allocation[entry] = {
        sku: this.allocationSku(index, start + entry),
        dc: columns.dcs[columns.allocDc[start + entry]],
        qty: columns.allocQty[start + entry],
      };
    }
    const statusIndex = columns.status[index];
    const view: OrderView = {
      orderId: input.orderId,
      status: WIRE_STATUSES[statusIndex],
      mode: input.mode,
      policy: input.policy ?? 'single-dc',
      location: { lat: input.location.lat, lng: input.location.lng },
      allocation,
      etaMinutes: columns.etaTenths[index] / 10,
      createdAt: columns.createdAt[index],
      updatedAt: columns.updatedAt[index],
    };
    if (statusIndex === 0) view.expiresAt = columns.expiresAt[index];
    return view;
  }

  /** `{ created, order }` as `placeOrder` resolves; undefined when refused. */
  orderResult(index: number): OrderResult | undefined {
    const order = this.order(index);
    return order === undefined ? undefined : { created: this.created(index), order };
  }
}

/** Where each of a batch's orders was answered: a part (a wire answer) and its entry there. */
export interface OrderSources {
  parts: readonly OrderColumns[];
  partOf: ArrayLike<number>;
  entryOf: ArrayLike<number>;
}

/** The columns of every part, merged into the caller's order (DC tables merged too). */
export function mergeOrderColumns(sources: OrderSources): OrderColumns {
  const { parts, partOf, entryOf } = sources;
  const count = partOf.length;
  const starts = parts.map((part) => allocationStarts(part.allocations));
  const dcs: string[] = [];
  const dcIndexes = new Map<string, number>();
  const dcMaps = parts.map((part) =>
    part.dcs.map((dc) => {
      let index = dcIndexes.get(dc);
      if (index === undefined) {
        index = dcs.push(dc) - 1;
        dcIndexes.set(dc, index);
      }
      return index;
    }),
  );
  let entries = 0;
  for (let at = 0; at < count; at++) entries += parts[partOf[at]].allocations[entryOf[at]];
  const merged: OrderColumns = {
    results: new Int32Array(count),
    status: new Int32Array(count),
    etaTenths: new Int32Array(count),
    expiresAt: new Float64Array(count),
    createdAt: new Float64Array(count),
    updatedAt: new Float64Array(count),
    allocations: new Int32Array(count),
    allocLine: new Int32Array(entries),
    allocDc: new Int32Array(entries),
    allocQty: new Int32Array(entries),
    dcs,
    errors: [],
  };
  const errors: [number, ErrorBody][] = [];
  // A part's entries are visited in increasing order, as are its errors: one cursor each.
  const errorCursors = new Int32Array(parts.length);
  let out = 0;
  for (let at = 0; at < count; at++) {
    const part = parts[partOf[at]];
    const from = entryOf[at];
    merged.results[at] = part.results[from];
    merged.status[at] = part.status[from];
    merged.etaTenths[at] = part.etaTenths[from];
    merged.expiresAt[at] = part.expiresAt[from];
    merged.createdAt[at] = part.createdAt[from];
    merged.updatedAt[at] = part.updatedAt[from];
    const allocations = part.allocations[from];
    merged.allocations[at] = allocations;
    const start = starts[partOf[at]][from];
    const dcMap = dcMaps[partOf[at]];
    for (let entry = start; entry < start + allocations; entry++) {
      merged.allocLine[out] = part.allocLine[entry];
      merged.allocDc[out] = dcMap[part.allocDc[entry]];
      merged.allocQty[out] = part.allocQty[entry];
      out++;
    }
    if (part.results[from] === BatchResults.REFUSED) {
      const partErrors = part.errors;
      let cursor = errorCursors[partOf[at]];
      while (cursor < partErrors.length && partErrors[cursor][0] < from) cursor++;
      errorCursors[partOf[at]] = cursor;
      const pair = cursor < partErrors.length ? partErrors[cursor] : undefined;
      const body = pair !== undefined && pair[0] === from ? pair[1] : internalError();
      errors.push([at, body]);
    }
  }
  merged.errors = errors;
  return merged;
}

/**
 * Availability as columns, on the SDK's side of protocol v2: which queries the
 * `availabilityMany` columns carry exactly, how a request's columns are built, how the
 * availability columns of an answer are read, and `AvailabilityBatchResult`, the typed view a
 * caller reads them through (and from which the SDK builds version 1's `{ skus }` objects).
 *
 * Invariants:
 * - `isCarriedQuery` accepts exactly the queries the node's `availability` validator accepts
 *   that have at least one SKU (a column batch cannot carry a query of none).
 * - Reading an answer checks every column's length against the counts the request gave and
 *   every DC index against `dcs`, so accessors index within bounds.
 * - A view makes nothing per query, SKU or DC until asked for an object (`skus`, `error`).
 */

import type { ErrorBody } from '../codes.js';
import { binBytesOf, ColumnCopies, readI32Column } from '../columns.js';
import {
  type AvailabilityResult,
  type DcAvailability,
  isPlainMap,
  type SkuAvailability,
} from '../messages.js';
import { isValidId } from '../validate.js';
import { errorFromBody, type InventoryError } from './errors.js';

/** One query of an `availabilityMany` batch. */
export interface AvailabilityQuery {
  lat: number;
  lng: number;
  skus: readonly string[];
  /** This query's delivery window; the batch's `maxMinutes` when absent. */
  maxMinutes?: number;
}

/** Bytes a query adds to a request at most, besides its SKUs: lat, lng, skuCounts. */
const QUERY_BYTES_FIXED = 20;
/**
 * Bytes a SKU adds at most, besides its characters (3 bytes each at most): a str header; or
 * by ref, the ref (4) and its definition (a ref, 4, and the id with its str header).
 */
const SKU_BYTES_FIXED = 11;
const UTF8_BYTES_PER_UNIT_MAX = 3;
/** ETAs travel in tenths of a minute; -1 is none. */
const ETA_NONE = -1;

/**
 * Whether `query` (an `availability` args map or a batch query) is one the columns carry
 * exactly: a location in range and 1..skusPerRequestMax valid SKU ids. Its window is checked
 * apart (`isCarriedMaxMinutes`), as a batch query may take the batch's.
 */
export function isCarriedQuery(
  query: unknown,
  skusPerRequestMax: number,
  areCarriedSkus: (skus: readonly unknown[]) => boolean = areValidIds,
): boolean {
  if (!isPlainMap(query)) return false;
  const { lat, lng, skus } = query;
  if (typeof lat !== 'number' || !(lat >= -90 && lat <= 90)) return false;
  if (typeof lng !== 'number' || !(lng >= -180 && lng <= 180)) return false;
  if (!Array.isArray(skus) || skus.length === 0 || skus.length > skusPerRequestMax) return false;
  return areCarriedSkus(skus);
}

function areValidIds(ids: readonly unknown[]): boolean {
  for (let at = 0; at < ids.length; at++) if (!isValidId(ids[at])) return false;
  return true;
}

/** The most bytes `query` (a carried one) adds to an `availabilityMany` request. */
export function queryBytesMax(query: AvailabilityQuery): number {
  let bytes = QUERY_BYTES_FIXED;
  const skus = query.skus;
  for (let at = 0; at < skus.length; at++) {
    bytes += SKU_BYTES_FIXED + skus[at].length * UTF8_BYTES_PER_UNIT_MAX;
  }
  return bytes;
}

function bytesOf(column: Int32Array | Float64Array): Uint8Array {
  return new Uint8Array(column.buffer, column.byteOffset, column.byteLength);
}

/** The options every query of one `availabilityMany` request shares. */
export interface QueryOptions {
  maxMinutes: number | undefined;
  breakdown: boolean;
}

/**
 * The `availabilityMany` args for `count` carried queries, `queryAt(entry)` giving each in
 * request order, and the `skuCounts` column (which reading the answer needs). The reference
 * form: the SDK sends what BatchEncoder writes, which tests check is these args' encoding.
 */
export function availabilityManyArgs(
  count: number,
  skuTotal: number,
  options: QueryOptions,
  queryAt: (entry: number) => AvailabilityQuery,
): { args: Record<string, unknown>; skuCounts: Int32Array } {
  const lat = new Float64Array(count);
  const lng = new Float64Array(count);
  const skuCounts = new Int32Array(count);
  const skus = new Array<string>(skuTotal);
  let at = 0;
  for (let entry = 0; entry < count; entry++) {
    const query = queryAt(entry);
    lat[entry] = query.lat;
    lng[entry] = query.lng;
    const ids = query.skus;
    skuCounts[entry] = ids.length;
    for (let sku = 0; sku < ids.length; sku++) skus[at++] = ids[sku];
  }
  if (at !== skuTotal) throw new Error(`availabilityMany: ${at} SKUs counted as ${skuTotal}`);
  const args: Record<string, unknown> = {
    queries: count,
    lat: bytesOf(lat),
    lng: bytesOf(lng),
    skuCounts: bytesOf(skuCounts),
    skus,
  };
  if (options.maxMinutes !== undefined) args.maxMinutes = options.maxMinutes;
  // The node's default is the breakdown; sent only to turn it off.
  if (!options.breakdown) args.breakdown = false;
  return { args, skuCounts };
}

/** An answer's availability columns, read, with the request's `skuCounts` they depend on. */
export interface AvailabilityColumnsRead {
  /** SKUs per query, as asked. */
  skuCounts: Int32Array;
  /** DCs delivering to each query's location in time, nearest first. */
  dcCounts: Int32Array;
  dcs: readonly string[];
  /** Each query's DCs, as indexes into `dcs`. */
  dcIndex: Int32Array;
  /** Each such DC's ETA, in tenths of a minute. */
  dcEtaTenths: Int32Array;
  /** Per SKU asked: units free over the query's DCs; -1 for an unknown SKU. */
  available: Int32Array;
  /** Per SKU: the best ETA among DCs that have it (tenths); -1 when none has it. */
  etaTenths: Int32Array;
  /** With the breakdown: per query, per SKU, a row of its DCs' units. Null without. */
  perDc: Int32Array | null;
  /** Refused queries as [index, error body], in index order. */
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

/**
 * Reads availability columns answering queries of `skuCounts` SKUs, or undefined when the
 * body is not such an answer (a column missing, of the wrong length, a DC index out of range).
 * `breakdown` says whether `perDc` must be there.
 */
/** The binary columns of an `availabilityMany` answer (ColumnCopies' capacity). */
const AVAILABILITY_COLUMN_KEYS = [
  'dcCounts',
  'dcIndex',
  'dcEtaTenths',
  'available',
  'etaTenths',
  'perDc',
] as const;

export function readAvailabilityColumns(
  body: unknown,
  skuCounts: Int32Array,
  breakdown: boolean,
): AvailabilityColumnsRead | undefined {
  if (!isPlainMap(body)) return undefined;
  const count = skuCounts.length;
  const copies = new ColumnCopies(binBytesOf(body, AVAILABILITY_COLUMN_KEYS));
  const dcCounts = readI32Column(body.dcCounts, count, copies);
  const dcs = body.dcs;
  const errors = readErrors(body.errors, count);
  if (dcCounts === undefined || !Array.isArray(dcs) || errors === undefined) return undefined;
  for (const dc of dcs) if (typeof dc !== 'string') return undefined;
  let dcTotal = 0;
  let skuTotal = 0;
  let cells = 0;
  for (let query = 0; query < count; query++) {
    if (dcCounts[query] < 0) return undefined;
    dcTotal += dcCounts[query];
    skuTotal += skuCounts[query];
    cells += skuCounts[query] * dcCounts[query];
  }
  const dcIndex = readI32Column(body.dcIndex, dcTotal, copies);
  const dcEtaTenths = readI32Column(body.dcEtaTenths, dcTotal, copies);
  const available = readI32Column(body.available, skuTotal, copies);
  const etaTenths = readI32Column(body.etaTenths, skuTotal, copies);
  const perDc = breakdown ? readI32Column(body.perDc, cells, copies) : null;
  if (
    dcIndex === undefined ||
    dcEtaTenths === undefined ||
    available === undefined ||
    etaTenths === undefined ||
    perDc === undefined
  ) {
    return undefined;
  }
  for (let at = 0; at < dcTotal; at++) {
    if (dcIndex[at] < 0 || dcIndex[at] >= dcs.length) return undefined;
  }
  return {
    skuCounts,
    dcCounts,
    dcs: dcs as string[],
    dcIndex,
    dcEtaTenths,
    available,
    etaTenths,
    perDc,
    errors,
  };
}

/** The columns of one refused query of `skuCount` SKUs: no DC, -1 for each SKU. */
export function refusedQueryColumns(
  skuCount: number,
  breakdown: boolean,
  error: ErrorBody,
): AvailabilityColumnsRead {
  return {
    skuCounts: Int32Array.of(skuCount),
    dcCounts: new Int32Array(1),
    dcs: [],
    dcIndex: new Int32Array(0),
    dcEtaTenths: new Int32Array(0),
    available: new Int32Array(skuCount).fill(-1),
    etaTenths: new Int32Array(skuCount).fill(ETA_NONE),
    perDc: breakdown ? new Int32Array(0) : null,
    errors: [[0, error]],
  };
}

function tenthsOf(minutes: unknown): number {
  return typeof minutes === 'number' ? Math.round(minutes * 10) : ETA_NONE;
}

/**
 * The columns of one query from a version-1 `availability` answer (the SDK on a v1 node).
 * Version 1 names only the DCs holding some of the SKUs asked, so those are the query's DCs
 * here (none without the breakdown).
 */
export function queryColumnsOfResult(
  result: AvailabilityResult,
  skus: readonly string[],
  breakdown: boolean,
): AvailabilityColumnsRead {
  const levels = isPlainMap(result) && isPlainMap(result.skus) ? result.skus : {};
  const dcEtas = new Map<string, number>();
  const skuCount = skus.length;
  const available = new Int32Array(skuCount);
  const etaTenths = new Int32Array(skuCount);
  for (let at = 0; at < skuCount; at++) {
    const level = levels[skus[at]] as (SkuAvailability & { unknown?: boolean }) | undefined;
    available[at] = level === undefined || level.unknown === true ? -1 : level.available;
    etaTenths[at] = level === undefined ? ETA_NONE : tenthsOf(level.etaMinutes);
    for (const entry of level?.dcs ?? []) dcEtas.set(entry.dc, tenthsOf(entry.etaMinutes));
  }
  const dcs = [...dcEtas.keys()].sort((a, b) => dcEtas.get(a)! - dcEtas.get(b)!);
  const dcCount = dcs.length;
  const perDc = breakdown ? new Int32Array(skuCount * dcCount) : null;
  if (perDc !== null) {
    for (let at = 0; at < skuCount; at++) {
      for (const entry of levels[skus[at]]?.dcs ?? []) {
        perDc[at * dcCount + dcs.indexOf(entry.dc)] = entry.available;
      }
    }
  }
  const dcIndex = new Int32Array(dcCount);
  const dcEtaTenths = new Int32Array(dcCount);
  for (let at = 0; at < dcCount; at++) {
    dcIndex[at] = at;
    dcEtaTenths[at] = dcEtas.get(dcs[at])!;
  }
  return {
    skuCounts: Int32Array.of(skuCount),
    dcCounts: Int32Array.of(dcCount),
    dcs,
    dcIndex,
    dcEtaTenths,
    available,
    etaTenths,
    perDc,
    errors: [],
  };
}

/** Per query: where its DCs, SKUs and per-DC rows start in the columns. */
interface QueryStarts {
  dc: Int32Array;
  sku: Int32Array;
  perDc: Int32Array;
}

function queryStarts(columns: AvailabilityColumnsRead): QueryStarts {
  const count = columns.skuCounts.length;
  const starts = {
    dc: new Int32Array(count),
    sku: new Int32Array(count),
    perDc: new Int32Array(count),
  };
  let dc = 0;
  let sku = 0;
  let perDc = 0;
  for (let query = 0; query < count; query++) {
    starts.dc[query] = dc;
    starts.sku[query] = sku;
    starts.perDc[query] = perDc;
    dc += columns.dcCounts[query];
    sku += columns.skuCounts[query];
    perDc += columns.skuCounts[query] * columns.dcCounts[query];
  }
  return starts;
}

/**
 * Availability answers to a batch of queries, read in place. Query `q` is the caller's
 * `queries[q]`; SKU `s` of it is `queries[q].skus[s]`; DC `d` of it is its d-th nearest DC.
 * For direct loops over `columns`, query q's values start at `skuStart(q)` (available,
 * etaTenths), `dcStart(q)` (dcIndex, dcEtaTenths) and `perDcStart(q)` (perDc, a row of
 * `dcCount(q)` values per SKU).
 *
 * The columns are views of the answer frame as it arrived (or of one copy of its unaligned
 * columns): keeping a result keeps that frame's bytes. Copy (`slice()`) what is kept long.
 */
export class AvailabilityBatchResult {
  readonly count: number;
  readonly columns: Readonly<AvailabilityColumnsRead>;
  /** Whether the answer has the per-DC breakdown (`perDc`). */
  readonly breakdown: boolean;
  private readonly starts: QueryStarts;

  constructor(
    columns: AvailabilityColumnsRead,
    private readonly queries: readonly { readonly skus: readonly string[] }[],
  ) {
    this.columns = columns;
    this.count = columns.skuCounts.length;
    if (queries.length !== this.count) {
      throw new Error(`AvailabilityBatchResult: ${this.count} answers for ${queries.length}`);
    }
    this.breakdown = columns.perDc !== null;
    this.starts = queryStarts(columns);
  }

  get refusedCount(): number {
    return this.columns.errors.length;
  }

  skuCount(query: number): number {
    return this.columns.skuCounts[query];
  }

  /** The id of SKU `sku` of query `query`, as asked. */
  sku(query: number, sku: number): string {
    return this.queries[query].skus[sku];
  }

  /** DCs that deliver to the query's location in time; 0 when none does. */
  dcCount(query: number): number {
    return this.columns.dcCounts[query];
  }

  /** The id of the query's `dc`-th nearest DC. */
  dc(query: number, dc: number): string {
    return this.columns.dcs[this.columns.dcIndex[this.starts.dc[query] + dc]];
  }

  dcEtaMinutes(query: number, dc: number): number {
    return this.columns.dcEtaTenths[this.starts.dc[query] + dc] / 10;
  }

  /** Units free across the query's DCs; -1 for a SKU the node does not know. */
  available(query: number, sku: number): number {
    return this.columns.available[this.starts.sku[query] + sku];
  }

  /** The best ETA among the DCs that have the SKU; null when none has it. */
  etaMinutes(query: number, sku: number): number | null {
    const tenths = this.columns.etaTenths[this.starts.sku[query] + sku];
    return tenths === ETA_NONE ? null : tenths / 10;
  }

  /** Units of SKU `sku` at the query's DC `dc`. Needs the breakdown (it throws without). */
  perDc(query: number, sku: number, dc: number): number {
    const rows = this.columns.perDc;
    if (rows === null) throw new RangeError('perDc needs the breakdown (breakdown: true)');
    return rows[this.starts.perDc[query] + sku * this.columns.dcCounts[query] + dc];
  }

  skuStart(query: number): number {
    return this.starts.sku[query];
  }

  dcStart(query: number): number {
    return this.starts.dc[query];
  }

  perDcStart(query: number): number {
    return this.starts.perDc[query];
  }

  refused(query: number): boolean {
    return this.errorBody(query) !== undefined;
  }

  /** Why the node refused query `query` (a bad location...); undefined when it answered. */
  error(query: number): InventoryError | undefined {
    const body = this.errorBody(query);
    return body === undefined ? undefined : errorFromBody(body);
  }

  errorBody(query: number): ErrorBody | undefined {
    const errors = this.columns.errors;
    if (errors.length === 0) return undefined;
    let low = 0;
    let high = errors.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const at = errors[middle][0];
      if (at === query) return errors[middle][1];
      if (at < query) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  /**
   * Query `query` as version 1's `availability` answered it: per SKU id `{ available,
   * etaMinutes, dcs }` (`dcs` the DCs holding some, with the breakdown; `unknown: true` and
   * `available: 0` for a SKU the node does not know).
   */
  skus(query: number): Record<string, SkuAvailability> {
    const { columns, starts } = this;
    const skus = this.queries[query].skus;
    const skuCount = columns.skuCounts[query];
    const skuStart = starts.sku[query];
    const dcStart = starts.dc[query];
    const dcCount = columns.dcCounts[query];
    const rows = columns.perDc;
    let row = starts.perDc[query];
    const result = dictionary<SkuAvailability>();
    for (let at = 0; at < skuCount; at++) {
      const total = columns.available[skuStart + at];
      const eta = columns.etaTenths[skuStart + at];
      const level: SkuAvailability = {
        available: Math.max(total, 0),
        etaMinutes: eta === ETA_NONE ? null : eta / 10,
        dcs: rows === null ? [] : dcsWithUnits(columns, rows, row, dcStart, dcCount),
      };
      if (total < 0) (level as SkuAvailability & { unknown: boolean }).unknown = true;
      if (rows !== null) row += dcCount;
      result[skus[at]] = level;
    }
    return result;
  }
}

/**
 * The DCs of one SKU's breakdown row that hold units, in an array of exactly that length: an
 * array grown by `push` from `[]` takes a 17-slot backing store for its first element, which
 * was a third of the bytes a per-call answer allocated (and GC took a third of the SDK's CPU
 * per call).
 */
function dcsWithUnits(
  columns: AvailabilityColumnsRead,
  rows: Int32Array,
  row: number,
  dcStart: number,
  dcCount: number,
): DcAvailability[] {
  let holding = 0;
  for (let dc = 0; dc < dcCount; dc++) if (rows[row + dc] !== 0) holding++;
  if (holding === 0) return [];
  const dcs: DcAvailability[] = new Array(holding);
  let at = 0;
  for (let dc = 0; dc < dcCount; dc++) {
    const units = rows[row + dc];
    if (units === 0) continue;
    dcs[at++] = {
      dc: columns.dcs[columns.dcIndex[dcStart + dc]],
      available: units,
      etaMinutes: columns.dcEtaTenths[dcStart + dc] / 10,
    };
  }
  return dcs;
}

/**
 * An ordinary object (Object.prototype, so `hasOwnProperty`, `toString` and equality checks
 * behave as on `{}`) that starts in V8's dictionary mode. Keyed by SKU ids that differ from
 * query to query, a `{}` walks a new chain of hidden classes for every combination of keys;
 * a dictionary adds a key with a hash insert. Measured with one SDK call per query
 * (`npm run loadtest -- --scenario availability --batch 0 --window 32`, 2 runs each): the
 * SDK's CPU per answer went from 160–181 µs to 96–105 µs, and queries/s from 6.3–7.0 k to
 * 10.9–11.9 k. (The node builds its v1 answers the same way, engine/availability.ts.)
 */
function dictionary<T>(): Record<string, T> {
  return Object.setPrototypeOf(Object.create(null), Object.prototype) as Record<string, T>;
}

/** Where each of a batch's queries was answered: a part and its query there. */
export interface QuerySources {
  parts: readonly AvailabilityColumnsRead[];
  partOf: ArrayLike<number>;
  entryOf: ArrayLike<number>;
  breakdown: boolean;
}

/** The columns of every part, merged into the caller's query order. */
export function mergeAvailabilityColumns(sources: QuerySources): AvailabilityColumnsRead {
  const { parts, partOf, entryOf, breakdown } = sources;
  const count = partOf.length;
  const starts = parts.map(queryStarts);
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
  const skuCounts = new Int32Array(count);
  const dcCounts = new Int32Array(count);
  let dcTotal = 0;
  let skuTotal = 0;
  let cells = 0;
  for (let at = 0; at < count; at++) {
    const part = parts[partOf[at]];
    skuCounts[at] = part.skuCounts[entryOf[at]];
    dcCounts[at] = part.dcCounts[entryOf[at]];
    dcTotal += dcCounts[at];
    skuTotal += skuCounts[at];
    cells += skuCounts[at] * dcCounts[at];
  }
  const merged: AvailabilityColumnsRead = {
    skuCounts,
    dcCounts,
    dcs,
    dcIndex: new Int32Array(dcTotal),
    dcEtaTenths: new Int32Array(dcTotal),
    available: new Int32Array(skuTotal),
    etaTenths: new Int32Array(skuTotal),
    perDc: breakdown ? new Int32Array(cells) : null,
    errors: [],
  };
  const errors: [number, ErrorBody][] = [];
  let dcOut = 0;
  let skuOut = 0;
  let cellOut = 0;
  for (let at = 0; at < count; at++) {
    const part = parts[partOf[at]];
    const from = entryOf[at];
    const start = starts[partOf[at]];
    const dcMap = dcMaps[partOf[at]];
    for (let dc = 0; dc < dcCounts[at]; dc++) {
      merged.dcIndex[dcOut] = dcMap[part.dcIndex[start.dc[from] + dc]];
      merged.dcEtaTenths[dcOut] = part.dcEtaTenths[start.dc[from] + dc];
      dcOut++;
    }
    const skuFrom = start.sku[from];
    merged.available.set(part.available.subarray(skuFrom, skuFrom + skuCounts[at]), skuOut);
    merged.etaTenths.set(part.etaTenths.subarray(skuFrom, skuFrom + skuCounts[at]), skuOut);
    skuOut += skuCounts[at];
    if (merged.perDc !== null && part.perDc !== null) {
      const cellFrom = start.perDc[from];
      const size = skuCounts[at] * dcCounts[at];
      merged.perDc.set(part.perDc.subarray(cellFrom, cellFrom + size), cellOut);
      cellOut += size;
    }
    for (const [index, body] of part.errors) {
      if (index === from) errors.push([at, body]);
    }
  }
  merged.errors = errors;
  return merged;
}

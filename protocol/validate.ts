/**
 * Argument validation for every op: the one check both transports share. The WebSocket path
 * passes decoded MessagePack maps, the HTTP path passes what json.ts built from bodies and
 * query strings, and both get the same codes for the same mistakes.
 *
 * Invariants:
 * - `validateArgs` never throws and never trusts a type: every field is checked for type,
 *   range (int32 quantities, finite coordinates), UTF-8 byte length (ids) and array length
 *   before anything is read from it, so cost is bounded by the limits, not by the input.
 * - A valid answer is a fresh object holding only the known fields (nested locations, lines
 *   and areas copied too), so nothing a client smuggled in an extra field reaches the engine
 *   or its log. Unknown fields are ignored, which lets newer clients talk to older nodes.
 * - An optional field may be absent or nil (null): both mean "not given".
 * - The success path allocates only the result; failure messages are built on failure.
 */

import type { ErrorBody, ErrorCode } from './codes.js';
import { binBytesOf, ColumnCopies, readF64Column, readI32Column } from './columns.js';
import {
  AREA_VERTICES_MAX,
  BROWSE_LIMIT_MAX,
  CURSOR_LENGTH_MAX,
  HELLO_VERSIONS_MAX,
  ID_BYTES_MAX,
  LINES_PER_ORDER_MAX,
  LOW_STOCK_FILTER_SKUS_MAX,
  MAX_MINUTES_CEILING,
  NAME_LENGTH_MAX,
  ORDERS_PER_BATCH_MAX,
  QUERIES_PER_BATCH_MAX,
  SKUS_PER_BATCH_MAX,
  SKU_REFS_MAX,
  PREP_MINUTES_MAX,
  QUANTITY_MAX,
  RADIUS_KM_MAX,
  RADIUS_KM_MIN,
  REASON_LENGTH_MAX,
  REQUEST_ID_MAX,
  SEQUENCE_MAX,
  SKUS_PER_REQUEST_MAX,
  SPEED_KMH_MAX,
  SPEED_KMH_MIN,
  SUBSCRIPTION_DCS_MAX,
  SUBSCRIPTION_SKUS_MAX,
  TTL_SECONDS_MAX,
} from './limits.js';
import {
  type AdjustArgs,
  type AvailabilityArgs,
  type AvailabilityManyArgs,
  type NamedSkus,
  type BrowseArgs,
  type ChangeOrderArgs,
  type ConfirmArgs,
  type ExtendArgs,
  type HelloArgs,
  isPlainMap,
  type Location,
  type Op,
  type OpArgs,
  type OrderIdArgs,
  type OrderLine,
  type PingArgs,
  type PlaceOrderArgs,
  type PlaceOrdersArgs,
  type PolygonArea,
  type ReceiveArgs,
  type StockKeyArgs,
  type SubscribeArgs,
  type UnsubscribeArgs,
  type UpsertDcArgs,
  type UpsertSkuArgs,
} from './messages.js';

export type Validated<T> = { ok: true; args: T } | { ok: false; error: ValidationError };

/** An error answer body naming the field at fault (`lines[2].qty`). */
export interface ValidationError extends ErrorBody {
  field: string;
}

/** The limits a node may configure differently from this code's defaults. */
export interface ValidationLimits {
  linesPerOrderMax: number;
  skusPerRequestMax: number;
}

export const DEFAULT_VALIDATION_LIMITS: Readonly<ValidationLimits> = {
  linesPerOrderMax: LINES_PER_ORDER_MAX,
  skusPerRequestMax: SKUS_PER_REQUEST_MAX,
};

/** A refused field; helpers return it instead of a value, and callers test `instanceof`. */
class Invalid {
  constructor(
    readonly code: ErrorCode,
    readonly field: string,
    readonly problem: string,
  ) {}
}

type Validator<T> = (args: Record<string, unknown>, limits: ValidationLimits) => T | Invalid;

const VALIDATORS: { readonly [O in Op]: Validator<OpArgs[O]> } = {
  hello: validateHello,
  ping: validatePing,
  availability: validateAvailability,
  browse: validateBrowse,
  placeOrder: validatePlaceOrder,
  checkBasket: validatePlaceOrder,
  confirm: validateConfirm,
  cancel: validateOrderId,
  extend: validateExtend,
  changeOrder: validateChangeOrder,
  fulfil: validateOrderId,
  getOrder: validateOrderId,
  receive: validateReceive,
  adjust: validateAdjust,
  getStock: validateStockKey,
  upsertDc: validateUpsertDc,
  upsertSku: validateUpsertSku,
  subscribe: validateSubscribe,
  unsubscribe: validateUnsubscribe,
  placeOrders: validatePlaceOrders,
  availabilityMany: validateAvailabilityMany,
};

/**
 * Checks `args` for `op` (which the caller has already checked with isOp). Returns fresh,
 * typed args or an error body ready to send as the error answer.
 */
export function validateArgs<O extends Op>(
  op: O,
  args: unknown,
  limits: Readonly<ValidationLimits> = DEFAULT_VALIDATION_LIMITS,
): Validated<OpArgs[O]> {
  if (!isPlainMap(args)) {
    return refuse(new Invalid('BAD_REQUEST', 'args', 'must be a map'));
  }
  // Guards a caller that skipped isOp: a plain lookup would find Object.prototype members.
  if (!Object.hasOwn(VALIDATORS, op)) {
    return refuse(new Invalid('UNKNOWN_OP', 'op', 'is not an operation of this protocol'));
  }
  const result = (VALIDATORS[op] as Validator<OpArgs[O]>)(args, limits);
  if (result instanceof Invalid) return refuse(result);
  return { ok: true, args: result };
}

function refuse(invalid: Invalid): { ok: false; error: ValidationError } {
  return {
    ok: false,
    error: {
      code: invalid.code,
      message: `${invalid.field} ${invalid.problem}`,
      field: invalid.field,
    },
  };
}

// Field checks. Each returns the value (copied where it is an object) or an Invalid.

function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/**
 * Why `value` is not a valid id, or undefined when it is: 1..ID_BYTES_MAX bytes of UTF-8,
 * no control characters, no unpaired surrogates (which UTF-8 cannot carry: they would turn
 * into U+FFFD in the log and no longer match).
 */
export function idProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  const length = value.length;
  if (length === 0) return 'is empty';
  // Every UTF-16 unit takes at least one UTF-8 byte.
  if (length > ID_BYTES_MAX) return `is longer than ${ID_BYTES_MAX} bytes of UTF-8`;
  let bytes = 0;
  for (let index = 0; index < length; index++) {
    const unit = value.charCodeAt(index);
    if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) return 'contains a control character';
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = index + 1 < length ? value.charCodeAt(index + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return 'contains an unpaired surrogate';
      bytes += 4;
      index++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) return 'contains an unpaired surrogate';
    else bytes += 3;
  }
  return bytes > ID_BYTES_MAX ? `is longer than ${ID_BYTES_MAX} bytes of UTF-8` : undefined;
}

export function isValidId(value: unknown): value is string {
  return idProblem(value) === undefined;
}

function readId(value: unknown, code: ErrorCode, field: string): string | Invalid {
  const problem = idProblem(value);
  return problem === undefined ? (value as string) : new Invalid(code, field, problem);
}

function isLatitude(value: unknown): value is number {
  return typeof value === 'number' && value >= -90 && value <= 90;
}

function isLongitude(value: unknown): value is number {
  return typeof value === 'number' && value >= -180 && value <= 180;
}

function readLocation(value: unknown, field: string): Location | Invalid {
  if (!isPlainMap(value)) return new Invalid('BAD_LOCATION', field, 'must be { lat, lng }');
  const lat = value.lat;
  const lng = value.lng;
  if (!isLatitude(lat)) {
    return new Invalid('BAD_LOCATION', `${field}.lat`, 'must be a number in [-90, 90]');
  }
  if (!isLongitude(lng)) {
    return new Invalid('BAD_LOCATION', `${field}.lng`, 'must be a number in [-180, 180]');
  }
  return { lat, lng };
}

/** Top-level `lat` and `lng` (availability, browse). */
function checkLatLng(args: Record<string, unknown>): Invalid | undefined {
  if (!isLatitude(args.lat)) return new Invalid('BAD_LOCATION', 'lat', 'must be in [-90, 90]');
  if (!isLongitude(args.lng)) {
    return new Invalid('BAD_LOCATION', 'lng', 'must be in [-180, 180]');
  }
  return undefined;
}

function isIntIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function readInt(
  value: unknown,
  min: number,
  max: number,
  code: ErrorCode,
  field: string,
): number | Invalid {
  return isIntIn(value, min, max)
    ? value
    : new Invalid(code, field, `must be an integer in [${min}, ${max}]`);
}

function optionalInt(
  value: unknown,
  min: number,
  max: number,
  code: ErrorCode,
  field: string,
): number | undefined | Invalid {
  return isPresent(value) ? readInt(value, min, max, code, field) : undefined;
}

/** An optional finite number in (0, max]. */
function optionalPositive(
  value: unknown,
  max: number,
  field: string,
): number | undefined | Invalid {
  if (!isPresent(value)) return undefined;
  if (typeof value === 'number' && value > 0 && value <= max) return value;
  return new Invalid('BAD_FIELD', field, `must be a number in (0, ${max}]`);
}

/** An optional number in [min, max]. */
function optionalInRange(
  value: unknown,
  min: number,
  max: number,
  field: string,
): number | undefined | Invalid {
  if (!isPresent(value)) return undefined;
  if (typeof value === 'number' && value >= min && value <= max) return value;
  return new Invalid('BAD_FIELD', field, `must be a number in [${min}, ${max}]`);
}

function readString(value: unknown, lengthMax: number, field: string): string | Invalid {
  if (typeof value === 'string' && value.length > 0 && value.length <= lengthMax) return value;
  return new Invalid('BAD_FIELD', field, `must be a string of 1..${lengthMax} characters`);
}

function optionalString(value: unknown, lengthMax: number, field: string) {
  return isPresent(value) ? readString(value, lengthMax, field) : undefined;
}

function optionalBoolean(value: unknown, field: string): boolean | undefined | Invalid {
  if (!isPresent(value)) return undefined;
  return typeof value === 'boolean' ? value : new Invalid('BAD_FIELD', field, 'must be a boolean');
}

/**
 * Order lines: 1..linesMax of `{ sku, qty }`, qty an integer in [qtyMin, QUANTITY_MAX], no
 * SKU twice. Copied into fresh objects.
 */
function readLines(
  value: unknown,
  linesMax: number,
  qtyMin: number,
  field: string,
): OrderLine[] | Invalid {
  if (!Array.isArray(value)) return new Invalid('BAD_FIELD', field, 'must be an array');
  const count = value.length;
  if (count === 0) return new Invalid('EMPTY_ORDER', field, 'is empty');
  if (count > linesMax) {
    return new Invalid('TOO_MANY_LINES', field, `has ${count} lines, over ${linesMax}`);
  }
  const lines: OrderLine[] = new Array(count);
  for (let index = 0; index < count; index++) {
    const line = value[index];
    if (!isPlainMap(line)) return new Invalid('BAD_FIELD', `${field}[${index}]`, 'must be a map');
    const sku = line.sku;
    // Field names are made only for a refusal: this runs once per line of every order.
    const problem = idProblem(sku);
    if (problem !== undefined) return new Invalid('BAD_ID', `${field}[${index}].sku`, problem);
    const qty = line.qty;
    if (!isIntIn(qty, qtyMin, QUANTITY_MAX)) {
      return new Invalid(
        'BAD_QUANTITY',
        `${field}[${index}].qty`,
        `must be an integer in [${qtyMin}, ${QUANTITY_MAX}]`,
      );
    }
    lines[index] = { sku: sku as string, qty };
  }
  const duplicate = duplicateLineIndex(lines);
  if (duplicate >= 0) {
    return new Invalid('DUPLICATE_LINE', `${field}[${duplicate}].sku`, 'repeats an earlier SKU');
  }
  return lines;
}

/** Index of the first line whose SKU appeared earlier, or -1. */
function duplicateLineIndex(lines: readonly OrderLine[]): number {
  // Orders are a handful of lines: pairwise comparison beats building a Set until they are not.
  if (lines.length <= 32) {
    for (let later = 1; later < lines.length; later++) {
      for (let earlier = 0; earlier < later; earlier++) {
        if (lines[earlier].sku === lines[later].sku) return later;
      }
    }
    return -1;
  }
  const seen = new Set<string>();
  for (let index = 0; index < lines.length; index++) {
    if (seen.has(lines[index].sku)) return index;
    seen.add(lines[index].sku);
  }
  return -1;
}

function readSkuList(value: unknown, skusMax: number): string[] | Invalid {
  return readIdList(value, skusMax, 'skus', 'TOO_MANY_SKUS');
}

/** An array of at most `countMax` ids, copied; `overCode` when it has more. */
function readIdList(
  value: unknown,
  countMax: number,
  field: string,
  overCode: ErrorCode,
): string[] | Invalid {
  if (!Array.isArray(value)) return new Invalid('BAD_FIELD', field, 'must be an array');
  if (value.length > countMax) {
    return new Invalid(overCode, field, `has ${value.length} ids, over ${countMax}`);
  }
  const ids: string[] = new Array(value.length);
  for (let index = 0; index < value.length; index++) {
    const id = value[index];
    // The field's name is made only for a refusal: this runs once per id of every query.
    const problem = idProblem(id);
    if (problem !== undefined) return new Invalid('BAD_ID', `${field}[${index}]`, problem);
    ids[index] = id as string;
  }
  return ids;
}

/** A GeoJSON Polygon: closed rings of at least 4 [lng, lat] points, copied. */
function readArea(value: unknown): PolygonArea | Invalid {
  if (!isPlainMap(value) || value.type !== 'Polygon') {
    return new Invalid('BAD_AREA', 'area', 'must be a GeoJSON Polygon');
  }
  const rings = value.coordinates;
  if (!Array.isArray(rings) || rings.length === 0) {
    return new Invalid('BAD_AREA', 'area.coordinates', 'must be a non-empty array of rings');
  }
  const copy: number[][][] = new Array(rings.length);
  let vertices = 0;
  for (let ringIndex = 0; ringIndex < rings.length; ringIndex++) {
    const ring = rings[ringIndex];
    const field = `area.coordinates[${ringIndex}]`;
    if (!Array.isArray(ring) || ring.length < 4) {
      return new Invalid('BAD_AREA', field, 'must be a ring of at least 4 points');
    }
    vertices += ring.length;
    if (vertices > AREA_VERTICES_MAX) {
      return new Invalid('BAD_AREA', field, `takes the area over ${AREA_VERTICES_MAX} vertices`);
    }
    const points = readRing(ring, field);
    if (points instanceof Invalid) return points;
    copy[ringIndex] = points;
  }
  return { type: 'Polygon', coordinates: copy };
}

function readRing(ring: unknown[], field: string): number[][] | Invalid {
  const points: number[][] = new Array(ring.length);
  for (let index = 0; index < ring.length; index++) {
    const point = ring[index];
    if (
      !Array.isArray(point) ||
      point.length < 2 ||
      point.length > 3 ||
      !isLongitude(point[0]) ||
      !isLatitude(point[1])
    ) {
      return new Invalid('BAD_AREA', `${field}[${index}]`, 'must be [lng, lat] in range');
    }
    points[index] = [point[0], point[1]];
  }
  const first = points[0];
  const last = points[points.length - 1];
  if (first[0] !== last[0] || first[1] !== last[1]) {
    return new Invalid('BAD_AREA', field, 'must end where it starts');
  }
  return points;
}

function optionalMaxMinutes(value: unknown): number | undefined | Invalid {
  return optionalPositive(value, MAX_MINUTES_CEILING, 'maxMinutes');
}

// Op validators.

function validateHello(args: Record<string, unknown>): HelloArgs | Invalid {
  const versions = args.versions;
  if (!Array.isArray(versions) || versions.length === 0 || versions.length > HELLO_VERSIONS_MAX) {
    return new Invalid('BAD_FIELD', 'versions', `must be 1..${HELLO_VERSIONS_MAX} integers`);
  }
  const copy: number[] = new Array(versions.length);
  for (let index = 0; index < versions.length; index++) {
    const version = readInt(versions[index], 0, 0xffff, 'BAD_FIELD', `versions[${index}]`);
    if (version instanceof Invalid) return version;
    copy[index] = version;
  }
  return { versions: copy };
}

function validatePing(): PingArgs {
  return {};
}

function validateAvailability(
  args: Record<string, unknown>,
  limits: ValidationLimits,
): AvailabilityArgs | Invalid {
  const latLng = checkLatLng(args);
  if (latLng !== undefined) return latLng;
  const skus = readSkuList(args.skus, limits.skusPerRequestMax);
  if (skus instanceof Invalid) return skus;
  const maxMinutes = optionalMaxMinutes(args.maxMinutes);
  if (maxMinutes instanceof Invalid) return maxMinutes;
  const breakdown = optionalBoolean(args.breakdown, 'breakdown');
  if (breakdown instanceof Invalid) return breakdown;
  const out: AvailabilityArgs = { lat: args.lat as number, lng: args.lng as number, skus };
  if (maxMinutes !== undefined) out.maxMinutes = maxMinutes;
  if (breakdown !== undefined) out.breakdown = breakdown;
  return out;
}

function validateBrowse(args: Record<string, unknown>): BrowseArgs | Invalid {
  const latLng = checkLatLng(args);
  if (latLng !== undefined) return latLng;
  const category = optionalString(args.category, NAME_LENGTH_MAX, 'category');
  if (category instanceof Invalid) return category;
  const cursor = optionalString(args.cursor, CURSOR_LENGTH_MAX, 'cursor');
  if (cursor instanceof Invalid) return cursor;
  const limit = optionalInt(args.limit, 1, BROWSE_LIMIT_MAX, 'BAD_FIELD', 'limit');
  if (limit instanceof Invalid) return limit;
  const maxMinutes = optionalMaxMinutes(args.maxMinutes);
  if (maxMinutes instanceof Invalid) return maxMinutes;
  const out: BrowseArgs = { lat: args.lat as number, lng: args.lng as number };
  if (category !== undefined) out.category = category;
  if (cursor !== undefined) out.cursor = cursor;
  if (limit !== undefined) out.limit = limit;
  if (maxMinutes !== undefined) out.maxMinutes = maxMinutes;
  return out;
}

function validatePlaceOrder(
  args: Record<string, unknown>,
  limits: ValidationLimits,
): PlaceOrderArgs | Invalid {
  const orderId = readId(args.orderId, 'BAD_ORDER_ID', 'orderId');
  if (orderId instanceof Invalid) return orderId;
  const location = readLocation(args.location, 'location');
  if (location instanceof Invalid) return location;
  const lines = readLines(args.lines, limits.linesPerOrderMax, 1, 'lines');
  if (lines instanceof Invalid) return lines;
  const mode = args.mode;
  if (mode !== 'hold' && mode !== 'commit') {
    return new Invalid('BAD_MODE', 'mode', "must be 'hold' or 'commit'");
  }
  const ttlSeconds = optionalInt(args.ttlSeconds, 1, TTL_SECONDS_MAX, 'BAD_TTL', 'ttlSeconds');
  if (ttlSeconds instanceof Invalid) return ttlSeconds;
  const policy = args.policy;
  if (isPresent(policy) && policy !== 'single-dc' && policy !== 'split') {
    return new Invalid('BAD_POLICY', 'policy', "must be 'single-dc' or 'split'");
  }
  const maxMinutes = optionalMaxMinutes(args.maxMinutes);
  if (maxMinutes instanceof Invalid) return maxMinutes;
  const out: PlaceOrderArgs = { orderId, location, lines, mode };
  if (ttlSeconds !== undefined) out.ttlSeconds = ttlSeconds;
  if (policy === 'single-dc' || policy === 'split') out.policy = policy;
  if (maxMinutes !== undefined) out.maxMinutes = maxMinutes;
  return out;
}

function validateConfirm(
  args: Record<string, unknown>,
  limits: ValidationLimits,
): ConfirmArgs | Invalid {
  const orderId = readId(args.orderId, 'BAD_ORDER_ID', 'orderId');
  if (orderId instanceof Invalid) return orderId;
  if (!isPresent(args.lines)) return { orderId };
  // A partial confirm may confirm 0 of a line: that line is released in full.
  const lines = readLines(args.lines, limits.linesPerOrderMax, 0, 'lines');
  if (lines instanceof Invalid) return lines;
  return { orderId, lines };
}

function validateOrderId(args: Record<string, unknown>): OrderIdArgs | Invalid {
  const orderId = readId(args.orderId, 'BAD_ORDER_ID', 'orderId');
  return orderId instanceof Invalid ? orderId : { orderId };
}

function validateExtend(args: Record<string, unknown>): ExtendArgs | Invalid {
  const orderId = readId(args.orderId, 'BAD_ORDER_ID', 'orderId');
  if (orderId instanceof Invalid) return orderId;
  const ttlSeconds = readInt(args.ttlSeconds, 1, TTL_SECONDS_MAX, 'BAD_TTL', 'ttlSeconds');
  if (ttlSeconds instanceof Invalid) return ttlSeconds;
  return { orderId, ttlSeconds };
}

function validateChangeOrder(
  args: Record<string, unknown>,
  limits: ValidationLimits,
): ChangeOrderArgs | Invalid {
  const orderId = readId(args.orderId, 'BAD_ORDER_ID', 'orderId');
  if (orderId instanceof Invalid) return orderId;
  const lines = readLines(args.lines, limits.linesPerOrderMax, 1, 'lines');
  if (lines instanceof Invalid) return lines;
  return { orderId, lines };
}

function validateStockKey(args: Record<string, unknown>): StockKeyArgs | Invalid {
  const dc = readId(args.dc, 'BAD_ID', 'dc');
  if (dc instanceof Invalid) return dc;
  const sku = readId(args.sku, 'BAD_ID', 'sku');
  if (sku instanceof Invalid) return sku;
  return { dc, sku };
}

function validateReceive(args: Record<string, unknown>): ReceiveArgs | Invalid {
  const key = validateStockKey(args);
  if (key instanceof Invalid) return key;
  const qty = readInt(args.qty, 1, QUANTITY_MAX, 'BAD_QUANTITY', 'qty');
  if (qty instanceof Invalid) return qty;
  const reason = optionalReason(args.reason);
  if (reason instanceof Invalid) return reason;
  const out: ReceiveArgs = { dc: key.dc, sku: key.sku, qty };
  if (reason !== undefined) out.reason = reason;
  return out;
}

function validateAdjust(args: Record<string, unknown>): AdjustArgs | Invalid {
  const key = validateStockKey(args);
  if (key instanceof Invalid) return key;
  const onHand = readInt(args.onHand, 0, QUANTITY_MAX, 'BAD_QUANTITY', 'onHand');
  if (onHand instanceof Invalid) return onHand;
  const reason = optionalReason(args.reason);
  if (reason instanceof Invalid) return reason;
  const out: AdjustArgs = { dc: key.dc, sku: key.sku, onHand };
  if (reason !== undefined) out.reason = reason;
  return out;
}

/** A reason may be empty (no reason given) but not over the limit. */
function optionalReason(value: unknown): string | undefined | Invalid {
  if (!isPresent(value)) return undefined;
  if (typeof value === 'string' && value.length <= REASON_LENGTH_MAX) return value;
  return new Invalid('BAD_FIELD', 'reason', `must be a string of at most ${REASON_LENGTH_MAX}`);
}

function validateUpsertDc(args: Record<string, unknown>): UpsertDcArgs | Invalid {
  const id = readId(args.id, 'BAD_ID', 'id');
  if (id instanceof Invalid) return id;
  const name = readString(args.name, NAME_LENGTH_MAX, 'name');
  if (name instanceof Invalid) return name;
  const location = readLocation(args.location, 'location');
  if (location instanceof Invalid) return location;
  const radiusKm = optionalInRange(args.radiusKm, RADIUS_KM_MIN, RADIUS_KM_MAX, 'radiusKm');
  if (radiusKm instanceof Invalid) return radiusKm;
  const area = isPresent(args.area) ? readArea(args.area) : undefined;
  if (area instanceof Invalid) return area;
  if (radiusKm === undefined && area === undefined) {
    return new Invalid('BAD_AREA', 'radiusKm', 'or area is required: a DC needs a delivery area');
  }
  const speedKmh = optionalInRange(args.speedKmh, SPEED_KMH_MIN, SPEED_KMH_MAX, 'speedKmh');
  if (speedKmh instanceof Invalid) return speedKmh;
  const prepMinutes = optionalInRange(args.prepMinutes, 0, PREP_MINUTES_MAX, 'prepMinutes');
  if (prepMinutes instanceof Invalid) return prepMinutes;
  const active = optionalBoolean(args.active, 'active');
  if (active instanceof Invalid) return active;
  const out: UpsertDcArgs = { id, name, location };
  if (radiusKm !== undefined) out.radiusKm = radiusKm;
  if (area !== undefined) out.area = area;
  if (speedKmh !== undefined) out.speedKmh = speedKmh;
  if (prepMinutes !== undefined) out.prepMinutes = prepMinutes;
  if (active !== undefined) out.active = active;
  return out;
}

function validateUpsertSku(args: Record<string, unknown>): UpsertSkuArgs | Invalid {
  const id = readId(args.id, 'BAD_ID', 'id');
  if (id instanceof Invalid) return id;
  const name = readString(args.name, NAME_LENGTH_MAX, 'name');
  if (name instanceof Invalid) return name;
  const category = optionalString(args.category, NAME_LENGTH_MAX, 'category');
  if (category instanceof Invalid) return category;
  const threshold = optionalInt(
    args.lowStockThreshold,
    0,
    QUANTITY_MAX,
    'BAD_FIELD',
    'lowStockThreshold',
  );
  if (threshold instanceof Invalid) return threshold;
  const maxPerOrder = optionalInt(args.maxPerOrder, 0, QUANTITY_MAX, 'BAD_FIELD', 'maxPerOrder');
  if (maxPerOrder instanceof Invalid) return maxPerOrder;
  const out: UpsertSkuArgs = { id, name };
  if (category !== undefined) out.category = category;
  if (threshold !== undefined) out.lowStockThreshold = threshold;
  if (maxPerOrder !== undefined) out.maxPerOrder = maxPerOrder;
  return out;
}

// Subscriptions.

function validateSubscribe(args: Record<string, unknown>): SubscribeArgs | Invalid {
  switch (args.kind) {
    case 'availability':
      return validateAvailabilitySubscription(args);
    case 'lowStock':
      return validateLowStockSubscription(args);
    case 'orders': {
      const from = optionalInt(args.fromSequence, 1, SEQUENCE_MAX, 'BAD_FIELD', 'fromSequence');
      if (from instanceof Invalid) return from;
      return from === undefined ? { kind: 'orders' } : { kind: 'orders', fromSequence: from };
    }
    default:
      return new Invalid('BAD_FIELD', 'kind', "must be 'availability', 'lowStock' or 'orders'");
  }
}

/** A location (lat and lng) or a DC set, exactly one; 1..SUBSCRIPTION_SKUS_MAX SKUs. */
function validateAvailabilitySubscription(args: Record<string, unknown>): SubscribeArgs | Invalid {
  const byLocation = isPresent(args.lat) || isPresent(args.lng);
  const byDcs = isPresent(args.dcs);
  if (byLocation === byDcs) {
    return new Invalid('BAD_FIELD', 'dcs', 'give either lat and lng or dcs, not both');
  }
  const skus = readIdList(args.skus, SUBSCRIPTION_SKUS_MAX, 'skus', 'TOO_MANY_SKUS');
  if (skus instanceof Invalid) return skus;
  if (skus.length === 0) return new Invalid('BAD_FIELD', 'skus', 'is empty');
  const maxMinutes = optionalMaxMinutes(args.maxMinutes);
  if (maxMinutes instanceof Invalid) return maxMinutes;
  if (byLocation) {
    const latLng = checkLatLng(args);
    if (latLng !== undefined) return latLng;
    const out: SubscribeArgs = {
      kind: 'availability',
      lat: args.lat as number,
      lng: args.lng as number,
      skus,
    };
    if (maxMinutes !== undefined) out.maxMinutes = maxMinutes;
    return out;
  }
  const dcs = readIdList(args.dcs, SUBSCRIPTION_DCS_MAX, 'dcs', 'BAD_FIELD');
  if (dcs instanceof Invalid) return dcs;
  if (dcs.length === 0) return new Invalid('BAD_FIELD', 'dcs', 'is empty');
  if (maxMinutes !== undefined) {
    return new Invalid('BAD_FIELD', 'maxMinutes', 'applies to a location, not to a DC set');
  }
  return { kind: 'availability', dcs, skus };
}

function validateLowStockSubscription(args: Record<string, unknown>): SubscribeArgs | Invalid {
  const out: SubscribeArgs = { kind: 'lowStock' };
  if (isPresent(args.skus)) {
    const skus = readIdList(args.skus, LOW_STOCK_FILTER_SKUS_MAX, 'skus', 'TOO_MANY_SKUS');
    if (skus instanceof Invalid) return skus;
    out.skus = skus;
  }
  if (isPresent(args.dcs)) {
    const dcs = readIdList(args.dcs, SUBSCRIPTION_DCS_MAX, 'dcs', 'BAD_FIELD');
    if (dcs instanceof Invalid) return dcs;
    out.dcs = dcs;
  }
  return out;
}

function validateUnsubscribe(args: Record<string, unknown>): UnsubscribeArgs | Invalid {
  const sub = readInt(args.sub, 0, REQUEST_ID_MAX, 'BAD_FIELD', 'sub');
  return sub instanceof Invalid ? sub : { sub };
}

// Batch ops (protocol v2). Only the batch's shape is checked here: counts, column lengths and
// the options that apply to every entry. Each order's or query's own values (ids, coordinates,
// quantities, SKUs) are checked by the engine, which refuses that entry alone with its code,
// as TigerBeetle answers a batch with a result per event.

function readCount(value: unknown, max: number, field: string): number | Invalid {
  return readInt(value, 1, max, 'BAD_FIELD', field);
}

/** An array of exactly `count` entries (its entries are checked by the engine). */
function readEntries(value: unknown, count: number, field: string): unknown[] | Invalid {
  if (!Array.isArray(value) || value.length !== count) {
    return new Invalid('BAD_FIELD', field, `must be an array of ${count} entries`);
  }
  return value;
}

/**
 * The binary columns of a `placeOrders` / `availabilityMany` request. A column that does not
 * sit on its element size's boundary in the frame is copied, and the copies of one request go
 * into one buffer (ColumnCopies): a buffer of its own per column was an allocation outside the
 * heap each, which V8 frees one by one in the scavenge that finds it dead.
 */
const PLACE_ORDERS_COLUMNS = ['lat', 'lng', 'lineCounts', 'qty', 'skuRefs', 'defineRefs'];
const AVAILABILITY_MANY_COLUMNS = ['lat', 'lng', 'skuCounts', 'skuRefs', 'defineRefs'];

/** Per-entry counts in [min, max] that add up to at most `totalMax`; them and the sum. */
function readCounts(
  value: unknown,
  count: number,
  min: number,
  max: number,
  totalMax: number,
  field: string,
  copies: ColumnCopies,
): { counts: Int32Array; total: number } | Invalid {
  const counts = readI32Column(value, count, copies);
  if (counts === undefined)
    return new Invalid('BAD_FIELD', field, `must be an i32 column of ${count}`);
  let total = 0;
  for (let index = 0; index < count; index++) {
    const entry = counts[index];
    if (entry < min || entry > max) {
      return new Invalid('BAD_FIELD', `${field}[${index}]`, `must be in [${min}, ${max}]`);
    }
    total += entry;
  }
  if (total > totalMax)
    return new Invalid('TOO_MANY_SKUS', field, `add up to more than ${totalMax}`);
  return { counts, total };
}

function readCoordinates(
  args: Record<string, unknown>,
  count: number,
  copies: ColumnCopies,
): { lat: Float64Array; lng: Float64Array } | Invalid {
  const lat = readF64Column(args.lat, count, copies);
  if (lat === undefined)
    return new Invalid('BAD_FIELD', 'lat', `must be an f64 column of ${count}`);
  const lng = readF64Column(args.lng, count, copies);
  if (lng === undefined)
    return new Invalid('BAD_FIELD', 'lng', `must be an f64 column of ${count}`);
  return { lat, lng };
}

function validatePlaceOrders(
  args: Record<string, unknown>,
  limits: ValidationLimits,
): PlaceOrdersArgs | Invalid {
  const orders = readCount(args.orders, ORDERS_PER_BATCH_MAX, 'orders');
  if (orders instanceof Invalid) return orders;
  const orderIds = readEntries(args.orderIds, orders, 'orderIds');
  if (orderIds instanceof Invalid) return orderIds;
  const copies = new ColumnCopies(binBytesOf(args, PLACE_ORDERS_COLUMNS));
  const coordinates = readCoordinates(args, orders, copies);
  if (coordinates instanceof Invalid) return coordinates;
  const lines = readCounts(
    args.lineCounts,
    orders,
    1,
    limits.linesPerOrderMax,
    orders * limits.linesPerOrderMax,
    'lineCounts',
    copies,
  );
  if (lines instanceof Invalid) return lines;
  const qty = readI32Column(args.qty, lines.total, copies);
  if (qty === undefined)
    return new Invalid('BAD_FIELD', 'qty', `must be an i32 column of ${lines.total}`);
  const mode = args.mode;
  if (mode !== 'hold' && mode !== 'commit') {
    return new Invalid('BAD_MODE', 'mode', "must be 'hold' or 'commit'");
  }
  const ttlSeconds = optionalInt(args.ttlSeconds, 1, TTL_SECONDS_MAX, 'BAD_TTL', 'ttlSeconds');
  if (ttlSeconds instanceof Invalid) return ttlSeconds;
  const policy = args.policy;
  if (isPresent(policy) && policy !== 'single-dc' && policy !== 'split') {
    return new Invalid('BAD_POLICY', 'policy', "must be 'single-dc' or 'split'");
  }
  const maxMinutes = optionalMaxMinutes(args.maxMinutes);
  if (maxMinutes instanceof Invalid) return maxMinutes;
  const out: PlaceOrdersArgs = {
    orders,
    orderIds,
    lat: coordinates.lat,
    lng: coordinates.lng,
    lineCounts: lines.counts,
    qty,
    mode,
  };
  const named = readNamedSkus(args, lines.total, out, copies);
  if (named !== undefined) return named;
  if (ttlSeconds !== undefined) out.ttlSeconds = ttlSeconds;
  if (policy === 'single-dc' || policy === 'split') out.policy = policy;
  if (maxMinutes !== undefined) out.maxMinutes = maxMinutes;
  return out;
}

/**
 * A batch request's SKUs, into `out`: `skus` (ids), or `skuRefs` (refs into the connection's
 * SKU table) with the optional definitions `defineRefs` / `defineSkus`. Refs are checked
 * against the range here and against the table when the request runs.
 */
function readNamedSkus(
  args: Record<string, unknown>,
  total: number,
  out: NamedSkus,
  copies: ColumnCopies,
): Invalid | undefined {
  const hasRefs = isPresent(args.skuRefs);
  if (isPresent(args.skus) || !hasRefs) {
    if (hasRefs || isPresent(args.defineRefs) || isPresent(args.defineSkus)) {
      return new Invalid('BAD_FIELD', 'skus', 'give skus or skuRefs (with its definitions)');
    }
    const skus = readEntries(args.skus, total, 'skus');
    if (skus instanceof Invalid) return skus;
    out.skus = skus;
    return undefined;
  }
  const refs = readRefs(args.skuRefs, total, 'skuRefs', copies);
  if (refs instanceof Invalid) return refs;
  out.skuRefs = refs;
  if (!isPresent(args.defineRefs) && !isPresent(args.defineSkus)) return undefined;
  const ids = args.defineSkus;
  if (!Array.isArray(ids) || ids.length > SKUS_PER_BATCH_MAX) {
    return new Invalid(
      'BAD_FIELD',
      'defineSkus',
      `must be an array of at most ${SKUS_PER_BATCH_MAX} ids`,
    );
  }
  for (let at = 0; at < ids.length; at++) {
    const problem = idProblem(ids[at]);
    if (problem !== undefined) return new Invalid('BAD_ID', `defineSkus[${at}]`, problem);
  }
  const defined = readRefs(args.defineRefs, ids.length, 'defineRefs', copies);
  if (defined instanceof Invalid) return defined;
  out.defineRefs = defined;
  out.defineSkus = ids as string[];
  return undefined;
}

/** An i32 column of `count` refs, each in [0, SKU_REFS_MAX). */
function readRefs(
  value: unknown,
  count: number,
  field: string,
  copies: ColumnCopies,
): Int32Array | Invalid {
  const refs = readI32Column(value, count, copies);
  if (refs === undefined)
    return new Invalid('BAD_FIELD', field, `must be an i32 column of ${count}`);
  for (let at = 0; at < count; at++) {
    const ref = refs[at];
    if (ref < 0 || ref >= SKU_REFS_MAX) {
      return new Invalid('BAD_FIELD', `${field}[${at}]`, `must be in [0, ${SKU_REFS_MAX - 1}]`);
    }
  }
  return refs;
}

function validateAvailabilityMany(
  args: Record<string, unknown>,
  limits: ValidationLimits,
): AvailabilityManyArgs | Invalid {
  const queries = readCount(args.queries, QUERIES_PER_BATCH_MAX, 'queries');
  if (queries instanceof Invalid) return queries;
  const copies = new ColumnCopies(binBytesOf(args, AVAILABILITY_MANY_COLUMNS));
  const coordinates = readCoordinates(args, queries, copies);
  if (coordinates instanceof Invalid) return coordinates;
  const counts = readCounts(
    args.skuCounts,
    queries,
    0,
    limits.skusPerRequestMax,
    SKUS_PER_BATCH_MAX,
    'skuCounts',
    copies,
  );
  if (counts instanceof Invalid) return counts;
  const maxMinutes = optionalMaxMinutes(args.maxMinutes);
  if (maxMinutes instanceof Invalid) return maxMinutes;
  const breakdown = optionalBoolean(args.breakdown, 'breakdown');
  if (breakdown instanceof Invalid) return breakdown;
  const out: AvailabilityManyArgs = {
    queries,
    lat: coordinates.lat,
    lng: coordinates.lng,
    skuCounts: counts.counts,
  };
  const named = readNamedSkus(args, counts.total, out, copies);
  if (named !== undefined) return named;
  if (maxMinutes !== undefined) out.maxMinutes = maxMinutes;
  if (breakdown !== undefined) out.breakdown = breakdown;
  return out;
}

/**
 * The HTTP JSON transport's side of validation: turns bodies, query strings and path
 * segments into op arguments and hands them to validateArgs, so HTTP and WebSocket requests
 * get one validation and the same codes.
 *
 * Routing (which method and path is which op) belongs to the edge; this file only maps the
 * pieces. Query numbers are parsed strictly (decimal only); a value that does not parse is
 * passed on as the string it was, so the validator refuses it with the field's own code
 * (BAD_LOCATION for `lat=abc`, say) rather than a generic one.
 */

import { type ErrorBody, type ErrorCode, ErrorCodes, errorBody, isErrorCode } from './codes.js';
import { HTTP_BODY_BYTES_MAX } from './limits.js';
import { type AvailabilityArgs, isPlainMap, type Op, type OpArgs } from './messages.js';
import {
  DEFAULT_VALIDATION_LIMITS,
  type Validated,
  type ValidationError,
  type ValidationLimits,
  validateArgs,
} from './validate.js';

export type JsonBodyResult = { ok: true; value: unknown } | { ok: false; error: ErrorBody };

/** Strict UTF-8: a body that is not UTF-8 is refused rather than silently repaired. */
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Parses a JSON body. An empty body is `undefined` (ops without required fields accept it).
 * Never throws.
 */
export function parseJsonBody(
  body: Uint8Array | string,
  bytesMax: number = HTTP_BODY_BYTES_MAX,
): JsonBodyResult {
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  if (size > bytesMax) {
    return { ok: false, error: errorBody('BODY_TOO_LARGE', `body over ${bytesMax} bytes`) };
  }
  let text: string;
  try {
    // The decoder keeps no state between calls that do not pass { stream: true }.
    text = typeof body === 'string' ? body : utf8Decoder.decode(body);
  } catch {
    return { ok: false, error: errorBody('BAD_REQUEST', 'body is not valid UTF-8') };
  }
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, error: errorBody('BAD_REQUEST', 'body is not valid JSON') };
  }
}

/** Path parameters an HTTP route carries into the args. */
export interface PathParams {
  /** `/v1/orders/{orderId}/...` */
  orderId?: string;
  /** `/v1/dcs/{id}`, `/v1/skus/{id}` */
  id?: string;
}

/**
 * Args for an op from a parsed JSON body (undefined for an empty one) plus path parameters.
 * A body field that names a path parameter must agree with the path.
 */
export function argsFromBody<O extends Op>(
  op: O,
  body: unknown,
  path: PathParams = {},
  limits: Readonly<ValidationLimits> = DEFAULT_VALIDATION_LIMITS,
): Validated<OpArgs[O]> {
  if (body !== undefined && body !== null && !isPlainMap(body)) {
    return refuse('BAD_REQUEST', 'body', 'body must be a JSON object');
  }
  const args: Record<string, unknown> = body ? { ...body } : {};
  if (path.orderId !== undefined) {
    if (args.orderId !== undefined && args.orderId !== path.orderId) {
      return refuse('BAD_ORDER_ID', 'orderId', 'orderId in the body differs from the path');
    }
    args.orderId = path.orderId;
  }
  if (path.id !== undefined) {
    if (args.id !== undefined && args.id !== path.id) {
      return refuse('BAD_ID', 'id', 'id in the body differs from the path');
    }
    args.id = path.id;
  }
  return validateArgs(op, args, limits);
}

/** Ops whose HTTP form is a GET with a query string. */
export type QueryOp = 'availability' | 'browse' | 'getStock';

/**
 * The JSON forms of an HTTP availability answer (`form=` in the query): `objects`, the default,
 * a map per SKU with a list per DC; `columns`, the version-2 layout as JSON arrays (the DCs in
 * range once, per-SKU totals and ETAs, the per-DC counts as one flat array).
 */
export const AVAILABILITY_FORMS = ['objects', 'columns'] as const;
export type AvailabilityForm = (typeof AVAILABILITY_FORMS)[number];

/** Checked availability args from a query string, with the answer form it asked for. */
export type AvailabilityQuery =
  | { ok: true; args: AvailabilityArgs; form: AvailabilityForm }
  | { ok: false; error: ValidationError };

/**
 * Args for a GET op from its raw query string (without the leading `?`):
 * `availability` lat, lng, skus (comma separated), maxMinutes, breakdown (true or false);
 * `browse` lat, lng, category,
 * cursor, limit, maxMinutes; `getStock` dc, sku.
 */
export function argsFromQuery<O extends QueryOp>(
  op: O,
  query: string,
  limits: Readonly<ValidationLimits> = DEFAULT_VALIDATION_LIMITS,
): Validated<OpArgs[O]> {
  if (op === 'availability') {
    const checked = availabilityFromQuery(query, limits);
    return (checked.ok ? { ok: true, args: checked.args } : checked) as Validated<OpArgs[O]>;
  }
  const params = queryParams(query);
  const args: Record<string, unknown> = {};
  if (op === 'getStock') {
    copyParam(params, args, 'dc', false);
    copyParam(params, args, 'sku', false);
    return validateArgs(op, args, limits);
  }
  copyParam(params, args, 'lat', true);
  copyParam(params, args, 'lng', true);
  copyParam(params, args, 'maxMinutes', true);
  copyParam(params, args, 'category', false);
  copyParam(params, args, 'cursor', false);
  copyParam(params, args, 'limit', true);
  return validateArgs(op, args, limits);
}

/**
 * `availability` args from a query string, and `form` (objects or columns; objects when
 * absent). The args are checked first, so a query wrong in both is refused for its args.
 */
export function availabilityFromQuery(
  query: string,
  limits: Readonly<ValidationLimits> = DEFAULT_VALIDATION_LIMITS,
): AvailabilityQuery {
  const params = queryParams(query);
  const args: Record<string, unknown> = {};
  copyParam(params, args, 'lat', true);
  copyParam(params, args, 'lng', true);
  copyParam(params, args, 'maxMinutes', true);
  const skus = params.get('skus');
  // Split at most one past the limit: enough to refuse TOO_MANY_SKUS, no more.
  if (skus !== null) {
    args.skus = skus === '' ? [] : skus.split(',', limits.skusPerRequestMax + 1);
  }
  const breakdown = params.get('breakdown');
  if (breakdown !== null) {
    // Anything but the two words reaches validation as a string and is refused there.
    args.breakdown = breakdown === 'true' ? true : breakdown === 'false' ? false : breakdown;
  }
  const checked = validateArgs('availability', args, limits);
  if (!checked.ok) return checked;
  const form = params.get('form') ?? 'objects';
  if (form !== 'objects' && form !== 'columns') {
    const message = `must be one of ${AVAILABILITY_FORMS.join(', ')}`;
    return { ok: false, error: { code: 'BAD_FIELD', message, field: 'form' } };
  }
  return { ok: true, args: checked.args, form };
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The one thing read from a query string: the first value of a name, or null. */
interface QueryParams {
  get(name: string): string | null;
}

const EQUALS = 0x3d;

/**
 * A query string without escapes (no `%`, no `+`) or leading `?`, read in place: `get` finds
 * the first `name=` pair, as URLSearchParams does, without decoding or copying every pair
 * first. The query an availability request carries at volume is of this kind; any other goes
 * to URLSearchParams.
 */
class PlainQuery implements QueryParams {
  constructor(private readonly query: string) {}

  get(name: string): string | null {
    const query = this.query;
    let from = 0;
    while (from <= query.length) {
      const ampersand = query.indexOf('&', from);
      const end = ampersand === -1 ? query.length : ampersand;
      const keyEnd = from + name.length;
      // An empty pair (`&&`) is no parameter.
      if (end > from && keyEnd <= end && query.startsWith(name, from)) {
        if (keyEnd === end) return '';
        if (query.charCodeAt(keyEnd) === EQUALS) {
          // A value is everything up to the pair's end, later `=` included.
          return query.slice(keyEnd + 1, end);
        }
      }
      if (ampersand === -1) return null;
      from = ampersand + 1;
    }
    return null;
  }
}

/** A query string's parameters, decoded as URLSearchParams decodes them. */
export function queryParams(query: string): QueryParams {
  if (query.includes('%') || query.includes('+') || query.startsWith('?')) {
    return new URLSearchParams(query);
  }
  return new PlainQuery(query);
}

function copyParam(
  params: QueryParams,
  args: Record<string, unknown>,
  name: string,
  numeric: boolean,
): void {
  const value = params.get(name);
  if (value === null) return;
  args[name] = numeric && value.length <= 64 && DECIMAL.test(value) ? Number(value) : value;
}

/** A percent-decoded path segment, or undefined when its escapes are malformed. */
export function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The HTTP status for an error code (500 for a code this table does not know). */
export function httpStatus(code: string): number {
  return isErrorCode(code) ? ErrorCodes[code].status : 500;
}

function refuse<T>(code: ErrorCode, field: string, message: string): Validated<T> {
  return { ok: false, error: { code, message, field } };
}

/**
 * The HTTP JSON API as a table: each route (method, uWS pattern) says which protocol op it is,
 * how its path parameters, query string and body become that op's args, and how the op's
 * result becomes the JSON body and status. The checks themselves are the protocol's
 * validators, shared with the WebSocket path. The table also says which methods each path
 * answers, for the 405 answers and their `Allow` header.
 *
 * Invariants: args are built only by protocol/json.ts and checked only by protocol/validate.ts,
 * so both transports refuse the same input with the same code; an order placed answers 201 on
 * creation and 200, with the order as it is now, on a retry with the same order id; a path that some
 * route answers never gets 404, only its route's answer or 405.
 */

import {
  argsFromBody,
  argsFromQuery,
  type AvailabilityForm,
  availabilityFromQuery,
  decodePathSegment,
  type ErrorBody,
  type Op,
  type PathParams,
  type QueryOp,
  type ValidationLimits,
} from '../protocol/index.js';
import { errorOf } from './errors.js';

/** Checked args; `form` is how an availability answer is written (objects by default). */
export type RouteArgs =
  | { ok: true; args: unknown; form?: AvailabilityForm }
  | { ok: false; error: ErrorBody };

/** The methods the API routes by, as uWS names them (lower case). */
export type HttpMethod = 'get' | 'post' | 'put';

export interface HttpRoute {
  method: HttpMethod;
  pattern: string;
  op: Op;
  /** Names of the pattern's parameters, in order. */
  params: (keyof PathParams)[];
  /** Whether the route reads a body (POST and PUT). */
  hasBody: boolean;
  /**
   * Builds and checks the op's args with the protocol's JSON mapping and validators, from the
   * raw query string (without '?'), the raw (percent-encoded) path parameters in pattern order
   * and the parsed JSON body (undefined when there was none). Separate arguments rather than
   * one input object: this runs once per request.
   */
  toArgs(
    query: string,
    params: readonly string[],
    body: unknown,
    limits: Readonly<ValidationLimits>,
  ): RouteArgs;
}

function queryRoute(pattern: string, op: QueryOp): HttpRoute {
  return {
    method: 'get',
    pattern,
    op,
    params: [],
    hasBody: false,
    toArgs:
      op === 'availability'
        ? (query, _params, _body, limits) => availabilityFromQuery(query, limits)
        : (query, _params, _body, limits) => argsFromQuery(op, query, limits),
  };
}

/**
 * A route whose args come from the body and the path. `bodyRequired` routes refuse an empty
 * body with BAD_REQUEST; the others (cancel, fulfil, confirm in full, getOrder) accept none.
 */
function pathRoute(
  method: HttpMethod,
  pattern: string,
  op: Op,
  params: (keyof PathParams)[],
  bodyRequired: boolean,
): HttpRoute {
  return {
    method,
    pattern,
    op,
    params,
    hasBody: method !== 'get',
    toArgs(_query, raw, body, limits) {
      if (bodyRequired && (body === undefined || body === null)) {
        return { ok: false, error: errorOf('BAD_REQUEST', 'a JSON body is required') };
      }
      const path: PathParams = {};
      for (let index = 0; index < params.length; index++) {
        const value = decodePathSegment(raw[index]);
        if (value === undefined) {
          const code = params[index] === 'orderId' ? 'BAD_ORDER_ID' : 'BAD_ID';
          return {
            ok: false,
            error: errorOf(code, `the ${params[index]} in the path is not valid`),
          };
        }
        path[params[index]] = value;
      }
      return argsFromBody(op, body, path, limits);
    },
  };
}

export const ROUTES: readonly HttpRoute[] = [
  queryRoute('/v1/availability', 'availability'),
  queryRoute('/v1/browse', 'browse'),
  queryRoute('/v1/stock', 'getStock'),
  pathRoute('post', '/v1/orders', 'placeOrder', [], true),
  pathRoute('post', '/v1/orders/check', 'checkBasket', [], true),
  pathRoute('get', '/v1/orders/:orderId', 'getOrder', ['orderId'], false),
  pathRoute('post', '/v1/orders/:orderId/confirm', 'confirm', ['orderId'], false),
  pathRoute('post', '/v1/orders/:orderId/cancel', 'cancel', ['orderId'], false),
  pathRoute('post', '/v1/orders/:orderId/extend', 'extend', ['orderId'], true),
  pathRoute('post', '/v1/orders/:orderId/fulfil', 'fulfil', ['orderId'], false),
  pathRoute('put', '/v1/orders/:orderId/lines', 'changeOrder', ['orderId'], true),
  pathRoute('put', '/v1/dcs/:id', 'upsertDc', ['id'], true),
  pathRoute('put', '/v1/skus/:id', 'upsertSku', ['id'], true),
  pathRoute('post', '/v1/stock/receive', 'receive', [], true),
  pathRoute('post', '/v1/stock/adjust', 'adjust', [], true),
];

/**
 * The HTTP status of a successful op: a placed order answers 201 when this request created it
 * and 200 when it is a retry of the same order id; upserts answer 201 when they created the DC
 * or SKU; everything else 200.
 */
export function httpStatusOfResult(op: Op, value: unknown): number {
  switch (op) {
    case 'placeOrder':
    case 'upsertDc':
    case 'upsertSku':
      return (value as { created?: unknown }).created === true ? 201 : 200;
    default:
      return 200;
  }
}

/**
 * The HTTP body of a successful op. Orders and stock are flattened (`{ orderId, status,
 * allocation, ... }`, `{ dc, sku, onHand, available, ... }`); other results are the body as
 * they are. Status and body are two functions, not one result object: this runs per request.
 */
export function httpBodyOf(op: Op, value: unknown): unknown {
  const result = value as Record<string, unknown>;
  switch (op) {
    case 'placeOrder':
    case 'confirm':
    case 'cancel':
    case 'extend':
    case 'changeOrder':
    case 'fulfil':
    case 'getOrder':
      return result.order;
    case 'receive':
    case 'adjust':
    case 'getStock':
      return result.stock;
    case 'upsertDc':
      return result.dc;
    case 'upsertSku':
      return result.sku;
    default:
      return result;
  }
}

/** One (method, pattern) pair the HTTP server answers, route or not (`/healthz` is one). */
export interface MethodPattern {
  method: HttpMethod;
  pattern: string;
}

/** What a path answers to, for the handler that refuses every other method with 405. */
export interface PathMethods {
  pattern: string;
  /** The `Allow` header: every method answered for URLs of this pattern, upper case, sorted. */
  allow: string;
  /** The same methods as a list, for the error body. */
  allowed: readonly string[];
  /**
   * Methods (lower case, as uWS reports them) that another pattern answers for this one's URLs,
   * such as GET on `/v1/orders/check`, which is `getOrder` of the order named "check". uWS tries
   * a static segment before a parameter, so the 405 handler of this pattern runs first for
   * them and must yield to the route that answers.
   */
  answeredElsewhere: ReadonlySet<string>;
}

/** The pattern's segments, without the leading empty one. */
function segmentsOf(pattern: string): string[] {
  return pattern.split('/').slice(1);
}

/**
 * Whether every URL that `specific` matches is also matched by `general`: the same number of
 * segments, and each segment of `general` is a parameter or the same static text.
 */
export function patternCovers(general: string, specific: string): boolean {
  const outer = segmentsOf(general);
  const inner = segmentsOf(specific);
  if (outer.length !== inner.length) return false;
  for (let index = 0; index < outer.length; index++) {
    if (outer[index].startsWith(':')) continue;
    if (inner[index].startsWith(':') || inner[index] !== outer[index]) return false;
  }
  return true;
}

/** Per distinct pattern of `answered`, the methods its URLs are answered with. */
export function pathMethodsOf(answered: readonly MethodPattern[]): PathMethods[] {
  const patterns = [...new Set(answered.map((entry) => entry.pattern))];
  return patterns.map((pattern) => {
    const methods = new Set<string>();
    const own = new Set<string>();
    for (const entry of answered) {
      if (!patternCovers(entry.pattern, pattern)) continue;
      methods.add(entry.method);
      if (entry.pattern === pattern) own.add(entry.method);
    }
    const allowed = [...methods].map((method) => method.toUpperCase()).sort();
    const answeredElsewhere = new Set([...methods].filter((method) => !own.has(method)));
    return { pattern, allow: allowed.join(', '), allowed, answeredElsewhere };
  });
}

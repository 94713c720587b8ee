/**
 * The HTTP JSON API as a table: each route (method, uWS pattern) says which protocol op it is,
 * how its path parameters, query string and body become that op's args, and how the op's
 * result becomes the JSON body and status. The checks themselves are the protocol's
 * validators, shared with the WebSocket path.
 *
 * Invariants: args are built only by protocol/json.ts and checked only by protocol/validate.ts,
 * so both transports refuse the same input with the same code; an order placed answers 201 on
 * creation and 200, with the same body, on a retry with the same order id.
 */

import type { ErrorBody } from '../protocol/codes.js';
import {
  argsFromBody,
  argsFromQuery,
  decodePathSegment,
  type PathParams,
  type QueryOp,
} from '../protocol/json.js';
import type { Op } from '../protocol/messages.js';
import type { ValidationLimits } from '../protocol/validate.js';
import { errorOf } from './errors.js';

export interface RouteInput {
  /** The raw query string, without '?'. */
  query: string;
  /** Raw (percent-encoded) path parameters, in pattern order. */
  params: string[];
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
}

export type RouteArgs = { ok: true; args: unknown } | { ok: false; error: ErrorBody };

export interface HttpRoute {
  method: 'get' | 'post' | 'put';
  pattern: string;
  op: Op;
  /** Names of the pattern's parameters, in order. */
  params: (keyof PathParams)[];
  /** Whether the route reads a body (POST and PUT). */
  hasBody: boolean;
  /** Builds and checks the op's args with the protocol's JSON mapping and validators. */
  toArgs(input: RouteInput, limits: Readonly<ValidationLimits>): RouteArgs;
}

function queryRoute(pattern: string, op: QueryOp): HttpRoute {
  return {
    method: 'get',
    pattern,
    op,
    params: [],
    hasBody: false,
    toArgs: (input, limits) => argsFromQuery(op, input.query, limits),
  };
}

/**
 * A route whose args come from the body and the path. `bodyRequired` routes refuse an empty
 * body with BAD_REQUEST; the others (cancel, fulfil, confirm in full, getOrder) accept none.
 */
function pathRoute(
  method: 'get' | 'post' | 'put',
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
    toArgs(input, limits) {
      if (bodyRequired && (input.body === undefined || input.body === null)) {
        return { ok: false, error: errorOf('BAD_REQUEST', 'a JSON body is required') };
      }
      const path: PathParams = {};
      for (let index = 0; index < params.length; index++) {
        const value = decodePathSegment(input.params[index]);
        if (value === undefined) {
          const code = params[index] === 'orderId' ? 'BAD_ORDER_ID' : 'BAD_ID';
          return {
            ok: false,
            error: errorOf(code, `the ${params[index]} in the path is not valid`),
          };
        }
        path[params[index]] = value;
      }
      return argsFromBody(op, input.body, path, limits);
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

export interface HttpResult {
  status: number;
  body: unknown;
}

/**
 * The HTTP body of a successful op. Orders and stock are flattened (`{ orderId, status,
 * allocation, ... }`, `{ dc, sku, onHand, available, ... }`); a placed order answers 201 when
 * this request created it and 200 when it is a retry of the same order id; upserts answer 201
 * when they created the DC or SKU.
 */
export function httpResultOf(op: Op, value: unknown): HttpResult {
  const result = value as Record<string, unknown>;
  switch (op) {
    case 'placeOrder':
      return { status: result.created === true ? 201 : 200, body: result.order };
    case 'confirm':
    case 'cancel':
    case 'extend':
    case 'changeOrder':
    case 'fulfil':
    case 'getOrder':
      return { status: 200, body: result.order };
    case 'receive':
    case 'adjust':
    case 'getStock':
      return { status: 200, body: result.stock };
    case 'upsertDc':
      return { status: result.created === true ? 201 : 200, body: result.dc };
    case 'upsertSku':
      return { status: result.created === true ? 201 : 200, body: result.sku };
    default:
      return { status: 200, body: result };
  }
}

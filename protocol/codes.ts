/**
 * Every error and refusal code of the project, in one table.
 *
 * A code is a stable string: it is matched on `.code`, sent across threads and the wire as
 * `{ code, message }`, and never renamed or reused. `status` is the HTTP status the edge
 * answers with; `retryable` says whether the same request may succeed later unchanged.
 * Per-line codes (`LineCode`) explain which lines of an order were refused and why.
 */

export const ErrorCodes = {
  // Malformed or out-of-limit input. Nothing changed.
  BAD_REQUEST: { status: 400, retryable: false, text: 'the request is malformed' },
  BAD_ID: { status: 400, retryable: false, text: 'an id is empty, too long or not printable' },
  BAD_ORDER_ID: { status: 400, retryable: false, text: 'the order id is empty or too long' },
  BAD_LOCATION: { status: 400, retryable: false, text: 'latitude or longitude out of range' },
  BAD_QUANTITY: { status: 400, retryable: false, text: 'a quantity is not a positive int32' },
  BAD_TTL: { status: 400, retryable: false, text: 'the hold TTL is out of range' },
  BAD_MODE: { status: 400, retryable: false, text: 'mode must be hold or commit' },
  BAD_POLICY: { status: 400, retryable: false, text: 'policy must be single-dc or split' },
  BAD_AREA: { status: 400, retryable: false, text: 'the delivery area is not a valid polygon' },
  BAD_FIELD: { status: 400, retryable: false, text: 'a field has the wrong type or range' },
  EMPTY_ORDER: { status: 400, retryable: false, text: 'the order has no lines' },
  TOO_MANY_LINES: { status: 413, retryable: false, text: 'the order has too many lines' },
  TOO_MANY_SKUS: { status: 413, retryable: false, text: 'too many SKUs in one request' },
  DUPLICATE_LINE: { status: 400, retryable: false, text: 'a SKU appears on two lines' },
  BODY_TOO_LARGE: { status: 413, retryable: false, text: 'the request body is too large' },
  FRAME_TOO_LARGE: { status: 413, retryable: false, text: 'the frame is too large' },
  UNKNOWN_OP: { status: 400, retryable: false, text: 'unknown operation' },
  PROTOCOL_VERSION: { status: 400, retryable: false, text: 'unsupported protocol version' },

  // Business outcomes. Nothing changed.
  OUT_OF_STOCK: { status: 409, retryable: true, text: 'not enough stock for some lines' },
  NOT_IN_ONE_DC: {
    status: 409,
    retryable: true,
    text: 'every line is in stock nearby, but no single DC has them all (try policy split)',
  },
  NO_DC_IN_RANGE: {
    status: 409,
    retryable: false,
    text: 'no DC delivers to this location in time',
  },
  UNKNOWN_SKU: { status: 404, retryable: false, text: 'unknown SKU' },
  UNKNOWN_DC: { status: 404, retryable: false, text: 'unknown DC' },
  OVER_LIMIT: { status: 409, retryable: false, text: 'quantity over the per-order limit' },
  TOO_FRAGMENTED: {
    status: 409,
    retryable: false,
    text: 'the split allocation needs more DC lines than an order may hold',
  },
  ORDER_NOT_FOUND: { status: 404, retryable: false, text: 'no such order' },
  ORDER_ID_REUSED: {
    status: 409,
    retryable: false,
    text: 'this order id was already used for a different request',
  },
  INVALID_STATE: {
    status: 409,
    retryable: false,
    text: 'the order is not in a state that allows this',
  },
  // Not retryable: the same request fails until orders finish (are fulfilled, cancelled or
  // expire) or the node runs with a larger capacity; a client retry loop only adds load to a
  // node at its limit. For the order table, see engine/reservation/order-table.ts.
  CAPACITY_EXHAUSTED: {
    status: 503,
    retryable: false,
    text:
      'a configured capacity is full (live orders fill the order table, its overflow pool, or ' +
      'the catalogue); retrying does not help until orders finish or the capacity grows',
  },
  CONTENDED: {
    status: 409,
    retryable: true,
    text: 'other orders raced for the same stock and this one gave up its bounded retries; retry',
  },
  LOCK_TIMEOUT: {
    status: 503,
    retryable: true,
    text: 'the order was locked by another operation for longer than the node waits; retry',
  },
  OUTCOME_UNKNOWN: {
    status: 504,
    retryable: true,
    text:
      'the change was not confirmed durable in time; its outcome is unknown: ' +
      'retrying with the same order id is safe, or look the order up',
  },

  // Access and flow control.
  UNAUTHORIZED: { status: 401, retryable: false, text: 'missing or unknown API key' },
  FORBIDDEN: { status: 403, retryable: false, text: "the key's role does not allow this" },
  NOT_FOUND: { status: 404, retryable: false, text: 'no such route' },
  METHOD_NOT_ALLOWED: {
    status: 405,
    retryable: false,
    text: 'the route exists but does not accept this method',
  },
  RATE_LIMITED: { status: 429, retryable: true, text: 'too many requests' },
  TOO_MANY_CONNECTIONS: {
    status: 429,
    retryable: true,
    text: 'the node or this key holds as many connections as it may',
  },
  TOO_MANY_IN_FLIGHT: { status: 429, retryable: true, text: 'too many requests in flight' },
  TOO_MANY_SUBSCRIPTIONS: { status: 429, retryable: false, text: 'too many subscriptions' },
  SUBSCRIBER_TOO_SLOW: {
    status: 429,
    retryable: true,
    text: 'the subscriber did not keep up with its pushes',
  },
  EVENTS_TRIMMED: {
    status: 410,
    retryable: false,
    text: 'the events asked for are older than the retention window (see `oldest`)',
  },

  // The node's own condition.
  READ_ONLY: { status: 503, retryable: true, text: 'the write-ahead log cannot accept writes' },
  NOT_OWNER: {
    status: 503,
    retryable: true,
    text:
      'this node does not own the region (a standby, or a primary whose lease lapsed): ' +
      'send the request to the owner the error names',
  },
  NOT_READY: { status: 503, retryable: true, text: 'the node is starting or recovering' },
  SHUTTING_DOWN: { status: 503, retryable: true, text: 'the node is shutting down' },
  TIMEOUT: { status: 504, retryable: true, text: 'the operation timed out' },
  INTERNAL: { status: 500, retryable: true, text: 'internal error' },

  // Framing: the frame itself is unusable; the node closes the connection after a notice.
  BAD_FRAME: {
    status: 400,
    retryable: false,
    text: 'the frame is not a binary MessagePack array of [id, op, args] requests',
  },

  // Raised by the client SDK on its own side of the wire; no node sends them. `status` is
  // nominal (these never travel over HTTP).
  ABORTED: { status: 499, retryable: false, text: 'the caller aborted the request' },
  CONNECT_FAILED: { status: 503, retryable: true, text: 'could not connect to the node' },
  CONNECTION_LOST: {
    status: 503,
    retryable: true,
    text: 'the connection was lost before the answer arrived',
  },
  CLOSED: { status: 503, retryable: false, text: 'the client is closed' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export const ERROR_CODE_LIST = Object.keys(ErrorCodes) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCodes, value);
}

/** Why one line of an order was refused. */
export const LineCodes = {
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  UNKNOWN_SKU: 'UNKNOWN_SKU',
  BAD_QUANTITY: 'BAD_QUANTITY',
  OVER_LIMIT: 'OVER_LIMIT',
  DUPLICATE_LINE: 'DUPLICATE_LINE',
  NO_DC_IN_RANGE: 'NO_DC_IN_RANGE',
} as const;

export type LineCode = (typeof LineCodes)[keyof typeof LineCodes];

/** The shape every error takes across threads and the wire. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  lines?: LineRefusal[];
  [detail: string]: unknown;
}

export interface LineRefusal {
  sku: string;
  code: LineCode;
  requested: number;
  available: number;
  /** OVER_LIMIT: the most units of this SKU one order may take. */
  limit?: number;
}

export function errorBody(code: ErrorCode, message?: string): ErrorBody {
  return { code, message: message ?? ErrorCodes[code].text };
}

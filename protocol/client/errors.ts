/**
 * The SDK's typed errors. Every rejection of an InventoryClient call is an InventoryError
 * whose `code` is from protocol/codes.ts: the node's own code for an error answer, or one of
 * the client-side codes (TIMEOUT, ABORTED, CONNECTION_LOST, CONNECT_FAILED, CLOSED,
 * TOO_MANY_IN_FLIGHT when the client's own queue is full, FRAME_TOO_LARGE and BAD_REQUEST for
 * a request that cannot be sent). Match on `.code`, never on the message.
 */

import { type ErrorCode, ErrorCodes, isErrorCode, type LineRefusal } from '../codes.js';

export interface InventoryErrorOptions {
  /** Other fields of the node's error body. */
  details?: Record<string, unknown>;
  lines?: LineRefusal[];
  /** True when the request was sent and may have taken effect before the failure. */
  maybeApplied?: boolean;
  cause?: unknown;
}

export class InventoryError extends Error {
  /**
   * A code of protocol/codes.ts. A node newer than this SDK may send a code the table does
   * not list yet; it is passed through unchanged and `status` is then undefined.
   */
  readonly code: ErrorCode;
  /** The HTTP status the code maps to, when the code is known. */
  readonly status?: number;
  /** Whether the same request may succeed later unchanged. */
  readonly retryable: boolean;
  /** Other fields of the error body (e.g. `field` for a validation error). */
  readonly details: Record<string, unknown>;
  /** Per-line reasons for an order refusal (OUT_OF_STOCK and friends). */
  readonly lines?: LineRefusal[];
  /**
   * True when the request left this client and the failure happened before its answer, so
   * the node may have applied it. Always false for an error answer from the node (an error
   * answer means nothing changed).
   */
  readonly maybeApplied: boolean;

  constructor(code: ErrorCode, message: string, options: InventoryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InventoryError';
    this.code = code;
    const known = isErrorCode(code);
    if (known) this.status = ErrorCodes[code].status;
    this.retryable = known ? ErrorCodes[code].retryable : false;
    this.details = options.details ?? {};
    if (options.lines !== undefined) this.lines = options.lines;
    this.maybeApplied = options.maybeApplied ?? false;
  }
}

/** The connection dropped with the request unanswered, and it was not safe to send again. */
export class ConnectionLostError extends InventoryError {
  declare readonly code: 'CONNECTION_LOST';

  constructor(message: string, maybeApplied: boolean, cause?: unknown) {
    super('CONNECTION_LOST', message, { maybeApplied, cause });
    this.name = 'ConnectionLostError';
  }
}

/** An error built from a node's error answer body `{ code, message, ...details }`. */
export function errorFromBody(body: unknown): InventoryError {
  if (typeof body !== 'object' || body === null) {
    return new InventoryError('INTERNAL', 'the node sent an error answer without a body');
  }
  const { code, message, lines, ...details } = body as Record<string, unknown>;
  const text = typeof message === 'string' ? message : String(code);
  return new InventoryError(typeof code === 'string' ? (code as ErrorCode) : 'INTERNAL', text, {
    details,
    lines: Array.isArray(lines) ? (lines as LineRefusal[]) : undefined,
  });
}

/** A client-side error with the code's standard text. */
export function clientError(
  code: ErrorCode,
  maybeApplied = false,
  message?: string,
): InventoryError {
  const text = message ?? (isErrorCode(code) ? ErrorCodes[code].text : code);
  return code === 'CONNECTION_LOST'
    ? new ConnectionLostError(text, maybeApplied)
    : new InventoryError(code, text, { maybeApplied });
}

/**
 * The one mapping from an error code to what the transports answer: the HTTP status (taken
 * from protocol/codes.ts, the single table of codes) and, for protocol violations that end a
 * WebSocket, the close code.
 *
 * Invariants: every code in protocol/codes.ts maps to a status; an unknown code (a bug) maps to
 * 500 INTERNAL rather than throwing, because this runs while answering a client.
 */

import {
  type CloseCode,
  CloseCodes,
  type ErrorBody,
  type ErrorCode,
  ErrorCodes,
  isErrorCode,
} from '../protocol/index.js';

/**
 * Why the edge itself closes a connection (frames the codec refuses carry their own code and
 * close code): the close code and the code of the kind-3 notice sent before it.
 */
export type ViolationKind = 'text-frame' | 'not-reading' | 'protocol-version';

const VIOLATIONS: Record<ViolationKind, { close: CloseCode; code: ErrorCode }> = {
  'text-frame': { close: CloseCodes.UNSUPPORTED_DATA, code: 'BAD_FRAME' },
  'not-reading': { close: CloseCodes.POLICY_VIOLATION, code: 'TOO_MANY_IN_FLIGHT' },
  'protocol-version': { close: CloseCodes.POLICY_VIOLATION, code: 'PROTOCOL_VERSION' },
};

export function violation(kind: ViolationKind): { close: CloseCode; code: ErrorCode } {
  return VIOLATIONS[kind];
}

export function httpStatusOf(code: string): number {
  return isErrorCode(code) ? ErrorCodes[code].status : 500;
}

/** The status line uWS wants: the number and the standard reason phrase. */
const STATUS_LINES: Readonly<Record<number, string>> = {
  200: '200 OK',
  201: '201 Created',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  410: '410 Gone',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

export function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `${status} Status`;
}

/** An error body for a code, with the table's text unless a message is given. */
export function errorOf(code: ErrorCode, message?: string, details?: object): ErrorBody {
  return { code, message: message ?? ErrorCodes[code].text, ...details };
}

/**
 * Turns anything thrown or rejected into an error body: an `{ code, message }` with a known
 * code passes through (the log reports READ_ONLY that way); anything else is INTERNAL, without
 * its message, which could carry internals.
 */
export function errorFromUnknown(error: unknown): ErrorBody {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (isErrorCode(code)) {
      return errorOf(code, typeof message === 'string' ? message : undefined);
    }
  }
  return errorOf('INTERNAL');
}

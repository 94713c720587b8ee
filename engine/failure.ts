/**
 * Refusals: an expected outcome (out of stock, unknown SKU, a bad field) is a value with a
 * stable code from protocol/codes.ts, never an exception. `fail` builds one, with the code's
 * default text unless the caller says more.
 */

import type { ErrorCode } from '../protocol/codes.js';
import { ErrorCodes } from '../protocol/codes.js';
import type { Failure } from './types.js';

export function fail(
  code: ErrorCode,
  message?: string,
  details?: Record<string, unknown>,
): Failure {
  return { ok: false, error: { code, message: message ?? ErrorCodes[code].text, ...details } };
}

/** The refusal for an order whose lock stayed busy for the whole bounded wait. */
export function lockTimeout(waitMs: number): Failure {
  return fail('LOCK_TIMEOUT', `the order's lock stayed busy for ${waitMs} ms`);
}

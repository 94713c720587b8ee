/**
 * Refusals: an expected outcome (out of stock, unknown SKU, a bad field) is a value with a
 * stable code from protocol/codes.ts, never an exception. `fail` builds one, with the code's
 * default text unless the caller says more. A snapshot the engine cannot import is the one
 * refusal that throws (`SnapshotImportError`), with a code from protocol/code-registry.ts.
 */

import { type ErrorCode, ErrorCodes, type OtherCode } from '../protocol/index.js';
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

/** Why a snapshot cannot load into this engine: its format, or capacities that do not fit it. */
export type SnapshotImportCode = Extract<
  OtherCode,
  'DATA_VERSION_MISMATCH' | 'CONFIG_MISMATCH' | 'CONFIG_TOO_SMALL'
>;

/**
 * A snapshot the engine refuses to import. Thrown, not returned: an import runs once, into a
 * fresh engine during recovery, and the log turns the refusal into its own (wal/snapshot-store.ts
 * keeps the code in the message).
 */
export class SnapshotImportError extends Error {
  override readonly name = 'SnapshotImportError';
  constructor(
    readonly code: SnapshotImportCode,
    message: string,
  ) {
    super(message);
  }
}

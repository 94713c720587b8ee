/**
 * The log's own failure codes: why a data directory was refused at start, why the log went
 * read-only, why a snapshot was not taken. Each code has a stable name, the process exit code
 * a refusing node ends with (sysexits.h values, so scripts and supervisors can tell a data
 * problem from a configuration problem) and a hint that says what an operator can do.
 *
 * Expected outcomes travel as `WalResult` values; a broken invariant throws (assert).
 */

import { ExitCodes, type OtherCode } from '../protocol/index.js';

// sysexits.h values, from the registry of every code (protocol/code-registry.ts).
const EXIT_DATA_ERROR = ExitCodes.DATA_ERROR;
const EXIT_NO_INPUT = ExitCodes.NO_INPUT;
const EXIT_IO_ERROR = ExitCodes.IO_ERROR;
const EXIT_TEMP_FAILURE = ExitCodes.TEMP_FAILURE;
const EXIT_CONFIG_ERROR = ExitCodes.CONFIG;

export const WalCodes = {
  DATA_DIR_FOREIGN: {
    exitCode: EXIT_DATA_ERROR,
    hint: 'point the node at an empty directory or at one this project created',
  },
  DATA_DIR_LOCKED: {
    exitCode: EXIT_TEMP_FAILURE,
    hint: 'another process owns this data directory: stop it, or give this node its own --data',
  },
  DATA_DIR_EMPTY: {
    exitCode: EXIT_NO_INPUT,
    hint: 'give the data directory of a node (its --data-dir)',
  },
  DATA_VERSION_MISMATCH: {
    exitCode: EXIT_DATA_ERROR,
    hint: 'run the release that wrote this directory, or migrate it',
  },
  CONFIG_TOO_SMALL: {
    exitCode: EXIT_CONFIG_ERROR,
    hint:
      'capacities only grow: start without --dc-capacity and --sku-capacity (the data ' +
      'directory keeps its own), or with values at least as large',
  },
  CONFIG_MISMATCH: {
    exitCode: EXIT_CONFIG_ERROR,
    hint:
      'orderCapacity is fixed when the data directory is created: start without ' +
      '--order-capacity (the data directory keeps its own)',
  },
  CONFIG_INVALID: {
    exitCode: EXIT_CONFIG_ERROR,
    hint: 'the capacities do not fit together: dcCapacity × skuCapacity stays below 2^31 cells',
  },
  BAD_LOG_OPTIONS: {
    exitCode: EXIT_CONFIG_ERROR,
    hint: 'fix the log options (policy, ring capacity, store size limit)',
  },
  LOG_CORRUPT: {
    exitCode: EXIT_DATA_ERROR,
    hint: 'restore the data directory from a backup or a standby; the log is never skipped',
  },
  LOG_GAP: {
    exitCode: EXIT_DATA_ERROR,
    hint: 'records are missing between the snapshot and the log; restore from a backup',
  },
  SNAPSHOT_CORRUPT: {
    exitCode: EXIT_DATA_ERROR,
    hint: 'no valid snapshot covers the start of the log; restore from a backup',
  },
  STORE_OPEN_FAILED: {
    exitCode: EXIT_IO_ERROR,
    hint: 'check the path, its permissions and that no other process holds it',
  },
  STORE_FULL: {
    exitCode: EXIT_IO_ERROR,
    hint: 'free disk space or raise the store size limit, take a snapshot, then restart',
  },
  WRITE_FAILED: {
    exitCode: EXIT_IO_ERROR,
    hint: 'check the disk; the node keeps serving reads and refuses writes until restarted',
  },
  WRITER_GONE: {
    exitCode: EXIT_IO_ERROR,
    hint: 'the log writer thread exited; restart the node (acknowledged data is safe)',
  },
  WRITER_FENCED: {
    exitCode: EXIT_DATA_ERROR,
    hint: 'another writer took over this log; this process stopped writing (run verify)',
  },
  SNAPSHOT_BUSY: { exitCode: EXIT_IO_ERROR, hint: 'a snapshot is already being taken' },
  SNAPSHOT_CANCELLED: {
    exitCode: EXIT_IO_ERROR,
    hint: 'the node stopped while folding; the log and older snapshots are intact, the next fold retries',
  },
  SNAPSHOT_FAILED: {
    exitCode: EXIT_IO_ERROR,
    hint: 'the log and older snapshots are intact; check the disk and the message, then retry',
  },
} as const satisfies Partial<Record<OtherCode, { exitCode: number; hint: string }>>;

export type WalCode = keyof typeof WalCodes;

export interface WalErrorBody {
  code: WalCode;
  message: string;
  hint: string;
  exitCode: number;
}

export type WalResult<T> = { ok: true; value: T } | { ok: false; error: WalErrorBody };

export function walError(code: WalCode, message: string): { ok: false; error: WalErrorBody } {
  const entry = WalCodes[code];
  return { ok: false, error: { code, message, hint: entry.hint, exitCode: entry.exitCode } };
}

/** One line for a log or a terminal: code, message and hint. */
export function describeWalError(error: WalErrorBody): string {
  return `${error.code}: ${error.message} (hint: ${error.hint})`;
}

/**
 * Failure codes the writer stores in the ring's control region, so every thread learns why
 * the log stopped accepting writes. 0 means no failure.
 */
export const WAL_FAILURES = ['STORE_FULL', 'WRITE_FAILED', 'WRITER_GONE', 'WRITER_FENCED'] as const;
export type WalFailure = (typeof WAL_FAILURES)[number];

export function failureNumber(failure: WalFailure): number {
  return WAL_FAILURES.indexOf(failure) + 1;
}

export function failureFromNumber(value: number): WalFailure | null {
  return value > 0 && value <= WAL_FAILURES.length ? WAL_FAILURES[value - 1] : null;
}

/**
 * Thrown into `waitDurable` promises when the record can no longer become durable: the caller
 * must not acknowledge. `code` is the protocol's READ_ONLY (retryable: the request was not
 * acknowledged, so a retry after the node is fixed is safe).
 */
export class LogUnavailableError extends Error {
  readonly code = 'READ_ONLY';
  constructor(readonly failure: WalFailure) {
    super(`the write-ahead log cannot accept writes (${failure})`);
    this.name = 'LogUnavailableError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`wal invariant broken: ${message}`);
}

/**
 * Reading the log back: every record after a given LSN, in LSN order, checked and applied to
 * an engine. Recovery, snapshots and `verify` all replay through here.
 *
 * Invariants:
 * - Records are applied in LSN order, each exactly once, and only after its CRC (which covers
 *   its LSN) checked and its payload decoded.
 * - LSNs are contiguous; a missing one is a gap, never skipped.
 * - One writer at a time: along the LSNs the writer session of the records (record.ts) stays
 *   the same or moves forward, and only at a batch boundary. A record whose session goes back,
 *   or changes inside a batch, means two processes wrote the log: refused like corruption.
 * - With `tornTail` allowed (recovery), records are applied a whole writer batch at a time
 *   (a batch ends with the batch-end flag). A bad or missing record after which no valid batch
 *   end follows is the torn tail: the batch it belongs to was never committed whole, so never
 *   acknowledged under `fsync` or `write`; it is reported and left for the caller to
 *   truncate. A bad record followed by a valid batch end is corruption in the middle: refused.
 */

import type { LogRecord } from '../engine/index.js';
import { RECORD_FLAG_BATCH_END, WRITER_BATCH_RECORDS_MAX } from './constants.js';
import { type WalErrorBody, type WalResult, walError } from './errors.js';
import type { SnapshotableEngine } from './engine-port.js';
import {
  checkStoredRecord,
  type RecordCheck,
  RecordDecoder,
  recordFlags,
  recordSession,
  sessionFollows,
} from './record.js';
import type { Store } from './store.js';

export interface ReplayOptions {
  /** Replay records with LSN > afterLsn. */
  afterLsn: number;
  /** Stop after this LSN; every record up to it must exist. Default: the end of the log. */
  throughLsn?: number;
  /** Recovery only: report a torn last batch instead of refusing. */
  tornTail: boolean;
  /** Called with each record just before it is applied (verify, metrics). */
  onRecord?: (lsn: number, record: LogRecord) => void;
}

export interface TornTail {
  /** First LSN of the torn batch: it and everything after it should be truncated. */
  fromLsn: number;
  records: number;
  reason: string;
}

export interface ReplayOutcome {
  applied: number;
  /** LSN of the last applied record (afterLsn when none was). */
  lastLsn: number;
  tornTail: TornTail | null;
}

type WalFailureResult = { ok: false; error: WalErrorBody };

interface Anomaly {
  lsn: number;
  kind: 'corrupt' | 'gap';
  reason: string;
}

export function replayLog(
  store: Store,
  engine: SnapshotableEngine,
  options: ReplayOptions,
): WalResult<ReplayOutcome> {
  const decoder = new RecordDecoder();
  const through = options.throughLsn ?? Number.MAX_SAFE_INTEGER;
  const pending: LogRecord[] = [];
  let pendingFirstLsn = options.afterLsn + 1;
  let expected = options.afterLsn + 1;
  let lastApplied = options.afterLsn;
  let applied = 0;
  let anomaly: Anomaly | null = null;
  /** Records seen from the anomaly on (they belong to the torn tail if it is one). */
  let tailSeen = 0;
  /** The writer session of the last good record (-1 before the first), and its batch end. */
  let session = -1;
  let afterBatchEnd = true;
  const range = store.log.getRange({ start: options.afterLsn + 1, snapshot: true });
  for (const { key: lsn, value } of range) {
    if (lsn > through) break;
    // Each value is checked against its own key; contiguity is checked separately.
    const check = checkStoredRecord(value, lsn);
    const record = check === 'ok' ? decoder.decode(value) : null;
    const batchEnd = record !== null && (recordFlags(value) & RECORD_FLAG_BATCH_END) !== 0;
    if (anomaly === null && (lsn !== expected || record === null)) {
      anomaly = describeAnomaly(lsn, expected, check);
      if (!options.tornTail) return refuseAnomaly(anomaly, null);
    }
    if (anomaly === null) {
      const next = recordSession(value);
      if (
        session !== -1 &&
        next !== session &&
        (!afterBatchEnd || !sessionFollows(session, next))
      ) {
        anomaly = {
          lsn,
          kind: 'corrupt',
          reason: `a record of writer session ${next} after session ${session} (two writers)`,
        };
        if (!options.tornTail) return refuseAnomaly(anomaly, null);
      }
      session = next;
      afterBatchEnd = batchEnd;
    }
    if (anomaly !== null) {
      tailSeen++;
      // Past a bad record, only look for proof that the log went on: a valid batch end.
      if (batchEnd) return refuseAnomaly(anomaly, lsn);
      continue;
    }
    expected = lsn + 1;
    options.onRecord?.(lsn, record!);
    if (!options.tornTail) {
      const failed = applyOne(engine, record!, lsn);
      if (failed !== null) return failed;
      lastApplied = lsn;
      applied++;
      continue;
    }
    pending.push(record!);
    if (batchEnd) {
      const failed = applyBatch(engine, pending, pendingFirstLsn);
      if (failed !== null) return failed;
      applied += pending.length;
      lastApplied = lsn;
      pending.length = 0;
      pendingFirstLsn = lsn + 1;
    } else if (pending.length > WRITER_BATCH_RECORDS_MAX) {
      anomaly = { lsn, kind: 'corrupt', reason: 'a batch longer than any writer batch' };
    }
  }
  if (!options.tornTail && options.throughLsn !== undefined && lastApplied < through) {
    return walError('LOG_GAP', `the log ends at LSN ${lastApplied}, before ${through}`);
  }
  const tornTail =
    anomaly === null && pending.length === 0
      ? null
      : describeTornTail(anomaly, pendingFirstLsn, pending.length + tailSeen);
  return { ok: true, value: { applied, lastLsn: lastApplied, tornTail } };
}

/** The tail from the last complete batch on, which was never committed whole. */
function describeTornTail(anomaly: Anomaly | null, fromLsn: number, records: number): TornTail {
  const reason =
    anomaly === null
      ? `the last batch (from LSN ${fromLsn}) has no batch end`
      : `${anomaly.reason} at LSN ${anomaly.lsn}`;
  return { fromLsn, records, reason };
}

function describeAnomaly(lsn: number, expected: number, check: RecordCheck): Anomaly {
  if (lsn !== expected) {
    return { lsn: expected, kind: 'gap', reason: `a missing record (the next is LSN ${lsn})` };
  }
  const reason =
    check === 'ok' ? 'a record that does not decode' : `a record failing its ${check} check`;
  return { lsn, kind: 'corrupt', reason };
}

function refuseAnomaly(anomaly: Anomaly, laterBatchEnd: number | null): WalFailureResult {
  const later =
    laterBatchEnd === null ? '' : ` while valid records follow (batch end at LSN ${laterBatchEnd})`;
  const code = anomaly.kind === 'gap' ? 'LOG_GAP' : 'LOG_CORRUPT';
  return walError(code, `${anomaly.reason} at LSN ${anomaly.lsn}${later}`);
}

function applyOne(
  engine: SnapshotableEngine,
  record: LogRecord,
  lsn: number,
): WalFailureResult | null {
  try {
    engine.applyRecord(record);
    return null;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return walError(
      'LOG_CORRUPT',
      `the ${record.type} record at LSN ${lsn} does not apply: ${reason}`,
    );
  }
}

function applyBatch(
  engine: SnapshotableEngine,
  records: LogRecord[],
  firstLsn: number,
): WalFailureResult | null {
  for (let i = 0; i < records.length; i++) {
    const failed = applyOne(engine, records[i], firstLsn + i);
    if (failed !== null) return failed;
  }
  return null;
}

/**
 * Applies records received as stored values (a cluster standby's batches, which carry the
 * primary's records byte for byte): each value is checked against its LSN (CRC over payload,
 * flags, LSN and writer session), decoded and applied with the same code recovery uses, in
 * LSN order from `firstLsn`. Nothing is applied past the first value that fails; the result
 * says which and why. The caller writes the values to its own log.
 */
export function applyStoredValues(
  engine: SnapshotableEngine,
  firstLsn: number,
  values: readonly Uint8Array[],
  decoder: RecordDecoder,
  onRecord?: (lsn: number, record: LogRecord) => void,
): WalResult<{ applied: number }> {
  for (let index = 0; index < values.length; index++) {
    const lsn = firstLsn + index;
    const value = values[index];
    const check = checkStoredRecord(value, lsn);
    const record = check === 'ok' ? decoder.decode(value) : null;
    if (record === null) return refuseAnomaly(describeAnomaly(lsn, lsn, check), null);
    onRecord?.(lsn, record);
    const failed = applyOne(engine, record, lsn);
    if (failed !== null) return failed;
  }
  return { ok: true, value: { applied: values.length } };
}

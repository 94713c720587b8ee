/**
 * Reads committed records back out of the log by LSN, for what follows the log while the node
 * runs (the order event stream): a bounded range per call, each record checked against its key
 * (CRC, format) and decoded.
 *
 * A reader only ever asks for LSNs at or below the durable LSN it was told, so every record it
 * reads was committed before it asked: the LMDB read transaction is renewed first, so a commit
 * by the writer thread is visible. Records below the log's first LSN are gone (compacted
 * behind a snapshot, past the retention window); `firstLsn` says where the log starts.
 *
 * Invariants: a read visits records in LSN order with no gap; a missing or corrupt record in
 * the asked range stops the read with a `LogReadError` (it cannot happen to a durable record of
 * a healthy log, so a caller treats it as fatal for what it serves, not as the end of data).
 */

import type { LogRecord } from '../engine/index.js';
import type { DurabilityPolicy } from './constants.js';
import { checkStoredRecord, RecordDecoder } from './record.js';
import { openStore, type Store } from './store.js';

export class LogReadError extends Error {
  constructor(
    readonly lsn: number,
    reason: string,
  ) {
    super(`log record ${lsn}: ${reason}`);
    this.name = 'LogReadError';
  }
}

export class LogReader {
  private readonly decoder = new RecordDecoder();

  private constructor(
    private readonly store: Store,
    private readonly owned: boolean,
  ) {}

  /** A reader over a store this thread already has open. */
  static of(store: Store): LogReader {
    return new LogReader(store, false);
  }

  /**
   * Opens the log directory in this thread (a worker), read only in use: the writer thread
   * owns every write. LMDB shares one environment between a process's threads, so the flags
   * (`policy`) must be the node's own.
   */
  static open(dir: string, policy: DurabilityPolicy): LogReader {
    return new LogReader(openStore({ path: dir, policy }), true);
  }

  /** The oldest LSN the log still holds, or null when it holds none. */
  firstLsn(): number | null {
    this.store.env.resetReadTxn();
    for (const key of this.store.log.getKeys({ limit: 1, snapshot: false })) return key;
    return null;
  }

  /** The newest LSN the log holds, or null when it holds none. */
  lastLsn(): number | null {
    this.store.env.resetReadTxn();
    for (const key of this.store.log.getKeys({ limit: 1, reverse: true, snapshot: false })) {
      return key;
    }
    return null;
  }

  /**
   * Visits the records from `from` through `through` (both included), at most `max` of them;
   * returns the LSN after the last one visited (`through + 1` when the range was read whole).
   * Throws LogReadError when a record of the range is missing or fails its check.
   */
  read(
    from: number,
    through: number,
    max: number,
    visit: (lsn: number, record: LogRecord) => void,
  ): number {
    if (from > through || max <= 0) return from;
    this.store.env.resetReadTxn();
    let expected = from;
    const end = Math.min(through, from + max - 1);
    for (const { key: lsn, value } of this.store.log.getRange({
      start: from,
      end: end + 1,
      snapshot: true,
    })) {
      if (lsn !== expected) throw new LogReadError(expected, 'missing');
      const check = checkStoredRecord(value, lsn);
      if (check !== 'ok') throw new LogReadError(lsn, `stored value fails its check (${check})`);
      const record = this.decoder.decode(value);
      if (record === null) throw new LogReadError(lsn, 'not a record this release knows');
      visit(lsn, record);
      expected = lsn + 1;
    }
    if (expected !== end + 1) throw new LogReadError(expected, 'missing');
    return expected;
  }

  /** Closes the environment when this reader opened it. */
  async close(): Promise<void> {
    if (this.owned) await this.store.close();
  }
}

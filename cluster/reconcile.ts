/**
 * Matching a node's own log to its region's stream before the node recovers from it. The
 * stream is the region's history; a local log may hold a tail the stream never got (a primary
 * that committed a group locally and died, or was deposed, before the stream acknowledged
 * it). Such a tail was never acknowledged under `sync` replication (and is the documented
 * loss of `async`); it must go, or the node would diverge from every other copy.
 *
 * How: the stream's batch messages hold consecutive LSN ranges in sequence order, and a local
 * record equals the stream's record at the same LSN only if it came from the stream or was
 * shipped from this log (the stored value carries the writer session, which changes at every
 * takeover). So "the last record of message m is in the local log, byte for byte" is true for
 * a prefix of the stream's messages and false after it: a binary search over sequences finds
 * the last matching message with a few direct gets. Records after it are truncated and the
 * follower resumes after it.
 *
 * Refused (ReconcileError; start the node on an empty data directory to re-seed it): the
 * mismatch lies below the newest local snapshot (the snapshot holds records the stream does
 * not), or the stream no longer starts where the local log could continue.
 */

import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { ExitCodes, LOG_KIND_EPOCH, logStreamName } from '../protocol/index.js';
import type { Wal, WalLogger } from '../wal/index.js';
import { RECONCILE_PROBES_MAX } from './constants.js';
import { decodeRecords, type LogMessageHead, readHead } from './log-message.js';

const MSG_ID_HEADER = 'Nats-Msg-Id';

export class ReconcileError extends Error {
  readonly code = 'LOG_DIVERGED';
  /** sysexits EX_DATAERR, as the log's own data refusals. */
  readonly exitCode = ExitCodes.DATA_ERROR;
}

export interface Reconciled {
  /** The stream sequence to follow from. */
  resumeSeq: number;
  /** Message id of the message before `resumeSeq` ('' when none). */
  lastMsgId: string;
  /** Epoch of that message (0 when none). */
  epoch: number;
  /** The local log's last LSN after truncation. */
  lastLsn: number;
  truncated: number;
}

interface Probe {
  seq: number;
  head: LogMessageHead | null;
  message: StoredMsg | null;
}

class StreamProbe {
  private probes = 0;
  private readonly cache = new Map<number, Probe>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
  ) {}

  async at(seq: number): Promise<Probe> {
    const cached = this.cache.get(seq);
    if (cached !== undefined) return cached;
    if (++this.probes > RECONCILE_PROBES_MAX) {
      throw new ReconcileError(`matching the log took over ${RECONCILE_PROBES_MAX} probes`);
    }
    const message = await this.jsm.streams.getMessage(this.stream, { seq });
    const probe = { seq, message, head: message === null ? null : readHead(message.header) };
    this.cache.set(seq, probe);
    return probe;
  }
}

/** Matches the local log to the stream and truncates the tail the stream lacks. */
export async function reconcileWithStream(
  wal: Wal,
  jsm: JetStreamManager,
  region: string,
  logger: WalLogger,
): Promise<Reconciled> {
  const stream = logStreamName(region);
  const info = await jsm.streams.info(stream);
  const { first_seq: firstSeq, last_seq: lastSeq, messages } = info.state;
  const bounds = wal.bounds();
  const localLast = bounds?.last ?? wal.newestSnapshotLsn();
  const localFirst = bounds?.first ?? localLast + 1;
  if (messages === 0) {
    // Never throw away a log the region has no copy of (a standalone node's data, say).
    if (localLast > 0) {
      throw new ReconcileError(
        `the region's stream is empty but this data directory holds a log up to LSN ` +
          `${localLast}; start the node on an empty data directory`,
      );
    }
    return { resumeSeq: lastSeq + 1, lastMsgId: '', epoch: 0, lastLsn: 0, truncated: 0 };
  }
  const probe = new StreamProbe(jsm, stream);
  const matches = async (seq: number): Promise<boolean> => {
    for (let at = seq; at >= firstSeq; at--) {
      const { head, message } = await probe.at(at);
      if (head === null || head.region !== region || message === null) continue;
      if (head.kind === LOG_KIND_EPOCH) {
        if (head.firstLsn - 1 > localLast) return false;
        continue;
      }
      const lastLsn = head.firstLsn + head.records - 1;
      if (lastLsn > localLast) return false;
      if (lastLsn < localFirst) return true;
      const values = decodeRecords(message.data, head.records);
      const local = wal.readStored(lastLsn);
      return values !== null && local !== undefined && Buffer.compare(local, values.at(-1)!) === 0;
    }
    return true;
  };
  // The largest sequence that matches: true for a prefix, false after it.
  let low = firstSeq - 1;
  let high = lastSeq;
  while (low < high) {
    const middle = low + Math.ceil((high - low) / 2);
    if (await matches(middle)) low = middle;
    else high = middle - 1;
  }
  const matchedLsn = await lsnThrough(probe, low, firstSeq);
  const firstLsn = await firstLsnOf(probe, firstSeq, lastSeq);
  if (firstLsn !== null && localLast < firstLsn - 1) {
    throw new ReconcileError(
      `the stream starts at LSN ${firstLsn}, after this log's end at ${localLast}`,
    );
  }
  const truncated = truncateTo(wal, matchedLsn, logger);
  const last = low >= firstSeq ? await probe.at(low) : null;
  return {
    resumeSeq: low + 1,
    lastMsgId: last?.message?.header?.get(MSG_ID_HEADER) ?? '',
    epoch: last?.head?.epoch ?? 0,
    lastLsn: matchedLsn,
    truncated,
  };
}

/** LSN of the last record in messages up to `seq` (0 when none holds records). */
async function lsnThrough(probe: StreamProbe, seq: number, firstSeq: number): Promise<number> {
  for (let at = seq; at >= firstSeq; at--) {
    const { head } = await probe.at(at);
    if (head === null) continue;
    return head.kind === LOG_KIND_EPOCH ? head.firstLsn - 1 : head.firstLsn + head.records - 1;
  }
  return 0;
}

/** First LSN the stream holds (of its first message with our headers). */
async function firstLsnOf(probe: StreamProbe, firstSeq: number, lastSeq: number) {
  for (let at = firstSeq; at <= lastSeq; at++) {
    const { head } = await probe.at(at);
    if (head !== null) return head.firstLsn;
  }
  return null;
}

/** Truncates the local log after `lsn`; returns how many records went. */
function truncateTo(wal: Wal, lsn: number, logger: WalLogger): number {
  const last = wal.bounds()?.last ?? wal.newestSnapshotLsn();
  if (last <= lsn) return 0;
  const snapshot = wal.newestSnapshotLsn();
  if (snapshot > lsn) {
    throw new ReconcileError(
      `the local snapshot at LSN ${snapshot} holds records the region's stream does not ` +
        `(it ends at LSN ${lsn}); start this node on an empty data directory to re-seed it`,
    );
  }
  const truncated = wal.truncateAfter(lsn);
  logger.log('warn', 'truncated the local log tail the region stream does not have', {
    afterLsn: lsn,
    records: truncated,
  });
  return truncated;
}

/**
 * A standby's follower: reads the region's log stream in order (an ordered consumer, which
 * the client recreates after a lost server or a gap) and applies each batch exactly as
 * recovery applies the local log (wal `applyStoredValues`: CRC over payload, flags, LSN and
 * writer session, then the engine's replay), then appends the same stored values, at the same
 * LSNs, to its own LMDB log (in transactions of up to FOLLOW_FLUSH_RECORDS_MAX records or
 * FOLLOW_FLUSH_MS). After a takeover its log simply continues.
 *
 * Invariants:
 * - LSNs are applied consecutively: a batch that does not start right after the last applied
 *   LSN is a gap (or a fork), and following stops (`onFatal`); a batch wholly at or before the
 *   last applied LSN is a repeat and is skipped.
 * - A message without our headers is skipped (it carries no records of ours) but still counts
 *   as the stream's last message: a new owner's marker must name it.
 * - What the engine applied reaches the local log before `stop` resolves (a takeover starts
 *   the writer after the last record).
 */

import { DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import type { Engine, LogRecord } from '../engine/index.js';
import { LOG_KIND_EPOCH, logStreamName } from '../protocol/index.js';
import {
  applyStoredValues,
  RecordDecoder,
  recordSession,
  type Wal,
  type WalLogger,
} from '../wal/index.js';
import {
  FOLLOW_BATCH_MESSAGES_MAX,
  FOLLOW_FLUSH_MS,
  FOLLOW_FLUSH_RECORDS_MAX,
} from './constants.js';
import type { ClusterConnection } from './jetstream.js';
import { decodeMarker, decodeRecords, type EpochMarker, readHead } from './log-message.js';

const MSG_ID_HEADER = 'Nats-Msg-Id';
/** Pause before a consumer that ended by itself is made again. */
const FOLLOW_RESTART_MS = 500;
const NANOS_PER_MS = 1_000_000n;

export interface FollowerPosition {
  /** Stream sequence of the last message applied (0: none). */
  seq: number;
  msgId: string;
  /** LSN of the last record applied (0: none). */
  lsn: number;
  /** Writer session of that record (0: none). */
  session: number;
  /** Highest epoch seen in the stream. */
  epoch: number;
}

export interface FollowerOptions {
  connection: ClusterConnection;
  region: string;
  wal: Wal;
  engine: Engine;
  start: FollowerPosition;
  logger: WalLogger;
  /** Told of every record applied (the edge forwards catalogue records to its workers). */
  onRecord?: (record: LogRecord) => void;
  /** Told of every epoch marker applied. */
  onMarker?: (marker: EpochMarker | null, epoch: number) => void;
  /** Following cannot go on (a gap, a record that fails its check): the node must stop. */
  onFatal: (reason: string) => void;
}

export interface FollowerStats extends FollowerPosition {
  /** Messages in the stream after the last applied one, as of the last delivery. */
  lagMessages: number;
  /**
   * Age of the last applied message when it was applied (from the stream's stamp to here), in
   * seconds: how far the standby trails the primary's shipping.
   */
  lagSeconds: number;
  appliedRecords: number;
}

export class Follower {
  readonly position: FollowerPosition;
  private readonly decoder = new RecordDecoder();
  private pendingFirstLsn = 0;
  private pending: Uint8Array[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private messages: { stop(): void } | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private failed = false;
  private lagMessages = 0;
  private lagSeconds = 0;
  private appliedRecords = 0;
  private readonly waiters: { seq: number; resolve: () => void }[] = [];

  constructor(private readonly options: FollowerOptions) {
    this.position = { ...options.start };
  }

  start(): void {
    this.flushTimer = setInterval(() => this.flush(), FOLLOW_FLUSH_MS);
    this.running = this.consume();
  }

  stats(): FollowerStats {
    return {
      ...this.position,
      lagMessages: this.lagMessages,
      lagSeconds: this.lagSeconds,
      appliedRecords: this.appliedRecords,
    };
  }

  /** Resolves once the message at `seq` (and everything before it) is applied. */
  caughtUp(seq: number): Promise<void> {
    if (this.position.seq >= seq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /** Stops consuming and writes what was applied to the local log. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    await this.running;
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    this.flushTimer = null;
    this.flush();
  }

  /**
   * Consumes from the message after the last applied one; a consumer that ends or fails
   * without being asked to (a server lost for longer than the client rides out) is made
   * again from there.
   */
  private async consume(): Promise<void> {
    while (!this.stopped && !this.failed) {
      try {
        await this.consumeOnce();
      } catch (error) {
        if (this.stopped || this.failed) return;
        this.options.logger.log('warn', 'the stream consumer failed; following again', {
          seq: this.position.seq,
          error: String(error),
        });
      }
      if (!this.stopped && !this.failed) {
        await new Promise((done) => setTimeout(done, FOLLOW_RESTART_MS));
      }
    }
  }

  private async consumeOnce(): Promise<void> {
    const { connection, region } = this.options;
    const consumer = await connection.js.consumers.get(logStreamName(region), {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.position.seq + 1,
    });
    const messages = await consumer.consume({ max_messages: FOLLOW_BATCH_MESSAGES_MAX });
    this.messages = messages;
    if (this.stopped) messages.stop();
    for await (const message of messages) {
      if (this.stopped || this.failed) break;
      this.apply(message);
    }
  }

  private apply(message: JsMsg): void {
    if (message.seq <= this.position.seq) return;
    const head = readHead(message.headers);
    if (head !== null && head.region === this.options.region) {
      if (head.kind === LOG_KIND_EPOCH) this.applyMarker(head.firstLsn, head.epoch, message.data);
      else this.applyBatch(head.firstLsn, head.records, head.epoch, message.data);
    } else {
      this.options.logger.log('warn', 'skipped a message that is not a log batch', {
        seq: message.seq,
      });
    }
    if (this.failed) return;
    this.position.seq = message.seq;
    this.position.msgId = message.headers?.get(MSG_ID_HEADER) ?? '';
    this.lagMessages = message.info.pending;
    // Wall clocks: the stream stamps a message with its leader's time.
    const ageNs = BigInt(Date.now()) * NANOS_PER_MS - BigInt(message.info.timestampNanos);
    this.lagSeconds = Math.max(0, Number(ageNs) / 1e9);
    while (this.waiters.length > 0 && this.waiters[0].seq <= this.position.seq) {
      this.waiters.shift()!.resolve();
    }
  }

  private applyMarker(firstLsn: number, epoch: number, data: Uint8Array): void {
    if (firstLsn !== this.position.lsn + 1) {
      this.fatal(`an epoch marker at LSN ${firstLsn} after LSN ${this.position.lsn}`);
      return;
    }
    this.position.epoch = Math.max(this.position.epoch, epoch);
    this.options.onMarker?.(decodeMarker(data), epoch);
  }

  private applyBatch(firstLsn: number, records: number, epoch: number, data: Uint8Array): void {
    const lastLsn = firstLsn + records - 1;
    if (lastLsn <= this.position.lsn) return;
    if (firstLsn !== this.position.lsn + 1) {
      this.fatal(`a batch from LSN ${firstLsn} after LSN ${this.position.lsn}: a gap`);
      return;
    }
    // One copy per message: the values stay referenced until they are written.
    const owned = Buffer.from(data);
    const values = decodeRecords(owned, records);
    if (values === null) {
      this.fatal(`the batch from LSN ${firstLsn} does not hold ${records} framed records`);
      return;
    }
    const applied = applyStoredValues(
      this.options.engine,
      firstLsn,
      values,
      this.decoder,
      this.options.onRecord === undefined
        ? undefined
        : (_, record) => this.options.onRecord!(record),
    );
    if (!applied.ok) {
      this.fatal(`${applied.error.code}: ${applied.error.message}`);
      return;
    }
    if (this.pending.length === 0) this.pendingFirstLsn = firstLsn;
    for (const value of values) this.pending.push(value);
    this.position.lsn = lastLsn;
    this.position.session = recordSession(values[values.length - 1]);
    this.position.epoch = Math.max(this.position.epoch, epoch);
    this.appliedRecords += records;
    if (this.pending.length >= FOLLOW_FLUSH_RECORDS_MAX) this.flush();
  }

  /** Writes the applied records to the local log, in one transaction. */
  flush(): void {
    if (this.pending.length === 0 || this.failed) return;
    const values = this.pending;
    this.pending = [];
    try {
      this.options.wal.appendStored(this.pendingFirstLsn, values);
    } catch (error) {
      this.fatal(`writing LSN ${this.pendingFirstLsn}.. to the local log failed: ${String(error)}`);
    }
  }

  private fatal(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    this.messages?.stop();
    this.options.onFatal(reason);
  }
}

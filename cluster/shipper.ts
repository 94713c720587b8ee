/**
 * The primary's log shipper: takes each committed group from the writer's replication queue
 * (wal/replication-queue.ts), reads its records back from LMDB byte for byte, and publishes
 * them to the region's stream, one message per group (consecutive groups coalesce into one
 * message while the stream is behind), pipelined up to SHIP_IN_FLIGHT_MAX messages.
 *
 * Fencing. Every publish names what must already be last in the stream: the sequence AND the
 * message id of its predecessor (`expect: { lastSequence, lastMsgID }`). The first message
 * after a takeover names the new owner's epoch marker. A deposed primary's publish therefore
 * lands only if nothing was stored after its predecessor, i.e. before any new owner's marker
 * (the new owner then applies it before its marker, so nothing it acknowledged is lost);
 * once a marker is in, every later publish of the old primary is refused. The message id
 * alone is not enough (a pipelined publish expecting sequence n + 1 would be accepted after
 * someone else's message n + 1), nor the sequence alone: both are checked.
 *
 * Retries. A publish that got no answer (timeout, a stream leader election, a lost
 * connection) is sent again, with every later one, unchanged: the stream de-duplicates by
 * message id within its duplicate window, so a message that did land is acknowledged again
 * with its sequence. A refused expectation is never retried: it means deposed (`onDeposed`).
 *
 * Under `sync` replication the shipper publishes the ring's durable position when a message
 * is acknowledged (every record in it is then on the local disk, since the writer hands over
 * only committed groups, and in a quorum of the stream); under `async` the writer already did.
 *
 * Invariants: messages are acknowledged, and positions published, in LSN order; a message is
 * sent again only with its original id, payload and expectations.
 */

import { type JetStreamClient, JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { LOG_KIND_BATCH, logSubject } from '../protocol/index.js';
import type { LogRing, ReplicationEntry, ReplicationQueue, Wal } from '../wal/index.js';
import {
  REPLICATION_LAG_BUCKETS_SECONDS,
  SHIP_IDLE_WAIT_MS,
  SHIP_IN_FLIGHT_BYTES_MAX,
  SHIP_IN_FLIGHT_MAX,
  SHIP_RETRY_DELAY_MS,
  SHIP_RETRY_DELAY_MS_MAX,
} from './constants.js';
import { encodeRecords, logMessageId, recordsPayloadBytes, writeHead } from './log-message.js';

/** Doublings of the retry pause at most (SHIP_RETRY_DELAY_MS_MAX caps it anyway). */
const RETRY_DOUBLINGS_MAX = 8;
/** JetStream API codes of a refused expectation (wrong last sequence or message id). */
const REFUSAL_CODES: ReadonlySet<number> = new Set([10070, 10071, 10164]);

export interface StreamPosition {
  /** Sequence of the last message in the stream this node knows to be there. */
  seq: number;
  /** Its message id. */
  msgId: string;
}

export interface ShipperOptions {
  js: JetStreamClient;
  region: string;
  epoch: number;
  wal: Wal;
  ring: LogRing;
  queue: ReplicationQueue;
  /** LSN of the first record the writer will commit. */
  nextLsn: number;
  /** The stream's end: the new owner's epoch marker. */
  after: StreamPosition;
  /** Largest payload of one message (the servers' limit less headers). */
  messageBytesMax: number;
  onDeposed: (reason: string) => void;
  now?: () => number;
}

interface InFlight {
  firstLsn: number;
  lastLsn: number;
  endPosition: number;
  entries: number;
  records: number;
  bytes: number;
  payload: Uint8Array;
  msgId: string;
  expectSeq: number;
  expectMsgId: string;
  /** When the first of its groups was seen committed (for the lag). */
  seenAt: number;
  answer: Promise<{ ack: PubAck } | { error: unknown }>;
}

/** What /metrics reports of the shipper. */
export interface ShipperStats {
  shippedLsn: number;
  /** Records committed locally and not yet acknowledged by the stream. */
  lagRecords: number;
  /** Age of the oldest group not yet acknowledged, in seconds (0 when none). */
  lagSeconds: number;
  messages: number;
  retries: number;
  /** Commit-to-acknowledgement latency per message: counts per bucket (not cumulative). */
  lagBuckets: number[];
  lagSumSeconds: number;
}

export class Shipper {
  private readonly inFlight: InFlight[] = [];
  /** Queue entries already in a message (in flight), from the queue's head. */
  private taken = 0;
  private bytesInFlight = 0;
  private nextLsn: number;
  private last: StreamPosition;
  private stopped = false;
  private deposed = false;
  private running: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly entry: ReplicationEntry = { lastLsn: 0, endPosition: 0, records: 0 };
  private readonly stats: ShipperStats;
  /** Scratch for reading the queue's newest entry (metrics), apart from `entry`. */
  private readonly tail: ReplicationEntry = { lastLsn: 0, endPosition: 0, records: 0 };
  /** Publishes that failed in a row without an acknowledgement (for the retry pause). */
  private failures = 0;

  constructor(private readonly options: ShipperOptions) {
    this.nextLsn = options.nextLsn;
    this.last = { ...options.after };
    this.now = options.now ?? (() => performance.now());
    this.stats = {
      shippedLsn: options.nextLsn - 1,
      lagRecords: 0,
      lagSeconds: 0,
      messages: 0,
      retries: 0,
      lagBuckets: REPLICATION_LAG_BUCKETS_SECONDS.map(() => 0),
      lagSumSeconds: 0,
    };
    options.queue.storeShippedLsn(options.nextLsn - 1);
  }

  start(): void {
    this.running ??= this.run().catch((error: unknown) => {
      this.depose(`the log shipper failed: ${String(error)}`);
    });
  }

  /** Stops once everything handed over is acknowledged, or after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    const deadline = this.now() + timeoutMs;
    while (!this.deposed && this.now() < deadline && this.pending() > 0) {
      await new Promise((done) => setTimeout(done, SHIP_RETRY_DELAY_MS));
    }
    this.stopped = true;
    await this.running;
  }

  /** Groups handed over and not yet acknowledged. */
  pending(): number {
    return this.options.queue.size();
  }

  current(): ShipperStats {
    const oldest = this.inFlight[0];
    const queue = this.options.queue;
    const size = queue.size();
    const committed = size === 0 ? this.stats.shippedLsn : queue.peek(size - 1, this.tail).lastLsn;
    this.stats.lagRecords = Math.max(0, committed - this.stats.shippedLsn);
    this.stats.lagSeconds = oldest === undefined ? 0 : (this.now() - oldest.seenAt) / 1000;
    return { ...this.stats, lagBuckets: [...this.stats.lagBuckets] };
  }

  private async run(): Promise<void> {
    const queue = this.options.queue;
    while (!this.stopped && !this.deposed) {
      this.fill();
      const head = this.inFlight[0];
      if (head === undefined) {
        await queue.waitForEntries(SHIP_IDLE_WAIT_MS);
        continue;
      }
      const answer = await head.answer;
      if (this.stopped || this.deposed) return;
      if ('ack' in answer) {
        this.acknowledged(head, answer.ack);
        continue;
      }
      if (isRefusal(answer.error)) {
        this.depose(`the stream refused LSN ${head.firstLsn}..: ${String(answer.error)}`);
        return;
      }
      await this.resend();
    }
  }

  /** Publishes messages for the committed groups not yet in flight, within the limits. */
  private fill(): void {
    const queue = this.options.queue;
    while (
      this.inFlight.length < SHIP_IN_FLIGHT_MAX &&
      this.bytesInFlight < SHIP_IN_FLIGHT_BYTES_MAX &&
      queue.size() > this.taken
    ) {
      this.inFlight.push(this.nextMessage());
    }
  }

  /** Coalesces queued groups (at least one) into a message of at most messageBytesMax. */
  private nextMessage(): InFlight {
    const queue = this.options.queue;
    const firstLsn = this.nextLsn;
    const values: Buffer[] = [];
    let bytes = 0;
    let entries = 0;
    let lastLsn = firstLsn - 1;
    let endPosition = 0;
    while (queue.size() > this.taken + entries) {
      const entry = queue.peek(this.taken + entries, this.entry);
      const more = this.options.wal.readStoredRange(lastLsn + 1, entry.records);
      if (more.length !== entry.records) {
        throw new Error(`LSN ${lastLsn + 1}..${entry.lastLsn} is not in the local log`);
      }
      const moreBytes = recordsPayloadBytes(more);
      if (entries > 0 && bytes + moreBytes > this.options.messageBytesMax) break;
      for (const value of more) values.push(value);
      bytes += moreBytes;
      lastLsn = entry.lastLsn;
      endPosition = entry.endPosition;
      entries++;
    }
    const payload = encodeRecords(values);
    const { region, epoch } = this.options;
    const msgId = logMessageId({ region, epoch, kind: LOG_KIND_BATCH, firstLsn });
    const message: InFlight = {
      firstLsn,
      lastLsn,
      endPosition,
      entries,
      records: values.length,
      bytes: payload.length,
      payload,
      msgId,
      expectSeq: this.last.seq + this.inFlight.length,
      expectMsgId: this.inFlight.at(-1)?.msgId ?? this.last.msgId,
      seenAt: this.now(),
      answer: Promise.resolve({ error: null }),
    };
    message.answer = this.publish(message);
    this.taken += entries;
    this.nextLsn = lastLsn + 1;
    this.bytesInFlight += payload.length;
    return message;
  }

  private publish(message: InFlight): Promise<{ ack: PubAck } | { error: unknown }> {
    const head = headers();
    const { region, epoch } = this.options;
    const { firstLsn, records } = message;
    writeHead(head, { region, epoch, kind: LOG_KIND_BATCH, firstLsn, records });
    const expect: { lastSequence: number; lastMsgID?: string } = {
      lastSequence: message.expectSeq,
    };
    if (message.expectMsgId !== '') expect.lastMsgID = message.expectMsgId;
    return this.options.js
      .publish(logSubject(region), message.payload, {
        msgID: message.msgId,
        headers: head,
        expect,
      })
      .then(
        (ack) => ({ ack }),
        (error: unknown) => ({ error }),
      );
  }

  private acknowledged(message: InFlight, ack: PubAck): void {
    const expected = message.expectSeq + 1;
    if (ack.seq !== expected) {
      this.depose(`the stream stored LSN ${message.firstLsn}.. at ${ack.seq}, not ${expected}`);
      return;
    }
    this.inFlight.shift();
    this.failures = 0;
    this.options.queue.pop(message.entries);
    this.taken -= message.entries;
    this.bytesInFlight -= message.bytes;
    this.last = { seq: ack.seq, msgId: message.msgId };
    this.stats.shippedLsn = message.lastLsn;
    this.stats.messages++;
    this.options.queue.storeShippedLsn(message.lastLsn);
    if (this.options.queue.mode === 'sync') {
      this.options.ring.storeDurable(message.lastLsn, message.endPosition);
    }
    const seconds = (this.now() - message.seenAt) / 1000;
    this.stats.lagSumSeconds += seconds;
    let bucket = 0;
    while (bucket < REPLICATION_LAG_BUCKETS_SECONDS.length) {
      if (seconds <= REPLICATION_LAG_BUCKETS_SECONDS[bucket]) break;
      bucket++;
    }
    if (bucket < REPLICATION_LAG_BUCKETS_SECONDS.length) this.stats.lagBuckets[bucket]++;
  }

  /**
   * Sends every message in flight again, in order, after a pause that doubles with each
   * consecutive failure (reset by an acknowledgement).
   */
  private async resend(): Promise<void> {
    const delay = Math.min(SHIP_RETRY_DELAY_MS_MAX, SHIP_RETRY_DELAY_MS * 2 ** this.failures);
    this.failures = Math.min(this.failures + 1, RETRY_DOUBLINGS_MAX);
    this.stats.retries++;
    await new Promise((done) => setTimeout(done, delay));
    if (this.stopped || this.deposed) return;
    for (const message of this.inFlight) message.answer = this.publish(message);
  }

  private depose(reason: string): void {
    if (this.deposed) return;
    this.deposed = true;
    this.options.onDeposed(reason);
  }
}

function isRefusal(error: unknown): boolean {
  return error instanceof JetStreamApiError && REFUSAL_CODES.has(error.code);
}

/**
 * The `orders` subscriptions of one worker thread: a resumable stream of order events in log
 * order, each carrying its LSN as `seq`.
 *
 * A subscriber is either live or catching up:
 * - Live subscribers have received every event up to `liveThrough`; each tick, the events the
 *   main thread published to the ring (order-event-ring.ts) after it go out to all of them as
 *   one frame (uWS pub/sub).
 * - A subscriber catching up has a cursor (the next LSN it needs) at or below `liveThrough`:
 *   each tick it gets up to ORDER_EVENTS_PER_PUSH_MAX events read from the log itself, and
 *   joins the live group the tick its cursor passes `liveThrough`. New subscribers start
 *   here (at `fromSequence`, or just after `liveThrough`), so a resume replays from the log
 *   and continues live with no gap and no duplicate at the seam: both sides deliver by LSN
 *   and the seam is one number.
 * - When the ring has a gap (the main thread skipped while nobody listened, or this worker
 *   was lapped), every live subscriber goes back to catching up from its own position.
 *
 * Backpressure: a live subscriber whose connection buffers more than `bufferBytesMax` is moved
 * to catching up (it gets nothing until it drains, and then reads from the log); one that
 * stays congested for WS_DRAIN_TIMEOUT_MS, or whose position was compacted out of the log
 * while it lagged, is cut off (SUBSCRIBER_TOO_SLOW), and can resume with `fromSequence`. The
 * node holds no events for anyone: memory per subscriber is one push.
 */

import type { LogRecord } from '../engine/index.js';
import {
  type ErrorBody,
  MessageKinds,
  type OrderEventView,
  ORDERS_SUBSCRIPTION_ID,
  type WireCodec,
} from '../protocol/index.js';
import { type LogReader, LogReadError } from '../wal/index.js';
import { ORDER_EVENTS_PER_PUSH_MAX, WS_DRAIN_TIMEOUT_MS } from './constants.js';
import { errorOf } from './errors.js';
import type { OrderEventReader } from './order-event-ring.js';
import { orderEventOf } from './order-event-tail.js';

/** The uWS topic every live `orders` subscriber of a thread joins. */
export const ORDERS_TOPIC = 'orders';

/** Log records one catching-up subscriber reads per tick (bounds a tick's work). */
const CATCH_UP_RECORDS_PER_TICK = 4 * ORDER_EVENTS_PER_PUSH_MAX;

/** What the stream needs of a connection (a subset of the hub's PushTarget). */
export interface StreamTarget {
  isOpen(): boolean;
  bufferedAmount(): number;
  send(frame: Uint8Array): void;
  joinTopic(topic: string): void;
  leaveTopic(topic: string): void;
  pushesHeld(): boolean;
}

export interface OrderStreamOptions {
  ring: OrderEventReader;
  /** Opens this thread's reader of the log, on the first catch-up. */
  openLog: () => LogReader;
  codec: WireCodec;
  publish: ((topic: string, frame: Uint8Array) => void) | null;
  clock: () => number;
  bufferBytesMax: number;
  /** Cuts off a subscriber that did not keep up (closes its connection). */
  cut: (target: StreamTarget, message: string) => void;
}

export interface OrderStreamStats {
  /** Events delivered from the log rather than the ring (resumes, slow subscribers). */
  replayed: number;
  pushes: number;
}

interface CatchingUp {
  /** The next LSN this subscriber needs. */
  cursor: number;
  /** Since when its connection has been congested; 0 when it is not. */
  congestedSinceMs: number;
}

export type StreamOutcome = { ok: true; seq: number } | { ok: false; error: ErrorBody };

export class OrderStream {
  private readonly live = new Set<StreamTarget>();
  private readonly catching = new Map<StreamTarget, CatchingUp>();
  /** Every event at or below this LSN went to every live subscriber. */
  private liveThrough: number;
  private log: LogReader | null = null;
  private readonly events: OrderEventView[] = [];
  readonly stats: OrderStreamStats = { replayed: 0, pushes: 0 };

  constructor(private readonly options: OrderStreamOptions) {
    // Passes over what the ring holds now, so its cursor starts in step with liveThrough.
    this.liveThrough = options.ring.read(this.events, 0, options.ring.through()).through;
  }

  get size(): number {
    return this.live.size + this.catching.size;
  }

  /** Adds a subscriber from `fromSequence` (default: what comes next). */
  subscribe(target: StreamTarget, fromSequence: number | undefined): StreamOutcome {
    const cursor = fromSequence ?? this.liveThrough + 1;
    const ahead = Math.max(this.liveThrough, this.options.ring.through());
    if (cursor > ahead + 1) {
      return {
        ok: false,
        error: errorOf(
          'BAD_FIELD',
          `fromSequence ${cursor} is past the end of the log (${ahead}): ` +
            'a sequence this node never wrote',
        ),
      };
    }
    if (cursor <= this.liveThrough) {
      const oldest = this.reader().firstLsn() ?? this.liveThrough + 1;
      if (cursor < oldest) return { ok: false, error: trimmed(cursor, oldest) };
    }
    this.catching.set(target, { cursor, congestedSinceMs: 0 });
    this.options.ring.addSubscribers(1);
    return { ok: true, seq: cursor };
  }

  remove(target: StreamTarget): boolean {
    if (this.live.delete(target)) {
      if (target.isOpen()) target.leaveTopic(ORDERS_TOPIC);
    } else if (!this.catching.delete(target)) {
      return false;
    }
    this.options.ring.addSubscribers(-1);
    return true;
  }

  tick(): void {
    this.deliverLive();
    this.catchUp();
  }

  async close(): Promise<void> {
    const log = this.log;
    this.log = null;
    if (log !== null) await log.close();
  }

  private deliverLive(): void {
    const { ring, codec, publish } = this.options;
    const events = this.events;
    events.length = 0;
    const wanted = this.live.size === 0 ? 0 : ORDER_EVENTS_PER_PUSH_MAX;
    const read = ring.read(events, wanted, this.liveThrough);
    if (read.gap) {
      for (const target of [...this.live]) this.demote(target, 0);
      events.length = 0;
    }
    for (const target of this.live) {
      if (target.bufferedAmount() > this.options.bufferBytesMax) {
        this.demote(target, this.options.clock());
      }
    }
    this.liveThrough = Math.max(this.liveThrough, read.through);
    if (events.length === 0 || this.live.size === 0) return;
    const frame = codec.encodeMessages([
      [
        ORDERS_SUBSCRIPTION_ID,
        MessageKinds.PUSH,
        { sub: ORDERS_SUBSCRIPTION_ID, events, missed: 0 },
      ],
    ]);
    if (publish !== null) publish(ORDERS_TOPIC, frame);
    else for (const target of this.live) target.send(frame);
    this.stats.pushes += this.live.size;
  }

  /** Moves a live subscriber back to catching up, from the first event it did not get. */
  private demote(target: StreamTarget, congestedSinceMs: number): void {
    this.live.delete(target);
    if (target.isOpen()) target.leaveTopic(ORDERS_TOPIC);
    this.catching.set(target, { cursor: this.liveThrough + 1, congestedSinceMs });
  }

  private catchUp(): void {
    if (this.catching.size === 0) return;
    const now = this.options.clock();
    for (const [target, state] of [...this.catching]) {
      if (!target.isOpen()) continue;
      if (target.bufferedAmount() > this.options.bufferBytesMax) {
        if (state.congestedSinceMs === 0) state.congestedSinceMs = now;
        if (now - state.congestedSinceMs >= WS_DRAIN_TIMEOUT_MS) {
          this.options.cut(target, 'the subscriber did not keep up with its order events');
        }
        continue;
      }
      state.congestedSinceMs = 0;
      if (state.cursor <= this.liveThrough && !this.replay(target, state)) continue;
      // A cursor further on (a `fromSequence` not yet published) waits for the live position;
      // a subscriber whose subscribe answer has not left yet stays here (its pushes are held
      // behind the answer, and a topic's publishes would overtake it).
      if (state.cursor === this.liveThrough + 1 && !target.pushesHeld()) {
        this.catching.delete(target);
        this.live.add(target);
        target.joinTopic(ORDERS_TOPIC);
      }
    }
  }

  /** Sends one push of events read from the log; false when the subscriber was cut off. */
  private replay(target: StreamTarget, state: CatchingUp): boolean {
    const events: OrderEventView[] = [];
    let next: number;
    try {
      next = this.reader().read(
        state.cursor,
        this.liveThrough,
        CATCH_UP_RECORDS_PER_TICK,
        (lsn: number, record: LogRecord) => {
          if (events.length === ORDER_EVENTS_PER_PUSH_MAX) return;
          const event = orderEventOf(record);
          if (event === null) return;
          const orderId = (record as { orderId: string }).orderId;
          events.push({ seq: lsn, type: event.type, orderId, status: event.status, at: record.at });
        },
      );
    } catch (error) {
      if (!(error instanceof LogReadError)) throw error;
      // Compacted while this subscriber lagged: it must resume from what the log holds.
      this.options.cut(target, `the order events it needs were compacted: ${error.message}`);
      return false;
    }
    // A full push stops the position at the event after its last one.
    if (events.length === ORDER_EVENTS_PER_PUSH_MAX) {
      next = Math.min(next, events[events.length - 1].seq + 1);
    }
    state.cursor = next;
    if (events.length > 0) {
      target.send(
        this.options.codec.encodeMessages([
          [
            ORDERS_SUBSCRIPTION_ID,
            MessageKinds.PUSH,
            { sub: ORDERS_SUBSCRIPTION_ID, events, missed: 0 },
          ],
        ]),
      );
      this.stats.replayed += events.length;
      this.stats.pushes++;
    }
    return true;
  }

  private reader(): LogReader {
    this.log ??= this.options.openLog();
    return this.log;
  }
}

function trimmed(asked: number, oldest: number): ErrorBody {
  const message = `order events before ${oldest} are no longer held (asked from ${asked})`;
  return errorOf('EVENTS_TRIMMED', message, { oldest });
}

/**
 * Subscriptions as async iterators: `for await (const update of client.subscribeOrders())`.
 * A `Subscription` sends `subscribe`, yields the answer's snapshot first, then one update per
 * push; after a lost connection it subscribes again on the next one and yields a fresh
 * snapshot (`snapshot: true`), so a consumer that applies every update the same way is back in
 * step. `return()` (a `break` out of the loop) unsubscribes.
 *
 * Invariants:
 * - Every update is yielded at most once and in arrival order; a snapshot is always complete
 *   (it replaces what the consumer knew).
 * - Memory is bounded: at most `queueMax` updates wait for the consumer. Availability updates
 *   past it are merged into the newest one (they carry values, so the merge loses nothing);
 *   the order event stream, which can resume, unsubscribes and subscribes again from the next
 *   sequence once the consumer has taken half the queue; a low-stock stream that overflows
 *   ends with SUBSCRIBER_TOO_SLOW instead of dropping alerts silently.
 * - The order event stream resumes: after a reconnect (or a node restart) it subscribes again
 *   from the sequence after the last event it queued, so the consumer sees every event once,
 *   in log order, across connections.
 * - A subscription ends exactly once: by `return()`, by the client closing (done), or with an
 *   error (the node refused it, the client failed); queued updates are yielded before the error.
 */

import { CLIENT_PUSH_QUEUE_MAX } from '../limits.js';
import {
  isPlainMap,
  type LowStockAlert,
  type OrderEventView,
  type SkuLevel,
  type SubscribeArgs,
  type SubscribeResult,
} from '../messages.js';
import { InventoryError } from './errors.js';
import type { PushHandler } from './push-router.js';
import type { CallOptions, Session, SessionListener } from './session.js';

/** An availability update: the SKUs whose level changed (all of them in a snapshot). */
export interface AvailabilityUpdate {
  /** The subscription id on the current connection. */
  sub: number;
  /** True for the answer to `subscribe` (first, and again after each reconnect). */
  snapshot: boolean;
  skus: Record<string, SkuLevel>;
}

/** Low-stock alerts; a snapshot lists the cells low right now (state `low`). */
export interface LowStockUpdate {
  sub: number;
  snapshot: boolean;
  alerts: LowStockAlert[];
  /** Snapshots only: true when the node listed its maximum and stopped. */
  truncated: boolean;
}

/**
 * Order events. A snapshot (the answer to each subscribe, the first and those that resume)
 * has none and gives the sequence the stream starts at.
 */
export interface OrderEventsUpdate {
  sub: number;
  snapshot: boolean;
  /** In log order; each `seq` is the change's log sequence number. */
  events: OrderEventView[];
  /** Always 0: the node replays a subscriber that fell behind from its log. */
  missed: number;
  /** Snapshots only: every event that follows has a seq at or above it; null in updates. */
  seq: number | null;
}

export interface SubscriptionOptions {
  /** Timeout of each `subscribe` call (the first and those after reconnects). */
  timeoutMs?: number;
  /** Updates held for a slow consumer (default CLIENT_PUSH_QUEUE_MAX). */
  queueMax?: number;
}

export interface OrderSubscriptionOptions extends SubscriptionOptions {
  /**
   * Start from this log sequence (a `seq` the consumer stored, plus one) instead of from now:
   * the node replays from its log, then continues live. Older than its retention window:
   * the subscription ends with EVENTS_TRIMMED.
   */
  fromSequence?: number;
}

/** How one kind of subscription turns answers and pushes into updates. */
export interface UpdateCodec<T> {
  fromSnapshot(result: SubscribeResult): T;
  /** The update a push carries, or undefined when the body is not one. */
  fromPush(sub: number, body: Record<string, unknown>): T | undefined;
  /** Folds `later` into `into` when the queue is full; false means it cannot (events). */
  merge(into: T, later: T): boolean;
  /**
   * For a stream that can resume: the arguments to subscribe with after `update` was queued,
   * so a new subscription continues right after it.
   */
  resumeAfter?(args: SubscribeArgs, update: T): SubscribeArgs;
}

const SUBSCRIBING = 0;
const ACTIVE = 1;
/** Between a lost connection and the next one. */
const WAITING = 2;
const ENDED = 3;
/** A resumable stream paused (unsubscribed) until the consumer takes half its queue. */
const PAUSED = 4;

const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true });

interface Waiter<T> {
  resolve: (result: IteratorResult<T>) => void;
  reject: (error: Error) => void;
}

function ignore(): void {}

export class Subscription<T> implements AsyncIterableIterator<T>, SessionListener {
  private state = SUBSCRIBING;
  private serverId: number | undefined = undefined;
  /** Incremented per `subscribe` sent, so a late answer to an older one is recognised. */
  private generation = 0;
  private items: T[] = [];
  private itemsHead = 0;
  private readonly waiters: Waiter<T>[] = [];
  private failure: Error | undefined = undefined;
  private readonly queueMax: number;
  private readonly onPush: PushHandler;

  constructor(
    private readonly session: Session,
    private args: SubscribeArgs,
    private readonly codec: UpdateCodec<T>,
    private readonly options: SubscriptionOptions = {},
  ) {
    const queueMax = options.queueMax ?? CLIENT_PUSH_QUEUE_MAX;
    if (!Number.isInteger(queueMax) || queueMax < 1 || queueMax > 1 << 20) {
      throw new RangeError(`queueMax must be an integer in [1, 2^20], got ${queueMax}`);
    }
    this.queueMax = queueMax;
    this.onPush = (body) => this.pushed(body);
    session.addListener(this);
    this.start();
  }

  /** The subscription id on the current connection; undefined while (re)subscribing. */
  get id(): number | undefined {
    return this.serverId;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.itemsHead < this.items.length) {
      const value = this.items[this.itemsHead];
      this.items[this.itemsHead++] = undefined as T;
      if (this.itemsHead === this.items.length) {
        this.items = [];
        this.itemsHead = 0;
      }
      if (this.state === PAUSED && this.items.length - this.itemsHead <= this.queueMax >> 1) {
        if (this.session.state === 'open') this.start();
        else this.state = WAITING;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.state === ENDED) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Ends the iteration and unsubscribes; updates not yet taken are dropped. */
  return(): Promise<IteratorResult<T>> {
    if (this.state !== ENDED) {
      const id = this.serverId;
      if (id !== undefined && this.session.state === 'open') {
        this.session.call('unsubscribe', { sub: id }).catch(ignore);
      }
      this.finish(undefined);
    }
    this.items = [];
    this.itemsHead = 0;
    this.failure = undefined;
    return Promise.resolve(DONE);
  }

  // Session events.

  connectionLost(): void {
    if (this.state !== ACTIVE) return;
    // The ids of the lost connection mean nothing on the next one.
    this.detachId();
    this.state = WAITING;
  }

  reconnected(): void {
    if (this.state === WAITING) this.start();
  }

  ended(error: InventoryError | undefined): void {
    if (this.state !== ENDED) this.finish(error);
  }

  // Internals.

  private start(): void {
    this.state = SUBSCRIBING;
    const generation = ++this.generation;
    const callOptions: CallOptions = {};
    if (this.options.timeoutMs !== undefined) callOptions.timeoutMs = this.options.timeoutMs;
    this.session.call('subscribe', this.args, callOptions).then(
      (result) => this.subscribed(generation, result as SubscribeResult),
      (error: unknown) => this.refused(generation, error),
    );
  }

  private subscribed(generation: number, result: SubscribeResult): void {
    if (this.state === ENDED) {
      // Ended while the answer was on its way: the node holds a subscription nobody reads.
      this.session.pushes.forget(result.sub);
      if (this.session.state === 'open') {
        this.session.call('unsubscribe', { sub: result.sub }).catch(ignore);
      }
      return;
    }
    if (generation !== this.generation || this.state !== SUBSCRIBING) {
      this.session.pushes.forget(result.sub);
      return;
    }
    this.state = ACTIVE;
    this.serverId = result.sub;
    // The snapshot first, then the pushes that followed the answer (held by the router until
    // the handler is set), so updates keep the node's order.
    this.deliver(this.codec.fromSnapshot(result));
    if (this.state === ACTIVE && this.serverId === result.sub) {
      this.session.pushes.set(result.sub, this.onPush);
    } else {
      this.session.pushes.forget(result.sub);
    }
  }

  private refused(generation: number, error: unknown): void {
    if (this.state === ENDED || generation !== this.generation) return;
    const failure = error instanceof Error ? error : new InventoryError('INTERNAL', String(error));
    // A subscribe lost with its connection waits for the next one; anything else is final.
    const code = (failure as InventoryError).code;
    const transient = code === 'CONNECTION_LOST' || code === 'TIMEOUT';
    if (transient && this.session.state === 'reconnecting') {
      this.state = WAITING;
      return;
    }
    this.finish(failure);
  }

  private pushed(body: unknown): void {
    if (this.state !== ACTIVE || !isPlainMap(body) || this.serverId === undefined) return;
    const update = this.codec.fromPush(this.serverId, body);
    if (update !== undefined) this.deliver(update);
  }

  private deliver(update: T): void {
    const resume = this.codec.resumeAfter;
    if (resume !== undefined) this.args = resume(this.args, update);
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve({ value: update, done: false });
      return;
    }
    if (this.items.length - this.itemsHead < this.queueMax) {
      this.items.push(update);
      return;
    }
    if (this.codec.merge(this.items[this.items.length - 1], update)) return;
    const id = this.serverId;
    if (id !== undefined && this.session.state === 'open') {
      this.session.call('unsubscribe', { sub: id }).catch(ignore);
    }
    if (resume !== undefined) {
      // Queued as the last one before the pause: the stream resumes right after it.
      this.items.push(update);
      this.detachId();
      this.state = PAUSED;
      return;
    }
    this.finish(
      new InventoryError(
        'SUBSCRIBER_TOO_SLOW',
        `more than ${this.queueMax} updates waited for the consumer`,
      ),
    );
  }

  private detachId(): void {
    if (this.serverId !== undefined) this.session.pushes.delete(this.serverId);
    this.serverId = undefined;
  }

  private finish(error: Error | undefined): void {
    this.state = ENDED;
    this.detachId();
    this.session.removeListener(this);
    const waiters = this.waiters.splice(0);
    if (waiters.length === 0) {
      this.failure = error;
      return;
    }
    // Waiters exist only when the queue is empty: the first gets the error, the rest done.
    for (let index = 0; index < waiters.length; index++) {
      if (index === 0 && error !== undefined) waiters[index].reject(error);
      else waiters[index].resolve(DONE);
    }
  }
}

// The three kinds.

function recordOf(value: unknown): Record<string, unknown> {
  return isPlainMap(value) ? value : {};
}

function arrayOf<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}

export const AVAILABILITY_UPDATES: UpdateCodec<AvailabilityUpdate> = {
  fromSnapshot: (result) => ({
    sub: result.sub,
    snapshot: true,
    skus: recordOf((result.snapshot as { skus?: unknown }).skus) as Record<string, SkuLevel>,
  }),
  fromPush: (sub, body) =>
    isPlainMap(body.skus)
      ? { sub, snapshot: false, skus: body.skus as Record<string, SkuLevel> }
      : undefined,
  merge: (into, later) => {
    Object.assign(into.skus, later.skus);
    into.snapshot ||= later.snapshot;
    into.sub = later.sub;
    return true;
  },
};

export const LOW_STOCK_UPDATES: UpdateCodec<LowStockUpdate> = {
  fromSnapshot: (result) => {
    const snapshot = result.snapshot as { alerts?: unknown; truncated?: unknown };
    return {
      sub: result.sub,
      snapshot: true,
      alerts: arrayOf<LowStockAlert>(snapshot.alerts),
      truncated: snapshot.truncated === true,
    };
  },
  fromPush: (sub, body) =>
    Array.isArray(body.alerts)
      ? { sub, snapshot: false, alerts: body.alerts as LowStockAlert[], truncated: false }
      : undefined,
  merge: () => false,
};

export const ORDER_EVENT_UPDATES: UpdateCodec<OrderEventsUpdate> = {
  fromSnapshot: (result) => {
    const seq = (result.snapshot as { seq?: unknown }).seq;
    return {
      sub: result.sub,
      snapshot: true,
      events: [],
      missed: 0,
      seq: typeof seq === 'number' ? seq : null,
    };
  },
  fromPush: (sub, body) =>
    Array.isArray(body.events)
      ? {
          sub,
          snapshot: false,
          events: body.events as OrderEventView[],
          missed: typeof body.missed === 'number' ? body.missed : 0,
          seq: null,
        }
      : undefined,
  merge: () => false,
  resumeAfter: (args, update) => {
    const events = update.events;
    if (events.length > 0) {
      return { kind: 'orders', fromSequence: events[events.length - 1].seq + 1 };
    }
    // A snapshot fixes where the stream starts: resuming before any event starts there again.
    if (update.snapshot && update.seq !== null) return { kind: 'orders', fromSequence: update.seq };
    return args;
  },
};

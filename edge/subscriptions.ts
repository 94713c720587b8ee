/**
 * The subscriptions of one worker thread: `subscribe` / `unsubscribe` for its connections, and
 * every tick the pushes. Changed cells arrive from this thread's engine and from every other
 * thread (change-feed.ts); low-stock alerts from the main thread; order events are a stream of
 * their own (order-stream.ts).
 *
 * Per tick (SUBSCRIPTION_TICK_MS): each availability subscription whose DCs and SKUs saw a
 * change is evaluated once and pushes the SKUs whose level differs from what it last sent;
 * each low-stock subscription gets the alerts that match its filter; the order stream pushes
 * its events. A connection's pushes of one tick travel in one frame.
 *
 * Backpressure: a subscriber whose connection buffers more than `bufferBytesMax` gets no
 * availability push (its SKUs stay dirty, so the next push carries the latest values) and is
 * closed with SUBSCRIBER_TOO_SLOW if it stays so for WS_DRAIN_TIMEOUT_MS; a low-stock
 * subscriber cannot skip without losing alerts, so it is closed at once; an orders subscriber
 * falls back to reading the log (order-stream.ts). Memory per subscriber is thus bounded by
 * that limit plus one push.
 *
 * Invariants: every subscription belongs to one open connection and is gone once it closes;
 * per connection at most SUBSCRIPTIONS_PER_CONNECTION_MAX, per thread at most
 * SUBSCRIPTIONS_PER_THREAD_MAX and WATCHED_SKUS_PER_THREAD_MAX SKU entries; the orders stream
 * has the fixed id ORDERS_SUBSCRIPTION_ID, at most once per connection.
 */

import type { Engine } from '../engine/index.js';
import type { LogReader } from '../wal/index.js';
import {
  type AvailabilitySubscribeArgs,
  type ErrorBody,
  type LowStockAlert,
  type LowStockSubscribeArgs,
  MessageKinds,
  ORDERS_SUBSCRIPTION_ID,
  REQUEST_ID_MAX,
  type Role,
  type SubscribeArgs,
  SUBSCRIPTION_ROLES,
  SUBSCRIPTION_SKUS_MAX,
  SUBSCRIPTIONS_PER_CONNECTION_MAX,
  type WireCodec,
  type WireMessage,
} from '../protocol/index.js';
import { AvailabilityWatch, type WatchEngine, WatchScratch } from './availability-watch.js';
import type { CatalogueView } from './catalogue-view.js';
import { CellSet } from './cell-set.js';
import {
  LOW_STOCK_PENDING_MAX,
  LOW_STOCK_SNAPSHOT_MAX,
  LOW_STOCK_SNAPSHOT_SCAN_MAX,
  PENDING_CELLS_MAX,
  SUBSCRIPTIONS_PER_THREAD_MAX,
  WATCHED_SKUS_PER_THREAD_MAX,
  WS_DRAIN_TIMEOUT_MS,
} from './constants.js';
import { errorOf } from './errors.js';
import { CellReader, LowStockMirror, type StockReader } from './low-stock.js';
import type { Outcome } from './operations.js';
import type { OrderEventReader } from './order-event-ring.js';
import { OrderStream } from './order-stream.js';

export { ORDERS_TOPIC } from './order-stream.js';

/** What the hub needs of a connection. */
export interface PushTarget {
  readonly id: number;
  isOpen(): boolean;
  bufferedAmount(): number;
  send(frame: Uint8Array): void;
  /** Closes the connection after a SUBSCRIBER_TOO_SLOW notice (close code 1008). */
  cutOff(message: string): void;
  joinTopic(topic: string): void;
  leaveTopic(topic: string): void;
  /**
   * True while this connection's subscribe answer has not left: `send` holds pushes until it
   * has, and a topic (whose publishes would overtake the answer) must not be joined yet.
   */
  pushesHeld(): boolean;
}

export type HubEngine = WatchEngine & StockReader & Pick<Engine, 'getSku' | 'getDc'>;

export interface SubscriptionHubOptions {
  engine: HubEngine;
  view: CatalogueView;
  /** The node's order event ring (its events come from the log). */
  events: OrderEventReader;
  /** Opens this thread's reader of the log, for subscribers that replay from it. */
  openLog: () => LogReader;
  codec: WireCodec;
  /** Sends a frame to every connection that joined `topic`; null sends one by one. */
  publish: ((topic: string, frame: Uint8Array) => void) | null;
  clock: () => number;
  /** The engine's default delivery window, for subscriptions that name none. */
  maxMinutesDefault: number;
  bufferBytesMax: number;
}

/** Subscription counts and push totals, read by the metrics. */
export interface HubStats {
  availability: number;
  lowStock: number;
  orders: number;
  pushes: number;
  pushesSkipped: number;
  subscribersCutOff: number;
  /** Order events sent from the log rather than the ring (resumes, slow subscribers). */
  eventsReplayed: number;
}

class LowStockWatch {
  readonly kind = 'lowStock';
  pending: LowStockAlert[] = [];

  constructor(
    readonly id: number,
    readonly target: PushTarget,
    private readonly skus: ReadonlySet<string> | null,
    private readonly dcs: ReadonlySet<string> | null,
  ) {}

  matches(alert: LowStockAlert): boolean {
    return (
      (this.skus === null || this.skus.has(alert.sku)) &&
      (this.dcs === null || this.dcs.has(alert.dc))
    );
  }
}

type Watch = AvailabilityWatch | LowStockWatch;

/** A SKU position of one availability watch, found from the SKU's index. */
interface SkuWatcher {
  watch: AvailabilityWatch;
  target: PushTarget;
  position: number;
}

/** One connection's subscriptions. */
class TargetState {
  readonly watches = new Map<number, Watch>();
  orders = false;
  nextId = ORDERS_SUBSCRIPTION_ID + 1;
  /** When its pushes started being skipped for backpressure; 0 when they are not. */
  skippingSinceMs = 0;
  /** Messages for this connection collected during a tick. */
  outgoing: WireMessage[] = [];

  get count(): number {
    return this.watches.size + (this.orders ? 1 : 0);
  }

  allocateId(): number {
    let id = this.nextId;
    while (id === ORDERS_SUBSCRIPTION_ID || this.watches.has(id)) {
      id = id >= REQUEST_ID_MAX ? ORDERS_SUBSCRIPTION_ID + 1 : id + 1;
    }
    this.nextId = id >= REQUEST_ID_MAX ? ORDERS_SUBSCRIPTION_ID + 1 : id + 1;
    return id;
  }
}

export class SubscriptionHub {
  private readonly targets = new Map<PushTarget, TargetState>();
  private readonly bySku = new Map<number, SkuWatcher[]>();
  private readonly availability = new Set<AvailabilityWatch>();
  private readonly lowStock = new Set<LowStockWatch>();
  private readonly orders: OrderStream;
  private readonly owners = new Map<Watch, PushTarget>();
  private readonly pending = new CellSet(PENDING_CELLS_MAX);
  /** Set when more cells changed than `pending` holds: evaluate every SKU. */
  private pendingAll = false;
  private catalogueChanged = false;
  private queue: AvailabilityWatch[] = [];
  private readonly scratch = new WatchScratch(SUBSCRIPTION_SKUS_MAX);
  private readonly cellReader: CellReader;
  private readonly lowStockMirror: LowStockMirror;
  private watchedSkus = 0;
  private subscriptionCount = 0;
  readonly stats: HubStats = {
    availability: 0,
    lowStock: 0,
    orders: 0,
    pushes: 0,
    pushesSkipped: 0,
    subscribersCutOff: 0,
    eventsReplayed: 0,
  };

  constructor(private readonly options: SubscriptionHubOptions) {
    this.cellReader = new CellReader(options.engine, SUBSCRIPTION_SKUS_MAX);
    this.lowStockMirror = new LowStockMirror(options.engine, this.cellReader, options.view);
    this.orders = new OrderStream({
      ring: options.events,
      openLog: options.openLog,
      codec: options.codec,
      publish: options.publish,
      clock: options.clock,
      bufferBytesMax: options.bufferBytesMax,
      cut: (target, message) => this.cut(target as PushTarget, message),
    });
  }

  // Requests.

  subscribe(target: PushTarget, args: SubscribeArgs, role: Role): Outcome {
    if (!SUBSCRIPTION_ROLES[args.kind].includes(role)) {
      return fail(errorOf('FORBIDDEN', `the ${role} role may not subscribe to ${args.kind}`));
    }
    let state = this.targets.get(target);
    if (state === undefined) {
      state = new TargetState();
      this.targets.set(target, state);
    }
    // Subscribing to orders again restarts the stream where the new request says.
    if (args.kind === 'orders' && state.orders) this.removeOrders(target, state);
    if (state.count >= SUBSCRIPTIONS_PER_CONNECTION_MAX) {
      return fail(
        errorOf('TOO_MANY_SUBSCRIPTIONS', `at most ${SUBSCRIPTIONS_PER_CONNECTION_MAX} each`),
      );
    }
    if (this.subscriptionCount >= SUBSCRIPTIONS_PER_THREAD_MAX) {
      return fail(errorOf('TOO_MANY_SUBSCRIPTIONS', 'this node holds all it can'));
    }
    if (args.kind === 'orders') {
      const started = this.orders.subscribe(target, args.fromSequence);
      if (!started.ok) return started;
      state.orders = true;
      this.subscriptionCount++;
      this.stats.orders++;
      const snapshot = { seq: started.seq };
      return { ok: true, value: { sub: ORDERS_SUBSCRIPTION_ID, kind: 'orders', snapshot } };
    }
    if (args.kind === 'lowStock') return this.subscribeLowStock(target, state, args);
    return this.subscribeAvailability(target, state, args);
  }

  unsubscribe(target: PushTarget, id: number): Outcome {
    const state = this.targets.get(target);
    if (state === undefined) return { ok: true, value: { removed: false } };
    if (id === ORDERS_SUBSCRIPTION_ID && state.orders) {
      this.removeOrders(target, state);
      return { ok: true, value: { removed: true } };
    }
    const watch = state.watches.get(id);
    if (watch === undefined) return { ok: true, value: { removed: false } };
    this.removeWatch(state, watch);
    return { ok: true, value: { removed: true } };
  }

  /** Drops every subscription of a connection that closed. */
  removeTarget(target: PushTarget): void {
    const state = this.targets.get(target);
    if (state === undefined) return;
    if (state.orders) this.removeOrders(target, state);
    for (const watch of [...state.watches.values()]) this.removeWatch(state, watch);
    this.targets.delete(target);
  }

  private removeOrders(target: PushTarget, state: TargetState): void {
    state.orders = false;
    this.orders.remove(target);
    this.subscriptionCount--;
    this.stats.orders--;
  }

  private removeWatch(state: TargetState, watch: Watch): void {
    state.watches.delete(watch.id);
    this.owners.delete(watch);
    this.subscriptionCount--;
    if (watch.kind === 'lowStock') {
      this.lowStock.delete(watch);
      this.stats.lowStock--;
      return;
    }
    this.availability.delete(watch);
    this.stats.availability--;
    this.watchedSkus -= watch.size;
    for (let position = 0; position < watch.size; position++) {
      const sku = watch.skuIndexes[position];
      const watchers = this.bySku.get(sku);
      if (watchers === undefined) continue;
      const left = watchers.filter((watcher) => watcher.watch !== watch);
      if (left.length === 0) this.bySku.delete(sku);
      else this.bySku.set(sku, left);
    }
    // A queued watch leaves the queue at the next tick (it is no longer in `availability`).
  }

  private subscribeAvailability(
    target: PushTarget,
    state: TargetState,
    args: AvailabilitySubscribeArgs,
  ): Outcome {
    const { engine } = this.options;
    const positions = new Map<string, number>();
    for (const id of args.skus) if (!positions.has(id)) positions.set(id, positions.size);
    if (this.watchedSkus + positions.size > WATCHED_SKUS_PER_THREAD_MAX) {
      return fail(errorOf('TOO_MANY_SUBSCRIPTIONS', 'this node watches all the SKUs it can'));
    }
    const skuIds = [...positions.keys()];
    const skuIndexes = new Int32Array(skuIds.length);
    for (let position = 0; position < skuIds.length; position++) {
      const sku = engine.getSku(skuIds[position]);
      if (sku === undefined) {
        return fail(
          errorOf('UNKNOWN_SKU', `unknown SKU ${skuIds[position]}`, { sku: skuIds[position] }),
        );
      }
      skuIndexes[position] = sku.index;
    }
    let dcs: Int32Array | null = null;
    if (args.dcs !== undefined) {
      dcs = new Int32Array(args.dcs.length);
      for (let at = 0; at < args.dcs.length; at++) {
        const dc = engine.getDc(args.dcs[at]);
        if (dc === undefined) {
          return fail(errorOf('UNKNOWN_DC', `unknown DC ${args.dcs[at]}`, { dc: args.dcs[at] }));
        }
        dcs[at] = dc.index;
      }
    }
    const location = dcs === null ? { lat: args.lat as number, lng: args.lng as number } : null;
    const maxMinutes = args.maxMinutes ?? this.options.maxMinutesDefault;
    const id = state.allocateId();
    const watch = new AvailabilityWatch(id, skuIds, skuIndexes, { location, maxMinutes, dcs });
    watch.refreshDcs(engine, this.options.view);
    const snapshot = { skus: watch.snapshot(engine, this.scratch) };
    state.watches.set(id, watch);
    this.owners.set(watch, target);
    this.availability.add(watch);
    this.watchedSkus += skuIds.length;
    this.subscriptionCount++;
    this.stats.availability++;
    for (let position = 0; position < skuIndexes.length; position++) {
      const sku = skuIndexes[position];
      const watchers = this.bySku.get(sku);
      const watcher = { watch, target, position };
      if (watchers === undefined) this.bySku.set(sku, [watcher]);
      else watchers.push(watcher);
    }
    return { ok: true, value: { sub: id, kind: 'availability', snapshot } };
  }

  private subscribeLowStock(
    target: PushTarget,
    state: TargetState,
    args: LowStockSubscribeArgs,
  ): Outcome {
    const { engine } = this.options;
    for (const id of args.skus ?? []) {
      if (engine.getSku(id) === undefined) {
        return fail(errorOf('UNKNOWN_SKU', `unknown SKU ${id}`, { sku: id }));
      }
    }
    for (const id of args.dcs ?? []) {
      if (engine.getDc(id) === undefined) {
        return fail(errorOf('UNKNOWN_DC', `unknown DC ${id}`, { dc: id }));
      }
    }
    const skus = args.skus === undefined ? null : new Set(args.skus);
    const dcs = args.dcs === undefined ? null : new Set(args.dcs);
    const id = state.allocateId();
    const watch = new LowStockWatch(id, target, skus, dcs);
    const snapshot = this.lowStockSnapshot(args);
    state.watches.set(id, watch);
    this.owners.set(watch, target);
    this.lowStock.add(watch);
    this.subscriptionCount++;
    this.stats.lowStock++;
    return { ok: true, value: { sub: id, kind: 'lowStock', snapshot } };
  }

  /** The cells low right now that match the filter, read from shared stock (bounded). */
  private lowStockSnapshot(args: LowStockSubscribeArgs) {
    const { engine, view } = this.options;
    const skus =
      args.skus === undefined
        ? view.skusWithThreshold()
        : Int32Array.from(args.skus.map((id) => engine.getSku(id)!.index));
    const dcs =
      args.dcs === undefined
        ? Array.from({ length: view.dcCount }, (_, index) => index)
        : args.dcs.map((id) => engine.getDc(id)!.index);
    const alerts: LowStockAlert[] = [];
    const chunk = this.scratch.skus;
    const totals = this.scratch.totals;
    const at = this.options.clock();
    let scanned = 0;
    let truncated = false;
    for (const dc of dcs) {
      for (let start = 0; start < skus.length && !truncated; start += chunk.length) {
        const count = Math.min(chunk.length, skus.length - start);
        chunk.set(skus.subarray(start, start + count));
        this.cellReader.read(dc, chunk, count, totals);
        scanned += count;
        for (let index = 0; index < count; index++) {
          const threshold = view.thresholds[chunk[index]];
          if (!this.lowStockMirror.lists(dc, chunk[index], totals[index], threshold)) continue;
          if (alerts.length === LOW_STOCK_SNAPSHOT_MAX) {
            truncated = true;
            break;
          }
          const [dcId, skuId] = [view.dcIds[dc], view.skuIds[chunk[index]]];
          alerts.push({
            dc: dcId,
            sku: skuId,
            state: 'low',
            available: totals[index],
            threshold,
            at,
          });
        }
        if (scanned >= LOW_STOCK_SNAPSHOT_SCAN_MAX) truncated = true;
      }
      if (truncated) break;
    }
    return { alerts, truncated };
  }

  // Changes.

  /** Cells changed on some thread (this one included). */
  cellsChanged(cells: Int32Array): void {
    if (this.pendingAll || this.availability.size === 0) return;
    const pending = this.pending;
    for (let index = 0; index < cells.length; index++) {
      if (!pending.add(cells[index])) {
        this.pendingAll = true;
        pending.clear();
        return;
      }
    }
  }

  alertsReceived(alerts: readonly LowStockAlert[]): void {
    this.lowStockMirror.apply(alerts);
    for (const watch of this.lowStock) {
      for (const alert of alerts) {
        if (watch.matches(alert) && watch.pending.length <= LOW_STOCK_PENDING_MAX) {
          watch.pending.push(alert);
        }
      }
    }
  }

  /** The catalogue changed: DC sets are re-resolved and every SKU re-read next tick. */
  catalogueUpdated(): void {
    this.catalogueChanged = true;
  }

  // The tick.

  tick(nowMs: number): void {
    this.markChanged();
    this.evaluateAvailability(nowMs);
    this.deliverLowStock();
    this.sendOutgoing();
    this.deliverOrders();
  }

  private markChanged(): void {
    const { engine, view } = this.options;
    if (this.catalogueChanged || this.pendingAll) {
      for (const watch of this.availability) {
        watch.refreshDcs(engine, view);
        watch.markAll();
        this.enqueue(watch);
      }
      this.catalogueChanged = false;
      this.pendingAll = false;
      this.pending.clear();
      return;
    }
    const cells = this.pending.view();
    const skuCapacity = view.skuCapacity;
    for (let index = 0; index < cells.length; index++) {
      const cell = cells[index];
      const sku = cell % skuCapacity;
      const watchers = this.bySku.get(sku);
      if (watchers === undefined) continue;
      const dc = (cell - sku) / skuCapacity;
      for (let at = 0; at < watchers.length; at++) {
        const { watch, position } = watchers[at];
        if (watch.serves(dc) && watch.mark(position)) this.enqueue(watch);
      }
    }
    this.pending.clear();
  }

  private enqueue(watch: AvailabilityWatch): void {
    if (watch.queued) return;
    watch.queued = true;
    this.queue.push(watch);
  }

  private evaluateAvailability(nowMs: number): void {
    const queue = this.queue;
    this.queue = [];
    const { engine } = this.options;
    for (const watch of queue) {
      watch.queued = false;
      if (!this.availability.has(watch)) continue;
      const target = this.owners.get(watch)!;
      const state = this.targets.get(target)!;
      if (this.congested(target)) {
        this.stats.pushesSkipped++;
        state.skippingSinceMs ||= nowMs;
        if (nowMs - state.skippingSinceMs >= WS_DRAIN_TIMEOUT_MS) this.cut(target);
        else this.enqueue(watch);
        continue;
      }
      state.skippingSinceMs = 0;
      const changed = watch.evaluate(engine, this.scratch);
      if (changed !== null) {
        state.outgoing.push([watch.id, MessageKinds.PUSH, { sub: watch.id, skus: changed }]);
      }
    }
  }

  private deliverLowStock(): void {
    for (const watch of [...this.lowStock]) {
      if (watch.pending.length === 0) continue;
      const target = watch.target;
      if (watch.pending.length > LOW_STOCK_PENDING_MAX || this.congested(target)) {
        this.cut(target);
        continue;
      }
      const alerts = watch.pending;
      watch.pending = [];
      this.targets
        .get(target)!
        .outgoing.push([watch.id, MessageKinds.PUSH, { sub: watch.id, alerts }]);
    }
  }

  /** One frame per connection with its pushes of this tick. */
  private sendOutgoing(): void {
    for (const [target, state] of this.targets) {
      if (state.outgoing.length === 0) continue;
      const messages = state.outgoing;
      state.outgoing = [];
      if (!target.isOpen()) continue;
      target.send(this.options.codec.encodeMessages(messages));
      this.stats.pushes += messages.length;
    }
  }

  private deliverOrders(): void {
    const before = this.orders.stats;
    const [replayed, pushes] = [before.replayed, before.pushes];
    this.orders.tick();
    this.stats.eventsReplayed += this.orders.stats.replayed - replayed;
    this.stats.pushes += this.orders.stats.pushes - pushes;
  }

  /** Closes the order stream's log reader, if it opened one. */
  close(): Promise<void> {
    return this.orders.close();
  }

  private congested(target: PushTarget): boolean {
    return target.bufferedAmount() > this.options.bufferBytesMax;
  }

  /** Closes a subscriber that does not keep up; its subscriptions go with the connection. */
  private cut(
    target: PushTarget,
    message = 'the subscriber did not keep up with its pushes',
  ): void {
    this.stats.subscribersCutOff++;
    target.cutOff(message);
    // The close handler removes the target; a transport that closes later is removed now.
    this.removeTarget(target);
  }
}

function fail(error: ErrorBody): Outcome {
  return { ok: false, error };
}

/**
 * InventoryClient: the TypeScript SDK for an inventory node (SPEC F11). Batch-first on protocol
 * v2: `placeOrders` and `availabilityMany` send many entries as columns and answer through
 * typed views; the per-call methods keep one promise per operation, and calls made in the
 * same event-loop turn travel in one frame (placeOrder and availability calls as one batch
 * request). Per-call timeouts and AbortSignal; reconnect with backoff that sends again only
 * what is safe to send again; typed errors carrying the node's code; subscriptions as async
 * iterators that subscribe again after a reconnect.
 *
 * The connection machinery lives in session.ts; this class is the public surface.
 */

import type {
  AdjustArgs,
  AvailabilityArgs,
  AvailabilityResult,
  BasketCheckResult,
  BrowseArgs,
  BrowseResult,
  ChangeOrderArgs,
  CheckBasketArgs,
  ConfirmArgs,
  DcUpsertResult,
  AvailabilitySubscribeArgs,
  ExtendArgs,
  HelloResult,
  LowStockSubscribeArgs,
  Op,
  OpArgs,
  OpResults,
  OrderIdArgs,
  OrderResult,
  PingResult,
  PlaceOrderArgs,
  ReceiveArgs,
  SkuUpsertResult,
  StockKeyArgs,
  StockResult,
  SubscribeArgs,
  UpsertDcArgs,
  UpsertSkuArgs,
} from '../messages.js';
import { InventoryError } from './errors.js';
import type { AvailabilityBatchResult, AvailabilityQuery } from './availability-batch.js';
import { ClusterClient, type ClusterConnectOptions } from './cluster.js';
import type { OrderBatchResult, PlaceOrderInput } from './order-batch.js';
import type { PushRouter } from './push-router.js';
import {
  type AvailabilityManyOptions,
  type CallOptions,
  type ClientState,
  type ConnectOptions,
  Session,
} from './session.js';
import {
  AVAILABILITY_UPDATES,
  type AvailabilityUpdate,
  LOW_STOCK_UPDATES,
  type LowStockUpdate,
  ORDER_EVENT_UPDATES,
  type OrderEventsUpdate,
  type OrderSubscriptionOptions,
  Subscription,
  type SubscriptionOptions,
} from './subscriptions.js';

/** Ops a caller may issue; `hello` is the client's own, sent on every connection. */
export type ClientOp = Exclude<Op, 'hello'>;

export class InventoryClient {
  private readonly session: Session;

  private constructor(session: Session) {
    this.session = session;
  }

  /**
   * Connects and completes the hello handshake. Rejects with an InventoryError: UNAUTHORIZED
   * (unknown key), PROTOCOL_VERSION, or CONNECT_FAILED (network, handshake timeout). The first
   * connection is not retried; `reconnect` governs connections lost later.
   */
  static async connect(url: string, options: ConnectOptions): Promise<InventoryClient> {
    const session = new Session(url, options);
    await session.open();
    return new InventoryClient(session);
  }

  /**
   * Connects to a cluster of regions instead of one node (protocol/client/cluster.ts): learns
   * each region's owner from the cluster's NATS servers, sends each call to the owner of its
   * location's region, and after a failover sends again what is safe to send again.
   */
  static connectCluster(options: ClusterConnectOptions): Promise<ClusterClient> {
    return ClusterClient.connect(options);
  }

  /** The node's hello answer on the current connection: version, node name, role, limits. */
  get server(): HelloResult {
    return this.session.server!;
  }

  get state(): ClientState {
    return this.session.state;
  }

  /** The protocol version of the connection (of the last one while reconnecting): 2 or 1. */
  get protocolVersion(): number {
    return this.session.protocolVersion;
  }

  /**
   * Entries sent and not yet answered by the node: a request counts its orders or queries
   * (a batch of 500 orders counts 500), as the node's `inFlightMax` does.
   */
  get inFlight(): number {
    return this.session.inFlight;
  }

  /** Entries waiting to be sent (for the next flush, the in-flight window or a reconnect). */
  get queued(): number {
    return this.session.queued;
  }

  /** Routes kind-2 pushes by subscription id; the subscription ops build on it. */
  get pushes(): PushRouter {
    return this.session.pushes;
  }

  /** Issues any op by name; the typed methods below are shorthands for this. */
  call<O extends ClientOp>(op: O, args: OpArgs[O], options?: CallOptions): Promise<OpResults[O]> {
    return this.session.call(op, args, options) as Promise<OpResults[O]>;
  }

  ping(options?: CallOptions): Promise<PingResult> {
    return this.call('ping', {}, options);
  }

  /**
   * Availability of `skus` at a location, as `{ skus: { [sku]: { available, etaMinutes,
   * dcs } } }`. On a version-2 node, calls of one turn with the same maxMinutes and breakdown
   * travel as one `availabilityMany` request.
   */
  availability(args: AvailabilityArgs, options?: CallOptions): Promise<AvailabilityResult> {
    return this.call('availability', args, options);
  }

  browse(args: BrowseArgs, options?: CallOptions): Promise<BrowseResult> {
    return this.call('browse', args, options);
  }

  /**
   * Places one order. On a version-2 node, placeOrder calls made in the same event-loop turn
   * with the same mode, policy, ttlSeconds and maxMinutes travel as one `placeOrders`
   * request; each call still resolves (or rejects) with its own order's answer. A call alone
   * in its turn goes as `placeOrder`.
   */
  placeOrder(args: PlaceOrderArgs, options?: CallOptions): Promise<OrderResult> {
    return this.call('placeOrder', args, options);
  }

  /**
   * Places a batch of orders, each as `placeOrder` would, and answers them all in one view:
   * `result(i)` is 'created', 'exists' (placed before with the same contents) or 'refused'
   * (`error(i)` says why; nothing was taken for it). Orders that differ in mode, policy,
   * ttlSeconds or maxMinutes, and batches over the node's `ordersPerBatchMax` or the window,
   * travel as several requests. Rejects only when a request as a whole fails (FORBIDDEN,
   * TIMEOUT, CONNECTION_LOST...): orders of its other requests may have been placed, and
   * sending the same batch again is safe (they answer 'exists').
   */
  placeOrders(
    orders: readonly PlaceOrderInput[],
    options?: CallOptions,
  ): Promise<OrderBatchResult> {
    return this.session.placeOrders(orders, options);
  }

  /**
   * Answers many availability queries in one view over the answer's columns: per query its
   * DCs and their ETAs, per SKU `available` (-1 unknown) and `etaMinutes`, and with the
   * breakdown (default) `perDc(query, sku, dc)`. Queries with different delivery windows, and
   * batches over the node's limits, travel as several requests.
   */
  availabilityMany(
    queries: readonly AvailabilityQuery[],
    options?: AvailabilityManyOptions,
  ): Promise<AvailabilityBatchResult> {
    return this.session.availabilityMany(queries, options);
  }

  checkBasket(args: CheckBasketArgs, options?: CallOptions): Promise<BasketCheckResult> {
    return this.call('checkBasket', args, options);
  }

  confirm(args: ConfirmArgs, options?: CallOptions): Promise<OrderResult> {
    return this.call('confirm', args, options);
  }

  cancel(args: OrderIdArgs, options?: CallOptions): Promise<OrderResult> {
    return this.call('cancel', args, options);
  }

  extend(args: ExtendArgs, options?: CallOptions): Promise<OrderResult> {
    return this.call('extend', args, options);
  }

  changeOrder(args: ChangeOrderArgs, options?: CallOptions): Promise<OrderResult> {
    return this.call('changeOrder', args, options);
  }

  fulfil(args: OrderIdArgs, options?: CallOptions): Promise<OrderResult> {
    return this.call('fulfil', args, options);
  }

  getOrder(args: OrderIdArgs, options?: CallOptions): Promise<OrderResult> {
    return this.call('getOrder', args, options);
  }

  receive(args: ReceiveArgs, options?: CallOptions): Promise<StockResult> {
    return this.call('receive', args, options);
  }

  adjust(args: AdjustArgs, options?: CallOptions): Promise<StockResult> {
    return this.call('adjust', args, options);
  }

  getStock(args: StockKeyArgs, options?: CallOptions): Promise<StockResult> {
    return this.call('getStock', args, options);
  }

  upsertDc(args: UpsertDcArgs, options?: CallOptions): Promise<DcUpsertResult> {
    return this.call('upsertDc', args, options);
  }

  upsertSku(args: UpsertSkuArgs, options?: CallOptions): Promise<SkuUpsertResult> {
    return this.call('upsertSku', args, options);
  }

  /**
   * Watches the availability of `skus` at a location (`lat`, `lng`, `maxMinutes?`) or summed
   * over a DC set (`dcs`). Yields a snapshot of every SKU first (and again after a reconnect),
   * then the SKUs whose level changed, coalesced by the node (at most one update per tick).
   * Errors of the `subscribe` call (FORBIDDEN, UNKNOWN_SKU...) surface from the first `next()`.
   */
  subscribeAvailability(
    args: Omit<AvailabilitySubscribeArgs, 'kind'>,
    options?: SubscriptionOptions,
  ): Subscription<AvailabilityUpdate> {
    const request = { ...args, kind: 'availability' } as AvailabilitySubscribeArgs;
    return new Subscription(this.session, request, AVAILABILITY_UPDATES, options);
  }

  /**
   * Low-stock alerts: `low` when a cell's available falls below its SKU's threshold, `ok` when
   * it is back at or above it, once per crossing; optionally only for some SKUs or DCs.
   */
  subscribeLowStock(
    args: Omit<LowStockSubscribeArgs, 'kind'> = {},
    options?: SubscriptionOptions,
  ): Subscription<LowStockUpdate> {
    const request = { ...args, kind: 'lowStock' } as LowStockSubscribeArgs;
    return new Subscription(this.session, request, LOW_STOCK_UPDATES, options);
  }

  /**
   * The node's order event stream (orderer role): every order's lifecycle, in log order, each
   * event with its log sequence (`seq`). It resumes on its own after a reconnect or a node
   * restart, from the event after the last one it queued; store the last `seq` you processed
   * and pass it plus one as `fromSequence` to resume across restarts of your own service.
   */
  subscribeOrders(options: OrderSubscriptionOptions = {}): Subscription<OrderEventsUpdate> {
    const from = options.fromSequence;
    if (from !== undefined && (!Number.isSafeInteger(from) || from < 1)) {
      throw new InventoryError('BAD_REQUEST', `fromSequence must be a positive integer: ${from}`);
    }
    const args: SubscribeArgs =
      from === undefined ? { kind: 'orders' } : { kind: 'orders', fromSequence: from };
    return new Subscription(this.session, args, ORDER_EVENT_UPDATES, options);
  }

  /**
   * Closes gracefully: calls already made are sent and their answers awaited (each bounded
   * by its timeout), then the socket closes. Later calls reject with CLOSED; subscriptions
   * finish (their loops end).
   */
  close(): Promise<void> {
    return this.session.close();
  }
}

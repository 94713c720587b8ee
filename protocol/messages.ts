/**
 * The wire messages of protocols v1 and v2: op names, each op's arguments and result, who may
 * call what, message kinds and WebSocket close codes. Version 2 adds the batch ops
 * (`placeOrders`, `availabilityMany`), whose arguments and answers are columns (columns.ts),
 * and answers `availability` in the same column form; everything else is the same in both.
 *
 * The data shapes mirror engine/types.ts. They are repeated here, not imported, because
 * protocol/ depends on nothing else in the repo (engine/ may import protocol/, not the
 * reverse); the edge compiles engine results into these types, so a drift fails to typecheck.
 * Optional result fields may arrive as nil (null) as well as absent: the encoder writes an
 * undefined property as nil, so result types say `| null` where that can happen.
 */

import type { ErrorBody } from './codes.js';
import { PROTOCOL_VERSIONS, REQUEST_ID_MAX } from './limits.js';

// Ops.

export const Ops = {
  hello: 'hello',
  ping: 'ping',
  availability: 'availability',
  browse: 'browse',
  placeOrder: 'placeOrder',
  checkBasket: 'checkBasket',
  confirm: 'confirm',
  cancel: 'cancel',
  extend: 'extend',
  changeOrder: 'changeOrder',
  fulfil: 'fulfil',
  getOrder: 'getOrder',
  receive: 'receive',
  adjust: 'adjust',
  getStock: 'getStock',
  upsertDc: 'upsertDc',
  upsertSku: 'upsertSku',
  subscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
  placeOrders: 'placeOrders',
  availabilityMany: 'availabilityMany',
} as const;

export type Op = keyof typeof Ops;

/** Ops that exist from protocol v2 on; a v1 connection gets UNKNOWN_OP for them. */
export const OP_SINCE_V2: ReadonlySet<Op> = new Set<Op>(['placeOrders', 'availabilityMany']);

export const OP_LIST = Object.keys(Ops) as Op[];

export function isOp(value: unknown): value is Op {
  return typeof value === 'string' && Object.hasOwn(Ops, value);
}

/**
 * The version a hello settles on: the newest this code speaks among those offered, or
 * undefined (answer PROTOCOL_VERSION and close with POLICY_VIOLATION).
 */
export function chooseVersion(offered: readonly number[]): number | undefined {
  for (const version of PROTOCOL_VERSIONS) {
    if (offered.includes(version)) return version;
  }
  return undefined;
}

/** A request id: an integer in [0, 2^32 - 1]. */
export function isRequestId(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= REQUEST_ID_MAX
  );
}

/** A MessagePack map or JSON object as decoded: an object that is not an array or binary. */
export function isPlainMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !ArrayBuffer.isView(value)
  );
}

// Roles.

export const Roles = { reader: 'reader', orderer: 'orderer', admin: 'admin' } as const;
export type Role = keyof typeof Roles;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && Object.hasOwn(Roles, value);
}

const READER: readonly Role[] = ['reader', 'orderer', 'admin'];
const ORDERER: readonly Role[] = ['orderer', 'admin'];
const ADMIN: readonly Role[] = ['admin'];

/**
 * Which roles may call each op; any other role gets FORBIDDEN. `subscribe` is open to readers
 * at the op level; each subscription kind then has its own roles (SUBSCRIPTION_ROLES).
 */
export const OP_ROLES: Readonly<Record<Op, readonly Role[]>> = {
  hello: READER,
  ping: READER,
  availability: READER,
  browse: READER,
  getStock: READER,
  getOrder: READER,
  placeOrder: ORDERER,
  checkBasket: ORDERER,
  confirm: ORDERER,
  cancel: ORDERER,
  extend: ORDERER,
  changeOrder: ORDERER,
  fulfil: ORDERER,
  receive: ADMIN,
  adjust: ADMIN,
  upsertDc: ADMIN,
  upsertSku: ADMIN,
  subscribe: READER,
  unsubscribe: READER,
  placeOrders: ORDERER,
  availabilityMany: READER,
};

export function roleAllows(role: Role, op: Op): boolean {
  return OP_ROLES[op].includes(role);
}

/**
 * Ops that change state: the node answers them only after their log record is durable.
 * `checkBasket` is a dry run and changes nothing.
 */
export const OP_MUTATES: Readonly<Record<Op, boolean>> = {
  hello: false,
  ping: false,
  availability: false,
  browse: false,
  getStock: false,
  getOrder: false,
  checkBasket: false,
  placeOrder: true,
  confirm: true,
  cancel: true,
  extend: true,
  changeOrder: true,
  fulfil: true,
  receive: true,
  adjust: true,
  upsertDc: true,
  upsertSku: true,
  subscribe: false,
  unsubscribe: false,
  placeOrders: true,
  availabilityMany: false,
};

/**
 * Ops a client may send again, unchanged, after a connection was lost with the request sent
 * but unanswered. Reads are harmless; order ops carry the order id, the idempotency key, so a
 * repeat returns the first answer. Receive and adjust have no key (a repeated receive adds
 * the units twice) and upserts may race a later change, so those are never resent blindly.
 */
export const OP_RESEND_SAFE: Readonly<Record<Op, boolean>> = {
  hello: true,
  ping: true,
  availability: true,
  browse: true,
  getStock: true,
  getOrder: true,
  checkBasket: true,
  placeOrder: true,
  confirm: true,
  cancel: true,
  extend: true,
  changeOrder: true,
  fulfil: true,
  receive: false,
  adjust: false,
  upsertDc: false,
  upsertSku: false,
  // A subscription belongs to its connection: one sent on a lost connection died with it, and
  // sending it again on the new one is exactly what the subscriber wants. An unsubscribe names
  // an id of the old connection, which may mean another subscription on the new one.
  subscribe: true,
  unsubscribe: false,
  placeOrders: true,
  availabilityMany: true,
};

// Subscriptions.

export const SubscriptionKinds = {
  /** Availability of a SKU list at a location or over a DC set, pushed as it changes. */
  availability: 'availability',
  /** Alerts when a cell's available falls below its SKU's threshold, and when it recovers. */
  lowStock: 'lowStock',
  /** Every order's lifecycle events, for downstream services. */
  orders: 'orders',
} as const;

export type SubscriptionKind = keyof typeof SubscriptionKinds;

export function isSubscriptionKind(value: unknown): value is SubscriptionKind {
  return typeof value === 'string' && Object.hasOwn(SubscriptionKinds, value);
}

/**
 * Which roles may open each kind of subscription. Stock levels are what a reader already sees
 * through `getStock` and `availability`, so availability and low-stock subscriptions are open
 * to readers; the order stream lists every customer's orders, which a reader cannot enumerate,
 * so it needs the orderer role (the services that act on orders hold orderer keys).
 */
export const SUBSCRIPTION_ROLES: Readonly<Record<SubscriptionKind, readonly Role[]>> = {
  availability: READER,
  lowStock: READER,
  orders: ORDERER,
};

// Message kinds and close codes.

/** The second element of every server → client message `[id, kind, body]`. */
export const MessageKinds = {
  /** An answer: body is the op's result. */
  OK: 0,
  /** An error answer: body is `{ code, message, ...details }`. */
  ERROR: 1,
  /** A push on a subscription: id is the subscription id. */
  PUSH: 2,
  /** A notice about the connection (id 0), e.g. SHUTTING_DOWN before the node closes. */
  NOTICE: 3,
} as const;

export type MessageKind = (typeof MessageKinds)[keyof typeof MessageKinds];

/** WebSocket close codes the node uses (RFC 6455 §7.4.1). */
export const CloseCodes = {
  NORMAL: 1000,
  /** The node is shutting down. */
  GOING_AWAY: 1001,
  /** A text frame: the protocol is binary only. */
  UNSUPPORTED_DATA: 1003,
  /** A frame that is not MessagePack or not an array of `[id, op, args]`. */
  INVALID_PAYLOAD: 1007,
  /** A rule was broken: an unsupported protocol version, a client that stopped reading. */
  POLICY_VIOLATION: 1008,
  /** A frame over FRAME_BYTES_MAX or over REQUESTS_PER_FRAME_MAX requests. */
  MESSAGE_TOO_BIG: 1009,
  /** The node failed; reconnect. */
  INTERNAL_ERROR: 1011,
} as const;

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

// Shared shapes (mirroring engine/types.ts).

export interface Location {
  lat: number;
  lng: number;
}

/** A GeoJSON polygon ring list: [ring][point][lng, lat]. */
export type PolygonCoordinates = number[][][];

export interface PolygonArea {
  type: 'Polygon';
  coordinates: PolygonCoordinates;
}

export type OrderMode = 'hold' | 'commit';
export type AllocationPolicy = 'single-dc' | 'split';
export type OrderStatus = 'held' | 'confirmed' | 'cancelled' | 'expired' | 'fulfilled';

export interface OrderLine {
  sku: string;
  qty: number;
}

export interface AllocationLine {
  sku: string;
  dc: string;
  qty: number;
}

export interface OrderView {
  orderId: string;
  status: OrderStatus;
  mode: OrderMode;
  policy: AllocationPolicy;
  location: Location;
  allocation: AllocationLine[];
  etaMinutes: number;
  /** Milliseconds since the epoch; only for holds. */
  expiresAt?: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface DcAvailability {
  dc: string;
  available: number;
  etaMinutes: number;
}

export interface SkuAvailability {
  /**
   * Units free across the DCs that deliver to the location within the window; 0 when none
   * has any, when no DC delivers there (see `AvailabilityResult.dcsInRange`), and for a SKU
   * the node does not know (`unknown`).
   */
  available: number;
  /** Best ETA among DCs that have the SKU; null when none has it. */
  etaMinutes: number | null;
  /** Per DC in range that has units (empty without the breakdown). */
  dcs: DcAvailability[];
  /** Present, and true, only for a SKU the node does not know (its `available` is then 0). */
  unknown?: true;
}

export interface BrowseItem {
  sku: string;
  name: string;
  category: string | null;
  available: number;
  etaMinutes: number;
}

export interface StockView {
  dc: string;
  sku: string;
  onHand: number;
  available: number;
  reserved: number;
  shortfall: number;
}

export interface DcView {
  /** The node's internal slot for this DC; informational. */
  index: number;
  id: string;
  name: string;
  location: Location;
  radiusKm: number | null;
  area: PolygonArea | null;
  speedKmh: number;
  prepMinutes: number;
  active: boolean;
}

export interface SkuView {
  /** The node's internal slot for this SKU; informational. */
  index: number;
  id: string;
  name: string;
  category: string | null;
  lowStockThreshold: number;
  maxPerOrder: number;
}

// Arguments, one type per op.

export interface HelloArgs {
  versions: number[];
}

export type PingArgs = Record<string, never>;

export interface AvailabilityArgs {
  lat: number;
  lng: number;
  skus: string[];
  maxMinutes?: number;
  /** false: leave each SKU's `dcs` empty (totals and best ETA only). Default true. */
  breakdown?: boolean;
}

export interface BrowseArgs {
  lat: number;
  lng: number;
  category?: string;
  cursor?: string;
  limit?: number;
  maxMinutes?: number;
}

export interface PlaceOrderArgs {
  orderId: string;
  location: Location;
  lines: OrderLine[];
  mode: OrderMode;
  ttlSeconds?: number;
  policy?: AllocationPolicy;
  maxMinutes?: number;
}

export type CheckBasketArgs = PlaceOrderArgs;

export interface ConfirmArgs {
  orderId: string;
  /** Quantities to confirm per SKU; absent confirms everything held. */
  lines?: OrderLine[];
}

export interface OrderIdArgs {
  orderId: string;
}

export interface ExtendArgs {
  orderId: string;
  ttlSeconds: number;
}

export interface ChangeOrderArgs {
  orderId: string;
  lines: OrderLine[];
}

export interface ReceiveArgs {
  dc: string;
  sku: string;
  qty: number;
  reason?: string;
}

export interface AdjustArgs {
  dc: string;
  sku: string;
  onHand: number;
  reason?: string;
}

export interface StockKeyArgs {
  dc: string;
  sku: string;
}

/**
 * A DC as `upsertDc` takes it. It needs a delivery area, `radiusKm` or `area` (with both,
 * `area` is used); a field left out takes its default (PROTOCOL.md), not its previous value.
 */
export interface UpsertDcArgs {
  id: string;
  name: string;
  location: Location;
  /** RADIUS_KM_MIN..RADIUS_KM_MAX km around `location`. */
  radiusKm?: number;
  area?: PolygonArea;
  /** Courier speed, SPEED_KMH_MIN..SPEED_KMH_MAX km/h; SPEED_KMH_DEFAULT when left out. */
  speedKmh?: number;
  /** Minutes before the courier leaves, 0..PREP_MINUTES_MAX; PREP_MINUTES_DEFAULT when left out. */
  prepMinutes?: number;
  /** True when left out. */
  active?: boolean;
}

export interface UpsertSkuArgs {
  id: string;
  name: string;
  category?: string;
  lowStockThreshold?: number;
  maxPerOrder?: number;
}

export interface AvailabilitySubscribeArgs {
  kind: 'availability';
  /** A location (with `lng`), or else `dcs`: exactly one of the two. */
  lat?: number;
  lng?: number;
  /** DC ids whose stock is summed; ETAs are then null, as there is no location. */
  dcs?: string[];
  skus: string[];
  maxMinutes?: number;
}

export interface LowStockSubscribeArgs {
  kind: 'lowStock';
  /** Only these SKUs; absent means every SKU with a threshold. */
  skus?: string[];
  /** Only these DCs; absent means every DC. */
  dcs?: string[];
}

export interface OrdersSubscribeArgs {
  kind: 'orders';
  /**
   * Replay from this log sequence number (an event's `seq`; to resume, the last one received
   * plus one), then continue live. Absent: live from now. Older than the node's retention
   * window: EVENTS_TRIMMED, with the oldest sequence still held as `oldest`.
   */
  fromSequence?: number;
}

export type SubscribeArgs = AvailabilitySubscribeArgs | LowStockSubscribeArgs | OrdersSubscribeArgs;

export interface UnsubscribeArgs {
  sub: number;
}

/**
 * A batch of orders as columns (protocol v2). N orders: `orderIds`, `lat`, `lng` and
 * `lineCounts` have N entries; their lines are `skus` / `qty`, order after order. `mode`,
 * `policy`, `ttlSeconds` and `maxMinutes` apply to every order of the batch.
 */
/**
 * How a batch request names its SKUs: by id (`skus`), or by ref into the connection's SKU
 * table (`skuRefs`, with the definitions `defineRefs` / `defineSkus`).
 */
export interface NamedSkus {
  /** The SKUs by id; or, instead, `skuRefs`. */
  skus?: unknown[];
  /** The SKUs as refs into the connection's SKU table (WebSocket only). */
  skuRefs?: Int32Array;
  /** Table entries to set before `skuRefs` is read: `defineSkus[i]` at ref `defineRefs[i]`. */
  defineRefs?: Int32Array;
  defineSkus?: string[];
  /**
   * Not on the wire: the engine's SKU indexes for `skuRefs` (-1: unknown), which the WebSocket
   * server resolves through the connection's table before the request runs (it also sets
   * `skus` to the ids, for answers that name a SKU).
   */
  skuIndexes?: Int32Array;
}

export interface PlaceOrdersArgs extends NamedSkus {
  orders: number;
  orderIds: unknown[];
  lat: Float64Array;
  lng: Float64Array;
  lineCounts: Int32Array;
  qty: Int32Array;
  mode: OrderMode;
  policy?: AllocationPolicy;
  ttlSeconds?: number;
  maxMinutes?: number;
}

/** A batch of availability queries as columns (protocol v2). */
export interface AvailabilityManyArgs extends NamedSkus {
  queries: number;
  lat: Float64Array;
  lng: Float64Array;
  skuCounts: Int32Array;
  maxMinutes?: number;
  breakdown?: boolean;
}

export interface OpArgs {
  hello: HelloArgs;
  ping: PingArgs;
  availability: AvailabilityArgs;
  browse: BrowseArgs;
  placeOrder: PlaceOrderArgs;
  checkBasket: CheckBasketArgs;
  confirm: ConfirmArgs;
  cancel: OrderIdArgs;
  extend: ExtendArgs;
  changeOrder: ChangeOrderArgs;
  fulfil: OrderIdArgs;
  getOrder: OrderIdArgs;
  receive: ReceiveArgs;
  adjust: AdjustArgs;
  getStock: StockKeyArgs;
  upsertDc: UpsertDcArgs;
  upsertSku: UpsertSkuArgs;
  subscribe: SubscribeArgs;
  unsubscribe: UnsubscribeArgs;
  placeOrders: PlaceOrdersArgs;
  availabilityMany: AvailabilityManyArgs;
}

// Results, one type per op.

export interface WireLimits {
  frameBytesMax: number;
  requestsPerFrameMax: number;
  inFlightMax: number;
  linesPerOrderMax: number;
  skusPerRequestMax: number;
  subscriptionsMax: number;
  /** Protocol v2: orders in one placeOrders. */
  ordersPerBatchMax: number;
  /** Protocol v2: queries in one availabilityMany, and SKUs over all of them. */
  queriesPerBatchMax: number;
  skusPerBatchMax: number;
  /**
   * Protocol v2: entries of the connection's SKU table (`availabilityMany`'s `skuRefs`); absent
   * from nodes that have no such table.
   */
  skuRefsMax?: number;
}

export interface HelloResult {
  version: number;
  /** The node's name, for logs. */
  node: string;
  role: Role;
  limits: WireLimits;
}

export interface PingResult {
  /** The node's clock, milliseconds since the epoch. */
  now: number;
}

export interface AvailabilityResult {
  skus: Record<string, SkuAvailability>;
  /**
   * Active DCs that deliver to the location within the window, with stock or not. 0 means no
   * DC delivers here; more than 0 with a SKU's `available` 0 means sold out nearby (or not
   * carried). Absent from nodes older than this field, which cannot tell the two apart.
   */
  dcsInRange?: number;
}

/** Per-order results of placeOrders (protocol v2). */
export const BatchResults = {
  /** The order was placed by this request. */
  CREATED: 0,
  /** The order id was placed before with the same contents: the order as it is now. */
  EXISTS: 1,
  /** Refused; `errors` says why. Nothing changed for this order. */
  REFUSED: 2,
} as const;

/** Order states in columns (protocol v2), in this order. */
export const WIRE_STATUSES: readonly OrderStatus[] = [
  'held',
  'confirmed',
  'cancelled',
  'expired',
  'fulfilled',
];

/**
 * The answer to placeOrders (protocol v2): columns of N entries (`results`, `status`,
 * `etaTenths`, `expiresAt`, `createdAt`, `updatedAt`, `allocations`) and of A allocation
 * entries (`allocLine`, `allocDc`, `allocQty`), `dcs` the DC ids the entries index, and
 * `errors` the refused orders as [index, error body] pairs.
 */
export interface PlaceOrdersResult {
  results: Uint8Array;
  errors: [index: number, error: ErrorBody][];
  status: Uint8Array;
  etaTenths: Uint8Array;
  expiresAt: Uint8Array;
  createdAt: Uint8Array;
  updatedAt: Uint8Array;
  allocations: Uint8Array;
  allocLine: Uint8Array;
  allocDc: Uint8Array;
  allocQty: Uint8Array;
  dcs: string[];
}

/**
 * Availability as columns (protocol v2; the answer to availabilityMany, and to availability on
 * a v2 connection with one query): per query its DCs (`dcCounts`, then `dcIndex` into `dcs`
 * and `dcEtaTenths`), per SKU asked `available` (-1: unknown SKU) and `etaTenths` (-1: none
 * in stock in range), and with the breakdown `perDc`, the units at each DC of the query, a
 * row of D values per SKU. `errors` lists refused queries (availabilityMany only).
 */
export interface AvailabilityColumns {
  dcCounts: Uint8Array;
  dcs: string[];
  dcIndex: Uint8Array;
  dcEtaTenths: Uint8Array;
  available: Uint8Array;
  etaTenths: Uint8Array;
  perDc?: Uint8Array | null;
  errors?: [index: number, error: ErrorBody][];
}

export interface BrowseResult {
  items: BrowseItem[];
  nextCursor: string | null;
}

export interface OrderResult {
  /** False when the order id was seen before and this is the first answer again. */
  created: boolean;
  order: OrderView;
}

export interface BasketCheckResult {
  allocation: AllocationLine[];
  etaMinutes: number;
}

export interface StockResult {
  stock: StockView;
}

export interface DcUpsertResult {
  created: boolean;
  dc: DcView;
}

export interface SkuUpsertResult {
  created: boolean;
  sku: SkuView;
}

/** A SKU's level in an availability subscription: no per-DC breakdown, only what changed. */
export interface SkuLevel {
  available: number;
  /** Best ETA among DCs that have the SKU; null when none has it or when watching a DC set. */
  etaMinutes: number | null;
}

export type LowStockState = 'low' | 'ok';

export interface LowStockAlert {
  dc: string;
  sku: string;
  /** `low`: available fell below the threshold; `ok`: it rose back to the threshold or above. */
  state: LowStockState;
  available: number;
  threshold: number;
  /** When the node saw the crossing, ms since the epoch. */
  at: number;
}

export type OrderEventType =
  | 'placed'
  | 'confirmed'
  | 'cancelled'
  | 'expired'
  | 'fulfilled'
  | 'changed'
  | 'extended';

export interface OrderEventView {
  /**
   * The log sequence number of the change: increasing along the stream, across restarts of
   * the node, but not consecutive (other changes take the numbers between).
   */
  seq: number;
  type: OrderEventType;
  orderId: string;
  status: OrderStatus;
  at: number;
}

export interface AvailabilitySnapshot {
  skus: Record<string, SkuLevel>;
}

export interface LowStockSnapshot {
  /** Cells low now (state `low`), up to the node's snapshot limit. */
  alerts: LowStockAlert[];
  /** True when the node stopped listing at its limit. */
  truncated: boolean;
}

export interface OrdersSnapshot {
  /** The stream starts here: every event it delivers has a `seq` at or above it. */
  seq: number;
}

export type SubscribeResult =
  | { sub: number; kind: 'availability'; snapshot: AvailabilitySnapshot }
  | { sub: number; kind: 'lowStock'; snapshot: LowStockSnapshot }
  | { sub: number; kind: 'orders'; snapshot: OrdersSnapshot };

export interface UnsubscribeResult {
  /** False when the connection held no such subscription. */
  removed: boolean;
}

// Push bodies (kind 2; the message id is the subscription id, repeated as `sub`).

/** The SKUs whose level changed since the last push, with their new level. */
export interface AvailabilityPush {
  sub: number;
  skus: Record<string, SkuLevel>;
}

export interface LowStockPush {
  sub: number;
  alerts: LowStockAlert[];
}

export interface OrdersPush {
  sub: number;
  /** In log order; the events of one order are in the order they happened. */
  events: OrderEventView[];
  /** Always 0: a subscriber that falls behind is replayed from the log, never skipped. */
  missed: number;
}

export interface OpResults {
  hello: HelloResult;
  ping: PingResult;
  availability: AvailabilityResult;
  browse: BrowseResult;
  placeOrder: OrderResult;
  checkBasket: BasketCheckResult;
  confirm: OrderResult;
  cancel: OrderResult;
  extend: OrderResult;
  changeOrder: OrderResult;
  fulfil: OrderResult;
  getOrder: OrderResult;
  receive: StockResult;
  adjust: StockResult;
  getStock: StockResult;
  upsertDc: DcUpsertResult;
  upsertSku: SkuUpsertResult;
  subscribe: SubscribeResult;
  unsubscribe: UnsubscribeResult;
  placeOrders: PlaceOrdersResult;
  availabilityMany: AvailabilityColumns;
}

// Envelopes.

/** One client → server request: `[id, op, args]`. */
export type WireRequest = [id: number, op: string, args: Record<string, unknown>];

/** One server → client message: `[id, kind, body]`. */
export type WireMessage = [id: number, kind: MessageKind, body: unknown];

/** A kind-3 notice body. */
export interface NoticeBody {
  code: string;
  message?: string;
  [detail: string]: unknown;
}

export type { ErrorBody };

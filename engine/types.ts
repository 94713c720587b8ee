/**
 * The engine's public data shapes: inputs, results and the records it appends to the
 * operation log. Results are discriminated unions; an expected refusal is a result with a
 * code, never an exception (see protocol/codes.ts for every code).
 */

import type {
  AllocationLine,
  AllocationPolicy,
  DcAvailability,
  ErrorBody,
  Location,
  OrderEventType,
  OrderMode,
  OrderStatus,
  OrderView,
  PolygonCoordinates,
  SkuAvailability,
  StockView,
} from '../protocol/index.js';

// The value shapes the engine answers with are the wire's: one definition, in protocol/.
export type {
  AllocationLine,
  AllocationPolicy,
  DcAvailability,
  Location,
  OrderEventType,
  OrderMode,
  OrderStatus,
  OrderView,
  PolygonCoordinates,
  SkuAvailability,
  StockView,
};

export interface DcInput {
  id: string;
  name: string;
  location: Location;
  /** Delivery area as a radius around the DC, in km. Used when `area` is absent. */
  radiusKm?: number;
  /** Delivery area as a GeoJSON Polygon (an isochrone, say). */
  area?: { type: 'Polygon'; coordinates: PolygonCoordinates };
  /** Courier speed in km/h; ETA = prepMinutes + distance / speed. */
  speedKmh?: number;
  prepMinutes?: number;
  active?: boolean;
}

export interface SkuInput {
  id: string;
  name: string;
  category?: string;
  lowStockThreshold?: number;
  /** Most units of this SKU one order may take (flash-sale protection); 0 means no limit. */
  maxPerOrder?: number;
}

/** A DC as the catalogue holds it, with every default resolved. */
export interface DcRecord {
  index: number;
  id: string;
  name: string;
  location: Location;
  radiusKm: number | null;
  area: { type: 'Polygon'; coordinates: PolygonCoordinates } | null;
  speedKmh: number;
  prepMinutes: number;
  active: boolean;
}

export interface SkuRecord {
  index: number;
  id: string;
  name: string;
  category: string | null;
  lowStockThreshold: number;
  maxPerOrder: number;
}

export interface OrderLineInput {
  sku: string;
  qty: number;
}

export interface PlaceOrderInput {
  orderId: string;
  location: Location;
  lines: OrderLineInput[];
  mode: OrderMode;
  /** Hold lifetime; the engine's default applies when absent. Ignored for `commit`. */
  ttlSeconds?: number;
  policy?: AllocationPolicy;
  /** Delivery window; the engine's default (60) applies when absent. */
  maxMinutes?: number;
}

/**
 * One order as a batch on the wire carries it: its lines are slices of columns shared by the
 * batch (`skus[lineStart ..]`, `qty[lineStart ..]`), so decoding makes no object per line.
 * Values are untrusted; the engine checks them as it checks a `PlaceOrderInput`.
 */
export interface OrderRequest {
  orderId: string;
  lat: number;
  lng: number;
  mode: OrderMode;
  policy: AllocationPolicy | undefined;
  ttlSeconds: number | undefined;
  maxMinutes: number | undefined;
  skus: readonly unknown[];
  /**
   * The catalogue's indexes of `skus` when the caller resolved them already (a request by SKU
   * ref); -1 for an id the catalogue lacks. Null or absent: look each id up.
   */
  skuIndexes?: Int32Array | null;
  qty: ArrayLike<unknown>;
  lineStart: number;
  lineCount: number;
}

export type Failure = { ok: false; error: ErrorBody };

export type OrderResult =
  | {
      ok: true;
      /** False when the order id was seen before and this is the first answer again. */
      created: boolean;
      order: OrderView;
    }
  | Failure;

/** A dry run: what placing the order would allocate, taking nothing. */
export type BasketCheckResult =
  | { ok: true; allocation: AllocationLine[]; etaMinutes: number }
  | Failure;

export type AvailabilityResult =
  | {
      ok: true;
      skus: Record<string, SkuAvailability>;
      /** Active DCs delivering to the location within the window, with stock or not. */
      dcsInRange: number;
    }
  | Failure;

export interface BrowseInput {
  location: Location;
  category?: string;
  cursor?: string;
  limit?: number;
  maxMinutes?: number;
}

export type BrowseResult =
  | {
      ok: true;
      items: {
        sku: string;
        name: string;
        category: string | null;
        available: number;
        etaMinutes: number;
      }[];
      nextCursor: string | null;
    }
  | Failure;

export type StockResult = { ok: true; stock: StockView } | Failure;

/** Who changed something and why: every mutation carries it into the log. */
export interface Attribution {
  actor: string;
  reason?: string;
}

export interface OrderEvent {
  type: OrderEventType;
  orderId: string;
  status: OrderStatus;
  at: number;
}

/**
 * Told of every live change this thread makes (never of replay), after the change: which
 * counters moved and which orders changed. The edge turns these into subscription pushes and
 * alerts. Calls are synchronous and on the hot path: an observer records and returns.
 */
export interface EngineObserver {
  /** Available or on-hand changed at (dc, sku) (dense indexes). */
  stockChanged(dc: number, sku: number): void;
  orderEvent(event: OrderEvent): void;
}

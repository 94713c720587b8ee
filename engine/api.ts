/**
 * The engine's operations, as the edge and the log's recovery see them. One `Engine` instance
 * lives in each thread; all of them attach to the same shared memory (stock counters and the
 * order table), so an order placed on one thread can be confirmed on another.
 *
 * Every method runs to completion synchronously (a reservation never spans an await). After a
 * mutating call, `lastTicket` is the log ticket the caller waits on before acknowledging.
 */

import type { LogRecord } from './log.js';
import type {
  Attribution,
  AvailabilityResult,
  BasketCheckResult,
  BrowseInput,
  BrowseResult,
  DcInput,
  DcRecord,
  Failure,
  Location,
  OrderLineInput,
  OrderResult,
  PlaceOrderInput,
  SkuInput,
  SkuRecord,
  StockResult,
} from './types.js';

export type DcUpsertResult = { ok: true; created: boolean; dc: DcRecord } | Failure;
export type SkuUpsertResult = { ok: true; created: boolean; sku: SkuRecord } | Failure;

export interface EngineApi {
  /** Ticket of the last record this thread appended (0 when the call appended nothing). */
  readonly lastTicket: number;

  // Catalogue. Index assignment is single-owner: in a multi-threaded node only the owner
  // thread calls upsert*, and the others apply the resulting record with applyCatalogue.
  upsertDc(input: DcInput, by: Attribution): DcUpsertResult;
  upsertSku(input: SkuInput, by: Attribution): SkuUpsertResult;
  applyCatalogue(record: Extract<LogRecord, { type: 'dc' | 'sku' }>): void;
  getDc(id: string): DcRecord | undefined;
  getSku(id: string): SkuRecord | undefined;
  /** The SKU's index (stable: SKUs are never removed), or -1 for an id the catalogue lacks. */
  skuIndexOf(id: string): number;

  // Stock.
  receive(dc: string, sku: string, qty: number, by: Attribution): StockResult;
  adjust(dc: string, sku: string, onHand: number, by: Attribution): StockResult;
  getStock(dc: string, sku: string): StockResult;

  // Availability.
  /** Per SKU: total free units in range, best ETA and (unless `breakdown` is false) per DC. */
  availability(
    location: Location,
    skus: readonly string[],
    maxMinutes?: number,
    breakdown?: boolean,
  ): AvailabilityResult;
  browse(input: BrowseInput): BrowseResult;

  // Orders.
  placeOrder(input: PlaceOrderInput): OrderResult;
  checkBasket(input: PlaceOrderInput): BasketCheckResult;
  /** Confirms a hold; with `lines`, confirms those quantities and releases the rest. */
  confirm(orderId: string, lines?: readonly OrderLineInput[]): OrderResult;
  cancel(orderId: string): OrderResult;
  extend(orderId: string, ttlSeconds: number): OrderResult;
  /** Replaces a held basket's lines; the order's own hold counts towards the new quantities. */
  changeOrder(orderId: string, lines: readonly OrderLineInput[]): OrderResult;
  fulfil(orderId: string): OrderResult;
  getOrder(orderId: string): OrderResult;
  /** Expires holds whose deadline has passed; returns how many expired. */
  expireDue(): number;

  // Recovery: apply a logged record without re-deciding it.
  applyRecord(record: LogRecord): void;
}

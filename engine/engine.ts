/**
 * The engine of one thread: the public operations of EngineApi over shared stock counters and
 * the shared order table, with this thread's catalogue and geo index.
 *
 * `Engine.create` allocates all shared memory once, from the configuration's capacities;
 * `Engine.attach` gives another thread its own engine over the same memory. Nothing here is
 * asynchronous: each call runs to completion, so a reservation never spans an await.
 *
 * The catalogue and stock operations are here; orders (orders/), availability and browse
 * (availability.ts), snapshots (snapshot.ts) and the invariants (invariants.ts) are in their
 * own files, and the Engine delegates to them.
 */

import type { EngineApi } from './api.js';
import { assert } from './assert.js';
import { type AvailabilityAnswers, OrderAnswers } from './answers.js';
import { AvailabilityReader } from './availability.js';
import { Catalogue } from './catalogue.js';
import { type EngineConfig, resolveConfig } from './config.js';
import { ATTRIBUTION_LENGTH_MAX } from './constants.js';
import type { Clock, EngineContext } from './context.js';
import { fail } from './failure.js';
import { type DcHits, DeliveryAreaIndex } from './geo/index.js';
import { checkInvariants } from './invariants.js';
import { type LogRecord, NO_LOG, type OperationLog } from './log.js';
import { allocateShared, type EngineShared } from './memory.js';
import { OrderBook, orderResultOf } from './orders/index.js';
import { OrderTable } from './reservation/order-table.js';
import {
  type EngineState,
  exportState,
  exportStockOfDc,
  importState,
  importStockOfDc,
} from './snapshot.js';
import { CONTENDED as CAS_CONTENDED, RESERVED, StockTable } from './stock/stock-table.js';
import type {
  Attribution,
  AvailabilityResult,
  BasketCheckResult,
  BrowseInput,
  BrowseResult,
  DcInput,
  DcRecord,
  EngineObserver,
  Failure,
  Location,
  OrderLineInput,
  OrderRequest,
  OrderResult,
  PlaceOrderInput,
  SkuInput,
  SkuRecord,
  StockResult,
} from './types.js';
import { isCount, isId, isQuantity } from './validate.js';

export type { EngineState, OrderSnapshot } from './snapshot.js';

export interface EngineOptions {
  clock?: Clock;
  log?: OperationLog;
  observer?: EngineObserver;
}

export class Engine implements EngineApi {
  readonly config: EngineConfig;
  private readonly memory: EngineShared;
  private readonly context: EngineContext;
  private readonly book: OrderBook;
  private readonly reader: AvailabilityReader;

  static create(config: Partial<EngineConfig> = {}, options: EngineOptions = {}): Engine {
    return new Engine(allocateShared(resolveConfig(config)), options);
  }

  static attach(shared: EngineShared, options: EngineOptions = {}): Engine {
    return new Engine(shared, options);
  }

  private constructor(shared: EngineShared, options: EngineOptions) {
    const config = resolveConfig(shared.config);
    this.config = config;
    this.memory = shared;
    this.context = {
      config,
      clock: options.clock ?? Date.now,
      log: options.log ?? NO_LOG,
      stock: new StockTable(config, shared.stock),
      orders: new OrderTable(config, shared.orders),
      catalogue: new Catalogue(config.dcCapacity, config.skuCapacity),
      geo: new DeliveryAreaIndex({ dcCapacity: config.dcCapacity, cacheSize: config.geoCacheSize }),
      lastTicket: 0,
      observer: options.observer ?? null,
      answers: new OrderAnswers(1, config.allocationsPerOrderMax),
    };
    this.book = new OrderBook(this.context);
    this.reader = new AvailabilityReader(this.context);
  }

  get lastTicket(): number {
    return this.context.lastTicket;
  }

  /** The shared memory, structured-cloneable: post it to a worker and `attach` there. */
  shared(): EngineShared {
    return this.memory;
  }

  setLog(log: OperationLog): void {
    this.context.log = log;
  }

  setObserver(observer: EngineObserver | null): void {
    this.context.observer = observer;
  }

  // ---------------------------------------------------------------- catalogue

  upsertDc(input: DcInput, by: Attribution): ReturnType<EngineApi['upsertDc']> {
    this.context.lastTicket = 0;
    const prepared = this.context.catalogue.prepareDc(input);
    if (!prepared.ok) return fail(prepared.code, prepared.message);
    const invalid = this.checkWrite(by);
    if (invalid !== null) return invalid;
    const record: LogRecord = {
      type: 'dc',
      at: this.context.clock(),
      actor: by.actor,
      dc: prepared.record,
    };
    this.context.lastTicket = this.context.log.append(record);
    this.applyCatalogue(record);
    return { ok: true, created: prepared.created, dc: prepared.record };
  }

  upsertSku(input: SkuInput, by: Attribution): ReturnType<EngineApi['upsertSku']> {
    this.context.lastTicket = 0;
    const prepared = this.context.catalogue.prepareSku(input);
    if (!prepared.ok) return fail(prepared.code, prepared.message);
    const invalid = this.checkWrite(by);
    if (invalid !== null) return invalid;
    const record: LogRecord = {
      type: 'sku',
      at: this.context.clock(),
      actor: by.actor,
      sku: prepared.record,
    };
    this.context.lastTicket = this.context.log.append(record);
    this.applyCatalogue(record);
    return { ok: true, created: prepared.created, sku: prepared.record };
  }

  applyCatalogue(record: Extract<LogRecord, { type: 'dc' | 'sku' }>): void {
    if (record.type === 'dc') {
      this.context.catalogue.applyDc(record.dc);
      const refusal = this.context.geo.upsert(record.dc);
      // Records were validated before they were logged; a refusal here is a bug or corruption.
      if (refusal !== null)
        throw new Error(`catalogue: DC ${record.dc.id} refused by geo: ${refusal}`);
    } else {
      this.context.catalogue.applySku(record.sku);
    }
  }

  /** The catalogue as records, in index order, to bring a new thread's copy up to date. */
  catalogueRecords(): Extract<LogRecord, { type: 'dc' | 'sku' }>[] {
    const { catalogue } = this.context;
    const records: Extract<LogRecord, { type: 'dc' | 'sku' }>[] = [];
    for (const dc of catalogue.dcs) records.push({ type: 'dc', at: 0, actor: 'sync', dc });
    for (const sku of catalogue.skus) records.push({ type: 'sku', at: 0, actor: 'sync', sku });
    return records;
  }

  getDc(id: string): DcRecord | undefined {
    const index = this.context.catalogue.dcIndexes.get(id);
    return index === undefined ? undefined : this.context.catalogue.dcs[index];
  }

  /** The SKU's index (stable: SKUs are never removed), or -1 for an id the catalogue lacks. */
  skuIndexOf(id: string): number {
    return this.context.catalogue.skuIndexes.get(id) ?? -1;
  }

  getSku(id: string): SkuRecord | undefined {
    const index = this.context.catalogue.skuIndexes.get(id);
    return index === undefined ? undefined : this.context.catalogue.skus[index];
  }

  get dcCount(): number {
    return this.context.catalogue.dcs.length;
  }

  get skuCount(): number {
    return this.context.catalogue.skus.length;
  }

  // ---------------------------------------------------------------- stock

  receive(dc: string, sku: string, qty: number, by: Attribution): StockResult {
    this.context.lastTicket = 0;
    const cell = this.resolveCell(dc, sku);
    if (typeof cell === 'object') return cell;
    if (!isQuantity(qty)) return fail('BAD_QUANTITY', 'qty must be an integer in [1, 2^31-1]');
    const invalid = this.checkWrite(by);
    if (invalid !== null) return invalid;
    const { stock } = this.context;
    const dcIndex = Math.floor(cell / this.config.skuCapacity);
    const skuIndex = cell % this.config.skuCapacity;
    const added = stock.tryAddOnHand(dcIndex, skuIndex, qty);
    if (added === CAS_CONTENDED) return fail('CONTENDED');
    if (added !== RESERVED) return fail('BAD_QUANTITY', 'on-hand would exceed 2^31-1');
    const record: LogRecord = {
      type: 'receive',
      at: this.context.clock(),
      actor: by.actor,
      reason: by.reason ?? '',
      dc: dcIndex,
      sku: skuIndex,
      qty,
    };
    // Logged before the units become reservable: an order that takes them comes later in the log.
    this.context.lastTicket = this.context.log.append(record);
    stock.applyCountDelta(dcIndex, skuIndex, qty);
    this.context.observer?.stockChanged(dcIndex, skuIndex);
    return this.verified(this.stockView(dcIndex, skuIndex));
  }

  adjust(dc: string, sku: string, onHand: number, by: Attribution): StockResult {
    this.context.lastTicket = 0;
    const cell = this.resolveCell(dc, sku);
    if (typeof cell === 'object') return cell;
    if (!isCount(onHand)) return fail('BAD_QUANTITY', 'onHand must be an integer in [0, 2^31-1]');
    const invalid = this.checkWrite(by);
    if (invalid !== null) return invalid;
    const { stock } = this.context;
    const dcIndex = Math.floor(cell / this.config.skuCapacity);
    const skuIndex = cell % this.config.skuCapacity;
    const delta = stock.setOnHand(dcIndex, skuIndex, onHand);
    const record: LogRecord = {
      type: 'adjust',
      at: this.context.clock(),
      actor: by.actor,
      reason: by.reason ?? '',
      dc: dcIndex,
      sku: skuIndex,
      onHand,
      delta,
    };
    this.context.lastTicket = this.context.log.append(record);
    stock.applyCountDelta(dcIndex, skuIndex, delta);
    this.context.observer?.stockChanged(dcIndex, skuIndex);
    return this.verified(this.stockView(dcIndex, skuIndex));
  }

  getStock(dc: string, sku: string): StockResult {
    this.context.lastTicket = 0;
    const cell = this.resolveCell(dc, sku);
    if (typeof cell === 'object') return cell;
    return this.stockView(
      Math.floor(cell / this.config.skuCapacity),
      cell % this.config.skuCapacity,
    );
  }

  private stockView(dc: number, sku: number): StockResult {
    const { stock, catalogue } = this.context;
    const onHand = stock.onHand(dc, sku);
    const available = stock.available(dc, sku);
    return {
      ok: true,
      stock: {
        dc: catalogue.dcs[dc].id,
        sku: catalogue.skus[sku].id,
        onHand,
        available: Math.max(available, 0),
        reserved: onHand - available,
        shortfall: available < 0 ? -available : 0,
      },
    };
  }

  private resolveCell(dc: string, sku: string): number | Failure {
    const { catalogue } = this.context;
    if (!isId(dc)) return fail('BAD_ID', 'dc must be an id');
    if (!isId(sku)) return fail('BAD_ID', 'sku must be an id');
    const dcIndex = catalogue.dcIndexes.get(dc);
    if (dcIndex === undefined) return fail('UNKNOWN_DC', `unknown DC ${dc}`);
    const skuIndex = catalogue.skuIndexes.get(sku);
    if (skuIndex === undefined) return fail('UNKNOWN_SKU', `unknown SKU ${sku}`);
    return dcIndex * this.config.skuCapacity + skuIndex;
  }

  private checkWrite(by: Attribution): Failure | null {
    if (typeof by !== 'object' || by === null || typeof by.actor !== 'string') {
      return fail('BAD_FIELD', 'every change is attributed to an actor');
    }
    if (by.actor.length === 0 || by.actor.length > ATTRIBUTION_LENGTH_MAX) {
      return fail('BAD_FIELD', 'actor: 1–200 characters');
    }
    if (
      by.reason !== undefined &&
      (typeof by.reason !== 'string' || by.reason.length > ATTRIBUTION_LENGTH_MAX)
    ) {
      return fail('BAD_FIELD', 'reason: at most 200 characters');
    }
    if (!this.context.log.writable()) return fail('READ_ONLY');
    return null;
  }

  // ---------------------------------------------------------------- availability

  /**
   * With `breakdown` false, each SKU's `dcs` is left empty: a search page needs the total and
   * the best ETA, and the per-DC list is most of the cost of building and encoding an answer.
   */
  availability(
    location: Location,
    skus: readonly string[],
    maxMinutes?: number,
    breakdown = true,
  ): AvailabilityResult {
    return this.reader.availability(location, skus, maxMinutes, breakdown);
  }

  /**
   * Answers one availability query into `answers` (the typed core the wire encodes from):
   * the DCs in range once, then per SKU of `skus[skuStart .. skuStart + skuCount)` the total,
   * the best ETA and (with the breakdown) the units at each DC. A refusal appends nothing.
   * `skus` holds ids, or SKU indexes (`skuIndexOf`; -1 for an unknown SKU) in an Int32Array.
   */
  availabilityInto(
    lat: number,
    lng: number,
    skus: readonly unknown[] | Int32Array,
    skuStart: number,
    skuCount: number,
    maxMinutes: number | undefined,
    answers: AvailabilityAnswers,
  ): Failure | null {
    return this.reader.availabilityInto(lat, lng, skus, skuStart, skuCount, maxMinutes, answers);
  }

  /**
   * Levels of SKUs (by index) over the DCs of `hits`: for each, the units free across them
   * (totals) and the best ETA (Infinity when none). For the edge's subscriptions and alerts,
   * which keep their SKU indexes and DC lists between evaluations.
   */
  levelsInto(
    hits: DcHits,
    skus: Int32Array,
    count: number,
    totals: Float64Array,
    bestEta: Float64Array,
  ): void {
    this.reader.levelsInto(hits, skus, count, totals, bestEta);
  }

  /** The DCs serving a location (nearest first), into `out`. */
  resolveDcs(location: Location, maxMinutes: number, out: DcHits): number {
    return this.reader.resolveDcs(location, maxMinutes, out);
  }

  browse(input: BrowseInput): BrowseResult {
    return this.reader.browse(input);
  }

  // ---------------------------------------------------------------- orders

  placeOrder(input: PlaceOrderInput): OrderResult {
    return this.verified(this.book.placeOrder(input));
  }

  /**
   * Places one order of a batch and appends its answer to `answers` (the typed path the wire
   * takes: no object per line in or out). `lastTicket` is then its log record's ticket.
   */
  placeOrderInto(request: OrderRequest, answers: OrderAnswers): void {
    this.book.placeInto(request, answers);
    this.verified(null);
  }

  /** Cancels an order and appends its answer to `answers`. */
  cancelInto(orderId: string, answers: OrderAnswers): void {
    this.book.cancelInto(orderId, answers);
    this.verified(null);
  }

  /** The object form of answer `at` of `answers` (what `placeOrder` returns). */
  orderResultOf(answers: OrderAnswers, at: number): OrderResult {
    return orderResultOf(answers, at, this.context);
  }

  /** The id of a DC by its dense index (answers carry indexes). */
  dcId(index: number): string {
    return this.context.catalogue.dcs[index].id;
  }

  skuId(index: number): string {
    return this.context.catalogue.skus[index].id;
  }

  checkBasket(input: PlaceOrderInput): BasketCheckResult {
    return this.book.checkBasket(input);
  }

  confirm(orderId: string, lines?: readonly OrderLineInput[]): OrderResult {
    return this.verified(this.book.confirm(orderId, lines));
  }

  cancel(orderId: string): OrderResult {
    return this.verified(this.book.cancel(orderId));
  }

  extend(orderId: string, ttlSeconds: number): OrderResult {
    return this.verified(this.book.extend(orderId, ttlSeconds));
  }

  changeOrder(orderId: string, lines: readonly OrderLineInput[]): OrderResult {
    return this.verified(this.book.changeOrder(orderId, lines));
  }

  fulfil(orderId: string): OrderResult {
    return this.verified(this.book.fulfil(orderId));
  }

  getOrder(orderId: string): OrderResult {
    return this.book.getOrder(orderId);
  }

  expireDue(): number {
    this.context.lastTicket = 0;
    return this.verified(this.book.expireDue());
  }

  /**
   * With `verify` on, checks the O(n) invariants after a mutation: conservation at every
   * cell and the order table's consistency. For single-threaded tests: with other threads
   * mid-operation the check would see their half-done work.
   */
  private verified<T>(result: T): T {
    if (this.config.verify) {
      const problems = this.checkInvariants();
      assert(problems.length === 0, problems.slice(0, 5).join('; '));
    }
    return result;
  }

  // ---------------------------------------------------------------- replay and snapshots

  applyRecord(record: LogRecord): void {
    const { stock } = this.context;
    switch (record.type) {
      case 'dc':
      case 'sku':
        this.applyCatalogue(record);
        return;
      case 'receive':
        stock.addBoth(record.dc, record.sku, record.qty);
        return;
      case 'adjust':
        stock.addBoth(record.dc, record.sku, record.delta);
        return;
      default:
        this.book.replay(record);
    }
  }

  exportState(): EngineState {
    return exportState(this.context, this.book);
  }

  /** One DC's counters, [available, onHand] per SKU of the catalogue, as a copy. */
  exportStockOfDc(dc: number): Int32Array {
    return exportStockOfDc(this.context, dc);
  }

  /** Loads a state into a fresh engine (no orders placed, no stock yet). */
  importState(state: EngineState): void {
    importState(this.context, this.book, state, (record) => this.applyCatalogue(record));
  }

  /** Loads more exported orders after `importState`, into their slots (which must be free). */
  importOrders(orders: EngineState['orders']): void {
    this.book.importOrders(orders);
  }

  importStockOfDc(dc: number, cells: Int32Array): void {
    importStockOfDc(this.context, dc, cells);
  }

  /**
   * O(capacity) check of the engine's invariants (invariants.ts), for tests and `verify` runs
   * on a quiescent engine; the problems found, none when all hold.
   */
  checkInvariants(): string[] {
    return checkInvariants(this.context, this.book);
  }
}

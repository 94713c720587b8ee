/**
 * The engine of one thread: the public operations of EngineApi over shared stock counters and
 * the shared order table, with this thread's catalogue and geo index.
 *
 * `Engine.create` allocates all shared memory once, from the configuration's capacities;
 * `Engine.attach` gives another thread its own engine over the same memory. Nothing here is
 * asynchronous: each call runs to completion, so a reservation never spans an await.
 */

import type { EngineApi } from './api.js';
import { assert } from './assert.js';
import { AvailabilityAnswers, ETA_NONE, etaTenths, OrderAnswers } from './answers.js';
import { Catalogue } from './catalogue.js';
import { type EngineConfig, resolveConfig } from './config.js';
import {
  ATTRIBUTION_LENGTH_MAX,
  AVAILABILITY_SKUS_MAX,
  BROWSE_LIMIT_DEFAULT,
  BROWSE_LIMIT_MAX,
  MAX_MINUTES_CEILING,
  QUANTITY_MAX,
} from './constants.js';
import type { Clock, EngineContext } from './context.js';
import { DC_HITS_MAX, DcHits, DeliveryAreaIndex } from './geo/index.js';
import { type LogRecord, NO_LOG, type OperationLog } from './log.js';
import { allocateShared, type EngineShared } from './memory.js';
import { fail, OrderBook, type OrderSnapshotFields, orderResultOf } from './orders.js';
import {
  A_CELL,
  A_QTY,
  ALLOCATION_INTS,
  M_FINGERPRINT,
  M_FLAGS,
  META_INTS,
  OrderTable,
  STATE_CONFIRMED,
  STATE_FREE,
  STATE_HELD,
  T_CREATED_AT,
  T_ETA,
  T_EXPIRES_AT,
  T_LAT,
  T_LNG,
  T_UPDATED_AT,
  TIMES_FLOATS,
} from './reservation/order-table.js';
import {
  CONTENDED as CAS_CONTENDED,
  CELL_AVAILABLE,
  RESERVED,
  StockTable,
} from './stock/stock-table.js';
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
  SkuAvailability,
  SkuInput,
  SkuRecord,
  StockResult,
} from './types.js';
import {
  isCount,
  isId,
  isIntInRange,
  isLatitude,
  isLocation,
  isLongitude,
  isNumberInRange,
  isQuantity,
} from './validate.js';

export interface EngineOptions {
  clock?: Clock;
  log?: OperationLog;
  observer?: EngineObserver;
}

/** SKUs one browse call looks at before it returns a page (possibly short) and a cursor. */
const BROWSE_SCAN_MAX = 20_000;
const CURSOR_PATTERN = /^[0-9]{1,9}$/;

/** One order in a state snapshot: its slot and every field, so import restores it exactly. */
export type OrderSnapshot = OrderSnapshotFields;

/** The engine's state apart from stock counters (exported per DC, see exportStockOfDc). */
export interface EngineState {
  format: 1;
  capacities: Pick<
    EngineConfig,
    'dcCapacity' | 'skuCapacity' | 'orderCapacity' | 'allocationsPerOrderMax'
  >;
  dcs: DcRecord[];
  skus: SkuRecord[];
  orders: OrderSnapshot[];
}

export class Engine implements EngineApi {
  readonly config: EngineConfig;
  private readonly memory: EngineShared;
  private readonly context: EngineContext;
  private readonly book: OrderBook;
  private readonly hits = new DcHits();
  private readonly skuScratch: Int32Array;
  /** Per DC of the current availability query: its shard, cell offset and rounded ETA. */
  private readonly hitCells: Int32Array[] = new Array(DC_HITS_MAX);
  private readonly hitBases = new Int32Array(DC_HITS_MAX);
  /** Scratch for the object API's availability: one query, read back into an object at once. */
  private readonly availabilityScratch = new AvailabilityAnswers(
    1,
    AVAILABILITY_SKUS_MAX,
    DC_HITS_MAX,
  );

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
    this.skuScratch = new Int32Array(AVAILABILITY_SKUS_MAX);
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
    this.context.lastTicket = 0;
    if (!isLocation(location)) return fail('BAD_LOCATION');
    if (!Array.isArray(skus)) return fail('BAD_REQUEST', 'skus must be an array');
    const answers = this.availabilityScratch;
    answers.reset(breakdown);
    const refusal = this.availabilityInto(
      location.lat,
      location.lng,
      skus,
      0,
      skus.length,
      maxMinutes,
      answers,
    );
    if (refusal !== null) return refusal;
    return { ok: true, skus: this.availabilityObject(answers, 0, skus) };
  }

  /**
   * Answers one availability query into `answers` (the typed core the wire encodes from):
   * the DCs in range once, then per SKU of `skus[skuStart .. skuStart + skuCount)` the total,
   * the best ETA and (with the breakdown) the units at each DC. A refusal appends nothing.
   */
  availabilityInto(
    lat: number,
    lng: number,
    skus: readonly unknown[],
    skuStart: number,
    skuCount: number,
    maxMinutes: number | undefined,
    answers: AvailabilityAnswers,
  ): Failure | null {
    if (!isLatitude(lat) || !isLongitude(lng)) return fail('BAD_LOCATION');
    if (skuCount > AVAILABILITY_SKUS_MAX)
      return fail('TOO_MANY_SKUS', `at most ${AVAILABILITY_SKUS_MAX} SKUs`);
    const window = maxMinutes ?? this.config.maxMinutesDefault;
    if (!isNumberInRange(window, 1, MAX_MINUTES_CEILING))
      return fail('BAD_FIELD', 'maxMinutes: 1–1440');
    if (!answers.hasRoom(skuCount)) return fail('TOO_MANY_SKUS', 'the batch holds too many SKUs');
    const { catalogue, stock, geo } = this.context;
    const indexes = this.skuScratch;
    for (let at = 0; at < skuCount; at++) {
      const id = skus[skuStart + at];
      if (typeof id !== 'string') return fail('BAD_ID', 'skus must be strings');
      indexes[at] = catalogue.skuIndexes.get(id) ?? -1;
    }
    const hits = this.hits;
    geo.resolve(lat, lng, window, hits);
    const query = answers.count++;
    const dcCount = hits.count;
    const dcStart = answers.dcTotal;
    answers.dcStart[query] = dcStart;
    answers.dcCount[query] = dcCount;
    // What each DC contributes to every SKU's answer, worked out once per query, not per SKU.
    const cells = this.hitCells;
    const bases = this.hitBases;
    for (let hit = 0; hit < dcCount; hit++) {
      const dc = hits.dcs[hit];
      cells[hit] = stock.cellsOf(dc);
      bases[hit] = stock.cellBase(dc) + CELL_AVAILABLE;
      answers.dcs[dcStart + hit] = dc;
      answers.dcEtaTenths[dcStart + hit] = etaTenths(hits.etaMinutes[hit]);
    }
    answers.dcTotal = dcStart + dcCount;
    const skuBase = answers.skuTotal;
    answers.skuStart[query] = skuBase;
    answers.skuCount[query] = skuCount;
    answers.perDcStart[query] = answers.perDcTotal;
    const breakdown = answers.breakdown;
    let perDc = answers.perDcTotal;
    const rows = answers.perDc;
    for (let at = 0; at < skuCount; at++) {
      const sku = indexes[at];
      let total = 0;
      let eta = ETA_NONE;
      if (sku < 0) {
        total = -1;
        if (breakdown) rows.fill(0, perDc, perDc + dcCount);
      } else {
        const offset = sku * stock.skuStride;
        for (let hit = 0; hit < dcCount; hit++) {
          // Plain read: an advisory snapshot, see StockTable.cellsOf.
          const available = cells[hit][bases[hit] + offset];
          const free = Math.max(available, 0);
          if (breakdown) rows[perDc + hit] = free;
          if (free === 0) continue;
          total += free;
          if (eta === ETA_NONE) eta = answers.dcEtaTenths[dcStart + hit];
        }
      }
      if (breakdown) perDc += dcCount;
      answers.available[skuBase + at] = total;
      answers.etaTenths[skuBase + at] = eta;
    }
    answers.skuTotal = skuBase + skuCount;
    answers.perDcTotal = perDc;
    return null;
  }

  /** Query `query` of `answers` as the v1 answer object, keyed by the ids asked for. */
  private availabilityObject(
    answers: AvailabilityAnswers,
    query: number,
    skus: readonly string[],
  ): Record<string, SkuAvailability> {
    const { catalogue } = this.context;
    // Keyed by SKU ids that differ from query to query: a null-prototype object is a
    // dictionary from the start, where adding a key is a hash insert. An ordinary literal
    // would walk V8's hidden-class transitions, a new path for every combination of keys
    // (measured: 28 µs per 20-SKU answer under load against 3 µs for repeated keys).
    const result: Record<string, SkuAvailability> = Object.create(null);
    const dcStart = answers.dcStart[query];
    const dcCount = answers.dcCount[query];
    const skuStart = answers.skuStart[query];
    let row = answers.perDcStart[query];
    for (let at = 0; at < answers.skuCount[query]; at++) {
      const total = answers.available[skuStart + at];
      const eta = answers.etaTenths[skuStart + at];
      const entry: SkuAvailability = {
        available: Math.max(total, 0),
        etaMinutes: eta === ETA_NONE ? null : eta / 10,
        dcs: [],
      };
      if (total < 0) (entry as SkuAvailability & { unknown: boolean }).unknown = true;
      if (answers.breakdown) {
        for (let hit = 0; hit < dcCount; hit++) {
          const units = answers.perDc[row + hit];
          if (units === 0) continue;
          entry.dcs.push({
            dc: catalogue.dcs[answers.dcs[dcStart + hit]].id,
            available: units,
            etaMinutes: answers.dcEtaTenths[dcStart + hit] / 10,
          });
        }
        row += dcCount;
      }
      result[skus[at]] = entry;
    }
    return result;
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
    const stock = this.context.stock;
    totals.fill(0, 0, count);
    bestEta.fill(Number.POSITIVE_INFINITY, 0, count);
    // DC-outer: one shard look-up per DC. Hits are sorted by ETA, so the first DC with units
    // gives a SKU's best ETA. Plain reads: see StockTable.cellsOf.
    for (let hit = 0; hit < hits.count; hit++) {
      const dc = hits.dcs[hit];
      const cells = stock.cellsOf(dc);
      const base = stock.cellBase(dc) + CELL_AVAILABLE;
      const stride = stock.skuStride;
      const eta = hits.etaMinutes[hit];
      for (let at = 0; at < count; at++) {
        const available = cells[base + skus[at] * stride];
        if (available <= 0) continue;
        totals[at] += available;
        if (bestEta[at] > eta) bestEta[at] = eta;
      }
    }
  }

  /** The DCs serving a location (nearest first), into `out`. */
  resolveDcs(location: Location, maxMinutes: number, out: DcHits): number {
    return this.context.geo.resolve(location.lat, location.lng, maxMinutes, out);
  }

  browse(input: BrowseInput): BrowseResult {
    this.context.lastTicket = 0;
    if (typeof input !== 'object' || input === null) return fail('BAD_REQUEST');
    if (!isLocation(input.location)) return fail('BAD_LOCATION');
    const limit = input.limit ?? BROWSE_LIMIT_DEFAULT;
    if (!isIntInRange(limit, 1, BROWSE_LIMIT_MAX))
      return fail('BAD_FIELD', `limit: 1–${BROWSE_LIMIT_MAX}`);
    const window = input.maxMinutes ?? this.config.maxMinutesDefault;
    if (!isNumberInRange(window, 1, MAX_MINUTES_CEILING))
      return fail('BAD_FIELD', 'maxMinutes: 1–1440');
    if (input.category !== undefined && typeof input.category !== 'string') {
      return fail('BAD_FIELD', 'category must be a string');
    }
    if (
      input.cursor !== undefined &&
      (typeof input.cursor !== 'string' || !CURSOR_PATTERN.test(input.cursor))
    ) {
      return fail('BAD_FIELD', 'cursor is not one this node gave out');
    }
    const { catalogue, stock, geo } = this.context;
    const hits = this.hits;
    geo.resolve(input.location.lat, input.location.lng, window, hits);
    const list = input.category === undefined ? null : catalogue.category(input.category);
    const end = list === null ? catalogue.skus.length : list.length;
    const items: Extract<BrowseResult, { ok: true }>['items'] = [];
    let position = input.cursor === undefined ? 0 : Number(input.cursor);
    const scanEnd = Math.min(end, position + BROWSE_SCAN_MAX);
    for (; position < scanEnd && items.length < limit && hits.count > 0; position++) {
      const sku = list === null ? position : list[position];
      let total = 0;
      let eta = -1;
      for (let hit = 0; hit < hits.count; hit++) {
        const dc = hits.dcs[hit];
        // Plain read: an advisory snapshot, see StockTable.cellsOf.
        const available =
          stock.cellsOf(dc)[stock.cellBase(dc) + sku * stock.skuStride + CELL_AVAILABLE];
        if (available <= 0) continue;
        total += available;
        if (eta < 0) eta = hits.etaMinutes[hit];
      }
      if (total === 0) continue;
      const record = catalogue.skus[sku];
      items.push({
        sku: record.id,
        name: record.name,
        category: record.category,
        available: total,
        etaMinutes: Math.round(eta * 10) / 10,
      });
    }
    const more = hits.count > 0 && position < end;
    return { ok: true, items, nextCursor: more ? String(position) : null };
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
    const { catalogue, orders, config } = this.context;
    const snapshots: OrderSnapshot[] = [];
    for (let slot = 0; slot < orders.capacity; slot++) {
      const state = orders.state(slot);
      if (state === STATE_FREE) continue;
      const base = slot * TIMES_FLOATS;
      const allocation: number[] = [];
      const aBase = orders.allocationBase(slot);
      for (let entry = 0; entry < orders.allocationCount(slot); entry++) {
        const cell = orders.allocations[aBase + entry * ALLOCATION_INTS + A_CELL];
        allocation.push(
          Math.floor(cell / config.skuCapacity),
          cell % config.skuCapacity,
          orders.allocations[aBase + entry * ALLOCATION_INTS + A_QTY],
        );
      }
      snapshots.push({
        slot,
        orderId: this.book.keyString(slot),
        state,
        flags: orders.meta[slot * META_INTS + M_FLAGS],
        fingerprint: orders.meta[slot * META_INTS + M_FINGERPRINT],
        createdAt: orders.times[base + T_CREATED_AT],
        updatedAt: orders.times[base + T_UPDATED_AT],
        expiresAt: orders.times[base + T_EXPIRES_AT],
        lat: orders.times[base + T_LAT],
        lng: orders.times[base + T_LNG],
        etaMinutes: orders.times[base + T_ETA],
        allocation,
      });
    }
    return {
      format: 1,
      capacities: {
        dcCapacity: config.dcCapacity,
        skuCapacity: config.skuCapacity,
        orderCapacity: config.orderCapacity,
        allocationsPerOrderMax: config.allocationsPerOrderMax,
      },
      dcs: catalogue.dcs.slice(),
      skus: catalogue.skus.slice(),
      orders: snapshots,
    };
  }

  /** One DC's counters, [available, onHand] per SKU of the catalogue, as a copy. */
  exportStockOfDc(dc: number): Int32Array {
    const { stock } = this.context;
    const count = this.context.catalogue.skus.length;
    const cells = new Int32Array(count * 2);
    for (let sku = 0; sku < count; sku++) {
      cells[sku * 2] = stock.available(dc, sku);
      cells[sku * 2 + 1] = stock.onHand(dc, sku);
    }
    return cells;
  }

  /** Loads a state into a fresh engine (no orders placed, no stock yet). */
  importState(state: EngineState): void {
    if (state.format !== 1) throw new Error(`snapshot format ${state.format} is not supported`);
    const { config } = this;
    const caps = state.capacities;
    if (caps.orderCapacity !== config.orderCapacity || caps.skuCapacity !== config.skuCapacity) {
      throw new Error('snapshot: order capacity and SKU capacity must equal the configuration');
    }
    if (
      caps.dcCapacity > config.dcCapacity ||
      caps.allocationsPerOrderMax > config.allocationsPerOrderMax
    ) {
      throw new Error('snapshot: the configuration is smaller than the data');
    }
    for (const dc of state.dcs) this.applyCatalogue({ type: 'dc', at: 0, actor: 'snapshot', dc });
    for (const sku of state.skus)
      this.applyCatalogue({ type: 'sku', at: 0, actor: 'snapshot', sku });
    this.book.importOrders(state.orders);
  }

  importStockOfDc(dc: number, cells: Int32Array): void {
    const { stock } = this.context;
    for (let sku = 0; sku < cells.length / 2; sku++) {
      stock.load(dc, sku, cells[sku * 2], cells[sku * 2 + 1]);
    }
  }

  /**
   * O(capacity) check of the engine's invariants, for tests and `verify` runs on a quiescent
   * engine: at every cell, onHand - available equals the units live orders hold there; every
   * used slot of the order table is consistent (a known state, its key in one of its key's
   * buckets, allocation entries of positive quantities at cells that exist, a live order
   * holding something).
   */
  checkInvariants(): string[] {
    const { orders, stock, catalogue, config } = this.context;
    const held = new Map<number, number>();
    const problems: string[] = [];
    const cells = config.dcCapacity * config.skuCapacity;
    for (let slot = 0; slot < orders.capacity; slot++) {
      const state = orders.state(slot);
      if (state === STATE_FREE) continue;
      problems.push(...this.book.checkSlot(slot));
      if (state !== STATE_HELD && state !== STATE_CONFIRMED) continue;
      const base = orders.allocationBase(slot);
      const count = orders.allocationCount(slot);
      if (count === 0) problems.push(`slot ${slot}: a live order holds nothing`);
      for (let entry = 0; entry < count; entry++) {
        const cell = orders.allocations[base + entry * ALLOCATION_INTS + A_CELL];
        const qty = orders.allocations[base + entry * ALLOCATION_INTS + A_QTY];
        if (cell < 0 || cell >= cells || qty <= 0) {
          problems.push(`slot ${slot}: allocation entry ${entry} is (${cell}, ${qty})`);
        }
        held.set(cell, (held.get(cell) ?? 0) + qty);
      }
    }
    for (let dc = 0; dc < catalogue.dcs.length; dc++) {
      for (let sku = 0; sku < catalogue.skus.length; sku++) {
        const reserved = stock.onHand(dc, sku) - stock.available(dc, sku);
        const expected = held.get(dc * config.skuCapacity + sku) ?? 0;
        if (reserved !== expected) {
          problems.push(`cell ${dc}/${sku}: counters reserve ${reserved}, orders hold ${expected}`);
        }
        if (stock.onHand(dc, sku) > QUANTITY_MAX) problems.push(`cell ${dc}/${sku}: overflow`);
      }
    }
    return problems;
  }
}

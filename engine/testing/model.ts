/**
 * The reference model of the engine: one thread, plain Maps, no shared memory, no locks, no
 * typed arrays. It answers the same public operations as EngineApi with the same result codes,
 * and is written to be read: every rule of the engine's contract is one short block here.
 *
 * What it borrows from the engine, on purpose: which DCs serve a location and their ETAs come
 * from the engine's own geo index (DeliveryAreaIndex, deterministic: nearest first, ties by
 * distance, then DC index), because re-deriving geometry would test turf, not the engine. Ids
 * are valid by the wire's one definition (protocol/validate.ts). Everything else (validation
 * order, allocation, idempotency, the lifecycle, stock arithmetic) is its own.
 *
 * Two ways to move it:
 * - decide: call an operation (`placeOrder`, `confirm`, ...). The model decides as the engine
 *   should and appends the log records it would write to `records`.
 * - apply: `applyRecord` takes a record the engine wrote and checks it is legal in the model's
 *   state (the transition is allowed, no reservation takes more than is free, an adjust's
 *   on-hand follows from the log) before applying it; an illegal record throws ModelViolation.
 *
 * Invariants (checked by `problems()`): at every cell, onHand - available equals the units the
 * live (held or confirmed) orders hold there; an order's allocation names each cell once.
 *
 * Not modelled: order-table eviction (callers keep the number of orders far below capacity),
 * CONTENDED and LOCK_TIMEOUT (single thread), browse.
 */

import { type ErrorCode, ErrorCodes, isValidId, type LineRefusal } from '../../protocol/index.js';
import type { DcUpsertResult, SkuUpsertResult } from '../api.js';
import type { EngineConfig } from '../config.js';
import {
  ATTRIBUTION_LENGTH_MAX,
  AVAILABILITY_SKUS_MAX,
  HOLD_TTL_SECONDS_MAX,
  MAX_MINUTES_CEILING,
  NAME_LENGTH_MAX,
  PREP_MINUTES_DEFAULT,
  PREP_MINUTES_MAX,
  QUANTITY_MAX,
  RADIUS_KM_MAX,
  SPEED_KMH_DEFAULT,
  SPEED_KMH_MAX,
} from '../constants.js';
import { checkDcRecord, DcHits, DeliveryAreaIndex, validateArea } from '../geo/index.js';
import type { LogRecord } from '../log.js';
import type {
  AllocationPolicy,
  Attribution,
  AvailabilityResult,
  BasketCheckResult,
  DcInput,
  DcRecord,
  Failure,
  Location,
  OrderLineInput,
  OrderMode,
  OrderResult,
  OrderStatus,
  OrderView,
  PlaceOrderInput,
  SkuAvailability,
  SkuInput,
  SkuRecord,
  StockResult,
} from '../types.js';
import type { OperationsApi } from './operations.js';

/** The configuration the model needs (a subset of the engine's, same meaning). */
export type ModelConfig = Pick<
  EngineConfig,
  | 'dcCapacity'
  | 'skuCapacity'
  | 'linesPerOrderMax'
  | 'allocationsPerOrderMax'
  | 'holdTtlSecondsDefault'
  | 'maxMinutesDefault'
>;

/** A record the engine wrote that the model's state does not allow. */
export class ModelViolation extends Error {
  readonly code = 'MODEL_VIOLATION';
}

export interface Cell {
  onHand: number;
  available: number;
}

export interface Entry {
  dc: number;
  sku: number;
  qty: number;
}

export interface ModelOrder {
  orderId: string;
  status: OrderStatus;
  mode: OrderMode;
  policy: AllocationPolicy;
  lat: number;
  lng: number;
  /** The placement request as the idempotency check compares it. */
  request: string;
  etaMinutes: number;
  /** The hold deadline; 0 for commit orders and once confirmed, kept after cancel or expiry. */
  expiresAt: number;
  createdAt: number;
  updatedAt: number;
  allocation: Entry[];
}

interface Line {
  sku: number;
  qty: number;
}

interface Placement {
  orderId: string;
  lat: number;
  lng: number;
  mode: OrderMode;
  split: boolean;
  ttlSeconds: number | undefined;
  maxMinutes: number | undefined;
  lines: Line[];
  request: string;
}

interface Hit {
  dc: number;
  eta: number;
}

type Plan = { entries: Entry[]; eta: number };

const LIVE: readonly OrderStatus[] = ['held', 'confirmed'];

/** Refusals that depend on what the counters hold at the moment (and on other threads). */
export const STOCK_REFUSALS: readonly ErrorCode[] = [
  'OUT_OF_STOCK',
  'NOT_IN_ONE_DC',
  'TOO_FRAGMENTED',
  'CONTENDED',
];

function fail(code: ErrorCode, details: Record<string, unknown> = {}): Failure {
  return { ok: false, error: { code, message: ErrorCodes[code].text, ...details } };
}

function isQuantity(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= QUANTITY_MAX;
}

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= QUANTITY_MAX;
}

function inRange(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
}

function isLocation(value: unknown): value is Location {
  if (typeof value !== 'object' || value === null) return false;
  const { lat, lng } = value as { lat: unknown; lng: unknown };
  return inRange(lat, -90, 90) && inRange(lng, -180, 180);
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= NAME_LENGTH_MAX;
}

/** ETAs are answered in whole tenths of a minute. */
function tenths(minutes: number): number {
  return Math.round(minutes * 10) / 10;
}

export class Model implements OperationsApi {
  readonly lastTicket = 0;
  readonly dcs: DcRecord[] = [];
  readonly skus: SkuRecord[] = [];
  private readonly dcIndexes = new Map<string, number>();
  private readonly skuIndexes = new Map<string, number>();
  private readonly geo: DeliveryAreaIndex;
  private readonly hits = new DcHits();
  /** Per cell `dc * skuCapacity + sku`; a cell never touched is absent (0, 0). */
  private stock = new Map<number, Cell>();
  private orders = new Map<string, ModelOrder>();
  /** False after the log failed: changes are refused READ_ONLY, as the engine does. */
  writable = true;
  /** The records the model's own decisions would append, oldest first. */
  readonly records: LogRecord[] = [];
  /**
   * Units a concurrent reservation may take beyond what the log order shows free at a cell:
   * a negative count is logged before it reaches the counter, so another thread may reserve
   * those units in between. Only `applyRecord` with `slack` on uses it.
   */
  private readonly slack = new Map<number, number>();
  /**
   * Adjust records whose on-hand does not follow from the log's order, seen by `applyRecord`
   * with `slack` on (concurrent rounds): a count exchanges on-hand before it is logged, a pick
   * or receipt moves it after (or before) its own record, so with both on one cell at once the
   * log's order is not the order on-hand moved in. Replay adds deltas, so the state recovered
   * is right; the record's `onHand` is not. Counted, first few kept, not refused.
   */
  readonly adjustDrift: string[] = [];
  adjustDriftCount = 0;

  constructor(
    readonly config: ModelConfig,
    private readonly clock: () => number,
  ) {
    this.geo = new DeliveryAreaIndex({ dcCapacity: config.dcCapacity, cacheSize: 64 });
  }

  // ---------------------------------------------------------------- catalogue

  upsertDc(input: DcInput, by: Attribution): DcUpsertResult {
    if (typeof input !== 'object' || input === null) return fail('BAD_REQUEST');
    if (!isValidId(input.id)) return fail('BAD_ID');
    if (!isText(input.name)) return fail('BAD_FIELD');
    if (!isLocation(input.location)) return fail('BAD_LOCATION');
    const hasRadius = input.radiusKm !== undefined && input.radiusKm !== null;
    const hasArea = input.area !== undefined && input.area !== null;
    if (!hasRadius && !hasArea) return fail('BAD_AREA');
    if (hasRadius && !inRange(input.radiusKm, 0.01, RADIUS_KM_MAX)) return fail('BAD_AREA');
    if (hasArea && !validateArea(input.area)) return fail('BAD_AREA');
    const speedKmh = input.speedKmh ?? SPEED_KMH_DEFAULT;
    if (!inRange(speedKmh, 1, SPEED_KMH_MAX)) return fail('BAD_FIELD');
    const prepMinutes = input.prepMinutes ?? PREP_MINUTES_DEFAULT;
    if (!inRange(prepMinutes, 0, PREP_MINUTES_MAX)) return fail('BAD_FIELD');
    const active = input.active ?? true;
    if (typeof active !== 'boolean') return fail('BAD_FIELD');
    const existing = this.dcIndexes.get(input.id);
    if (existing === undefined && this.dcs.length >= this.config.dcCapacity) {
      return fail('CAPACITY_EXHAUSTED');
    }
    const dc: DcRecord = {
      index: existing ?? this.dcs.length,
      id: input.id,
      name: input.name,
      location: { lat: input.location.lat, lng: input.location.lng },
      radiusKm: hasArea ? null : (input.radiusKm as number),
      area: hasArea ? { type: 'Polygon', coordinates: input.area!.coordinates } : null,
      speedKmh,
      prepMinutes,
      active,
    };
    const geoRefusal = checkDcRecord(dc);
    if (geoRefusal !== null) return fail(geoRefusal);
    const refused = this.checkWrite(by);
    if (refused !== null) return refused;
    this.decided({ type: 'dc', at: this.clock(), actor: by.actor, dc });
    return { ok: true, created: existing === undefined, dc };
  }

  upsertSku(input: SkuInput, by: Attribution): SkuUpsertResult {
    if (typeof input !== 'object' || input === null) return fail('BAD_REQUEST');
    if (!isValidId(input.id)) return fail('BAD_ID');
    if (!isText(input.name)) return fail('BAD_FIELD');
    const category = input.category ?? null;
    if (category !== null && !isText(category)) return fail('BAD_FIELD');
    const lowStockThreshold = input.lowStockThreshold ?? 0;
    if (!isCount(lowStockThreshold)) return fail('BAD_FIELD');
    const maxPerOrder = input.maxPerOrder ?? 0;
    if (!isCount(maxPerOrder)) return fail('BAD_FIELD');
    const existing = this.skuIndexes.get(input.id);
    if (existing === undefined && this.skus.length >= this.config.skuCapacity) {
      return fail('CAPACITY_EXHAUSTED');
    }
    const sku: SkuRecord = {
      index: existing ?? this.skus.length,
      id: input.id,
      name: input.name,
      category,
      lowStockThreshold,
      maxPerOrder,
    };
    const refused = this.checkWrite(by);
    if (refused !== null) return refused;
    this.decided({ type: 'sku', at: this.clock(), actor: by.actor, sku });
    return { ok: true, created: existing === undefined, sku };
  }

  getDc(id: string): DcRecord | undefined {
    const index = this.dcIndexes.get(id);
    return index === undefined ? undefined : this.dcs[index];
  }

  getSku(id: string): SkuRecord | undefined {
    const index = this.skuIndexes.get(id);
    return index === undefined ? undefined : this.skus[index];
  }

  private checkWrite(by: Attribution): Failure | null {
    if (typeof by !== 'object' || by === null || typeof by.actor !== 'string') {
      return fail('BAD_FIELD');
    }
    if (by.actor.length === 0 || by.actor.length > ATTRIBUTION_LENGTH_MAX) return fail('BAD_FIELD');
    const reason = by.reason as unknown;
    if (
      reason !== undefined &&
      (typeof reason !== 'string' || reason.length > ATTRIBUTION_LENGTH_MAX)
    )
      return fail('BAD_FIELD');
    return this.writable ? null : fail('READ_ONLY');
  }

  // ---------------------------------------------------------------- stock

  receive(dc: string, sku: string, qty: number, by: Attribution): StockResult {
    const at = this.cellOf(dc, sku);
    if (!Array.isArray(at)) return at;
    if (!isQuantity(qty)) return fail('BAD_QUANTITY');
    const refused = this.checkWrite(by);
    if (refused !== null) return refused;
    // On-hand never passes the int32 range a counter holds.
    if (this.cell(at[0], at[1]).onHand > QUANTITY_MAX - qty) return fail('BAD_QUANTITY');
    const reason = by.reason ?? '';
    this.decided({
      type: 'receive',
      at: this.clock(),
      actor: by.actor,
      reason,
      dc: at[0],
      sku: at[1],
      qty,
    });
    return this.stockView(at[0], at[1]);
  }

  adjust(dc: string, sku: string, onHand: number, by: Attribution): StockResult {
    const at = this.cellOf(dc, sku);
    if (!Array.isArray(at)) return at;
    if (!isCount(onHand)) return fail('BAD_QUANTITY');
    const refused = this.checkWrite(by);
    if (refused !== null) return refused;
    const delta = onHand - this.cell(at[0], at[1]).onHand;
    const reason = by.reason ?? '';
    this.decided({
      type: 'adjust',
      at: this.clock(),
      actor: by.actor,
      reason,
      dc: at[0],
      sku: at[1],
      onHand,
      delta,
    });
    return this.stockView(at[0], at[1]);
  }

  getStock(dc: string, sku: string): StockResult {
    const at = this.cellOf(dc, sku);
    if (!Array.isArray(at)) return at;
    return this.stockView(at[0], at[1]);
  }

  private cellOf(dc: string, sku: string): [number, number] | Failure {
    if (!isValidId(dc) || !isValidId(sku)) return fail('BAD_ID');
    const dcIndex = this.dcIndexes.get(dc);
    if (dcIndex === undefined) return fail('UNKNOWN_DC');
    const skuIndex = this.skuIndexes.get(sku);
    if (skuIndex === undefined) return fail('UNKNOWN_SKU');
    return [dcIndex, skuIndex];
  }

  private key(dc: number, sku: number): number {
    return dc * this.config.skuCapacity + sku;
  }

  /** The counters of a cell (a live object: callers that change it own the change). */
  cell(dc: number, sku: number): Cell {
    const key = this.key(dc, sku);
    let cell = this.stock.get(key);
    if (cell === undefined) {
      cell = { onHand: 0, available: 0 };
      this.stock.set(key, cell);
    }
    return cell;
  }

  private stockView(dc: number, sku: number): StockResult {
    const { onHand, available } = this.cell(dc, sku);
    const stock = {
      dc: this.dcs[dc].id,
      sku: this.skus[sku].id,
      onHand,
      available: Math.max(available, 0),
      reserved: onHand - available,
      shortfall: available < 0 ? -available : 0,
    };
    return { ok: true, stock };
  }

  // ---------------------------------------------------------------- availability

  availability(
    location: Location,
    skus: readonly string[],
    maxMinutes?: number,
    breakdown = true,
  ): AvailabilityResult {
    if (!isLocation(location)) return fail('BAD_LOCATION');
    if (!Array.isArray(skus) || skus.length === 0) return fail('BAD_REQUEST');
    if (skus.length > AVAILABILITY_SKUS_MAX) return fail('TOO_MANY_SKUS');
    const window = maxMinutes ?? this.config.maxMinutesDefault;
    if (!inRange(window, 1, MAX_MINUTES_CEILING)) return fail('BAD_FIELD');
    if (skus.some((id) => typeof id !== 'string')) return fail('BAD_ID');
    const hits = this.dcsServing(location.lat, location.lng, window);
    const answer: Record<string, SkuAvailability> = {};
    for (const id of skus) {
      const sku = this.skuIndexes.get(id);
      if (sku === undefined) {
        answer[id] = { available: 0, etaMinutes: null, dcs: [], unknown: true };
        continue;
      }
      const entry: SkuAvailability = { available: 0, etaMinutes: null, dcs: [] };
      for (const hit of hits) {
        const free = Math.max(this.cell(hit.dc, sku).available, 0);
        if (free === 0) continue;
        entry.available += free;
        entry.etaMinutes ??= tenths(hit.eta);
        if (breakdown) {
          entry.dcs.push({ dc: this.dcs[hit.dc].id, available: free, etaMinutes: tenths(hit.eta) });
        }
      }
      answer[id] = entry;
    }
    return { ok: true, skus: answer, dcsInRange: hits.length };
  }

  /** The DCs serving a point within a window, nearest first, from the engine's geo index. */
  private dcsServing(lat: number, lng: number, maxMinutes: number): Hit[] {
    const count = this.geo.resolve(lat, lng, maxMinutes, this.hits);
    const hits: Hit[] = [];
    for (let at = 0; at < count; at++) {
      hits.push({ dc: this.hits.dcs[at], eta: this.hits.etaMinutes[at] });
    }
    return hits;
  }

  // ---------------------------------------------------------------- placement

  placeOrder(input: PlaceOrderInput): OrderResult {
    const placement = this.parsePlacement(input, true);
    if ('ok' in placement) return placement;
    if (!this.writable) return fail('READ_ONLY');
    const existing = this.orders.get(placement.orderId);
    if (existing !== undefined) {
      this.expireIfDue(existing);
      if (existing.request !== placement.request) return fail('ORDER_ID_REUSED');
      return { ok: true, created: false, order: this.view(existing) };
    }
    const plan = this.allocate(placement, placement.maxMinutes, new Map());
    if ('ok' in plan) return plan;
    const now = this.clock();
    const commit = placement.mode === 'commit';
    const ttlSeconds = placement.ttlSeconds ?? this.config.holdTtlSecondsDefault;
    this.decided(
      {
        type: 'place',
        at: now,
        orderId: placement.orderId,
        mode: commit ? 1 : 0,
        policy: placement.split ? 1 : 0,
        lat: placement.lat,
        lng: placement.lng,
        etaMinutes: plan.eta,
        expiresAt: commit ? 0 : now + ttlSeconds * 1000,
        fingerprint: 0,
        allocation: plan.entries.flatMap((entry) => [entry.dc, entry.sku, entry.qty]),
      },
      placement.request,
    );
    return { ok: true, created: true, order: this.view(this.orders.get(placement.orderId)!) };
  }

  checkBasket(input: PlaceOrderInput): BasketCheckResult {
    const placement = this.parsePlacement(input, false);
    if ('ok' in placement) return placement;
    const plan = this.allocate(placement, placement.maxMinutes, new Map());
    if ('ok' in plan) return plan;
    return {
      ok: true,
      allocation: this.allocationLines(plan.entries),
      etaMinutes: tenths(plan.eta),
    };
  }

  /**
   * What identifies a placement for idempotency: a retry has the same mode, policy, TTL,
   * window, location (to the micro-degree) and lines in the same order.
   */
  requestKey(placement: Omit<Placement, 'request' | 'orderId'>): string {
    return JSON.stringify([
      placement.mode,
      placement.split,
      placement.ttlSeconds ?? -1,
      placement.maxMinutes ?? -1,
      Math.round(placement.lat * 1e6),
      Math.round(placement.lng * 1e6),
      placement.lines.map((line) => [line.sku, line.qty]),
    ]);
  }

  /** Checks a placement in the engine's order of checks; its parsed form, or the refusal. */
  private parsePlacement(input: PlaceOrderInput, needsId: boolean): Placement | Failure {
    if (typeof input !== 'object' || input === null) return fail('BAD_REQUEST');
    const location = input.location as unknown;
    if (typeof location !== 'object' || location === null) return fail('BAD_LOCATION');
    const shape = this.checkLineShapes(input.lines);
    if (shape !== null) return shape;
    if ((needsId || input.orderId !== undefined) && !isValidId(input.orderId)) {
      return fail('BAD_ORDER_ID');
    }
    const { lat, lng } = location as { lat: number; lng: number };
    if (!isLocation({ lat, lng })) return fail('BAD_LOCATION');
    if (input.mode !== 'hold' && input.mode !== 'commit') return fail('BAD_MODE');
    const policy = input.policy as unknown;
    if (policy !== undefined && policy !== 'single-dc' && policy !== 'split') {
      return fail('BAD_POLICY');
    }
    const ttl = input.ttlSeconds;
    if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 1 && ttl <= HOLD_TTL_SECONDS_MAX)) {
      return fail('BAD_TTL');
    }
    if (input.maxMinutes !== undefined && !inRange(input.maxMinutes, 1, MAX_MINUTES_CEILING)) {
      return fail('BAD_FIELD');
    }
    const lines = this.parseLines(input.lines);
    if (!Array.isArray(lines)) return lines;
    const parsed = {
      lat,
      lng,
      mode: input.mode,
      split: policy === 'split',
      ttlSeconds: ttl,
      maxMinutes: input.maxMinutes,
      lines,
    };
    return { ...parsed, orderId: input.orderId, request: this.requestKey(parsed) };
  }

  /** Lines must be an array of at most linesPerOrderMax objects. */
  private checkLineShapes(lines: unknown): Failure | null {
    if (!Array.isArray(lines)) return fail('BAD_REQUEST');
    if (lines.length > this.config.linesPerOrderMax) return fail('TOO_MANY_LINES');
    for (const line of lines) {
      if (typeof line !== 'object' || line === null) return fail('BAD_REQUEST');
    }
    return null;
  }

  /** Each line: a known SKU, a quantity ≥ 1, not twice, within the SKU's per-order limit. */
  private parseLines(input: readonly OrderLineInput[]): Line[] | Failure {
    if (input.length === 0) return fail('EMPTY_ORDER');
    const lines: Line[] = [];
    const refusals: LineRefusal[] = [];
    for (const { sku: id, qty } of input) {
      const sku = typeof id === 'string' ? this.skuIndexes.get(id) : undefined;
      const requested = typeof qty === 'number' ? qty : 0;
      const refusal = { sku: String(id), requested, available: 0 };
      if (sku === undefined) refusals.push({ ...refusal, code: 'UNKNOWN_SKU' });
      else if (!isQuantity(qty)) refusals.push({ ...refusal, code: 'BAD_QUANTITY' });
      else if (lines.some((line) => line.sku === sku))
        refusals.push({ ...refusal, code: 'DUPLICATE_LINE' });
      else if (this.skus[sku].maxPerOrder > 0 && qty > this.skus[sku].maxPerOrder) {
        refusals.push({ ...refusal, code: 'OVER_LIMIT', limit: this.skus[sku].maxPerOrder });
      } else lines.push({ sku, qty });
    }
    if (refusals.length > 0) return fail(refusals[0].code, { lines: refusals });
    return lines;
  }

  /**
   * Where the lines would be taken from. `credit` is what the order already holds per cell (a
   * basket change): those units count as free to it. single-dc: the nearest DC that has every
   * line. split: each line from the nearest DCs first, as much as each has.
   */
  private allocate(
    placement: { lat: number; lng: number; split: boolean; lines: Line[] },
    maxMinutes: number | undefined,
    credit: Map<number, number>,
  ): Plan | Failure {
    const { lat, lng, split, lines } = placement;
    const hits = this.dcsServing(lat, lng, maxMinutes ?? this.config.maxMinutesDefault);
    if (hits.length === 0) {
      return fail('NO_DC_IN_RANGE', { lines: this.refusals(lines, 'NO_DC_IN_RANGE', () => 0) });
    }
    const free = (dc: number, sku: number) =>
      Math.max(this.cell(dc, sku).available, 0) + (credit.get(this.key(dc, sku)) ?? 0);
    if (!split) {
      for (const hit of hits) {
        if (lines.every((line) => free(hit.dc, line.sku) >= line.qty)) {
          return { entries: lines.map((line) => ({ dc: hit.dc, ...line })), eta: hit.eta };
        }
      }
      const best = (sku: number) => Math.max(0, ...hits.map((hit) => free(hit.dc, sku)));
      const short = this.refusals(lines, 'OUT_OF_STOCK', best);
      return short.length === 0 ? fail('NOT_IN_ONE_DC') : fail('OUT_OF_STOCK', { lines: short });
    }
    const entries: Entry[] = [];
    let eta = 0;
    for (const line of lines) {
      let remaining = line.qty;
      for (const hit of hits) {
        const take = Math.min(remaining, free(hit.dc, line.sku));
        if (take === 0) continue;
        if (entries.length === this.config.allocationsPerOrderMax) return fail('TOO_FRAGMENTED');
        entries.push({ dc: hit.dc, sku: line.sku, qty: take });
        remaining -= take;
        eta = Math.max(eta, hit.eta);
      }
      if (remaining > 0) {
        const total = (sku: number) => hits.reduce((sum, hit) => sum + free(hit.dc, sku), 0);
        return fail('OUT_OF_STOCK', { lines: this.refusals(lines, 'OUT_OF_STOCK', total) });
      }
    }
    return { entries, eta };
  }

  /** Line refusals for every line that `reachable` cannot fill. */
  private refusals(
    lines: Line[],
    code: LineRefusal['code'],
    reachable: (sku: number) => number,
  ): LineRefusal[] {
    const refused: LineRefusal[] = [];
    for (const line of lines) {
      const available = reachable(line.sku);
      if (code !== 'OUT_OF_STOCK' || available < line.qty) {
        refused.push({ sku: this.skus[line.sku].id, code, requested: line.qty, available });
      }
    }
    return refused;
  }

  /**
   * What `placeOrder` would answer, changing nothing, when that does not depend on the
   * counters; 'allocate' when it does (a new order: created, or refused for stock); 'expires'
   * when the id is a hold already due (the call would first expire it).
   */
  previewPlacement(input: PlaceOrderInput): OrderResult | 'allocate' | 'expires' {
    const placement = this.parsePlacement(input, true);
    if ('ok' in placement) return placement;
    if (!this.writable) return fail('READ_ONLY');
    const existing = this.orders.get(placement.orderId);
    if (existing !== undefined) {
      if (this.isDue(existing)) return 'expires';
      if (existing.request !== placement.request) return fail('ORDER_ID_REUSED');
      return { ok: true, created: false, order: this.view(existing) };
    }
    const plan = this.allocate(placement, placement.maxMinutes, new Map());
    return 'ok' in plan && !STOCK_REFUSALS.includes(plan.error.code) ? plan : 'allocate';
  }

  /** `previewPlacement` for a basket change. */
  previewChange(
    orderId: string,
    lines: readonly OrderLineInput[],
  ): OrderResult | 'allocate' | 'expires' {
    if (!isValidId(orderId)) return fail('BAD_ORDER_ID');
    if (!this.writable) return fail('READ_ONLY');
    const order = this.orders.get(orderId);
    if (order === undefined) return fail('ORDER_NOT_FOUND');
    if (this.isDue(order)) return 'expires';
    if (order.status !== 'held') return this.wrongState(order);
    const plan = this.planChange(order, lines);
    return 'ok' in plan && !STOCK_REFUSALS.includes(plan.error.code) ? plan : 'allocate';
  }

  private isDue(order: ModelOrder): boolean {
    return order.status === 'held' && order.expiresAt <= this.clock();
  }

  // ---------------------------------------------------------------- lifecycle

  confirm(orderId: string, lines?: readonly OrderLineInput[]): OrderResult {
    return this.transition(orderId, true, (order) => {
      if (order.status === 'confirmed') return null;
      if (order.status !== 'held') return this.wrongState(order);
      const released = lines === undefined ? [] : this.planPartialConfirm(order, lines);
      if (!Array.isArray(released)) return released;
      this.decided({ type: 'confirm', at: this.clock(), orderId, released });
      return null;
    });
  }

  cancel(orderId: string): OrderResult {
    return this.transition(orderId, true, (order) => {
      if (order.status === 'cancelled') return null;
      if (!LIVE.includes(order.status)) return this.wrongState(order);
      this.decided({ type: 'cancel', at: this.clock(), orderId });
      return null;
    });
  }

  extend(orderId: string, ttlSeconds: number): OrderResult {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > HOLD_TTL_SECONDS_MAX) {
      return fail('BAD_TTL');
    }
    return this.transition(orderId, true, (order) => {
      if (order.status !== 'held') return this.wrongState(order);
      const at = this.clock();
      this.decided({ type: 'extend', at, orderId, expiresAt: at + ttlSeconds * 1000 });
      return null;
    });
  }

  changeOrder(orderId: string, lines: readonly OrderLineInput[]): OrderResult {
    return this.transition(orderId, true, (order) => {
      if (order.status !== 'held') return this.wrongState(order);
      const plan = this.planChange(order, lines);
      if ('ok' in plan) return plan;
      this.decided({
        type: 'change',
        at: this.clock(),
        orderId,
        fingerprint: 0,
        etaMinutes: plan.eta,
        expiresAt: order.expiresAt,
        allocation: plan.entries.flatMap((entry) => [entry.dc, entry.sku, entry.qty]),
      });
      return null;
    });
  }

  fulfil(orderId: string): OrderResult {
    return this.transition(orderId, true, (order) => {
      if (order.status === 'fulfilled') return null;
      if (order.status !== 'confirmed') return this.wrongState(order);
      this.decided({ type: 'fulfil', at: this.clock(), orderId });
      return null;
    });
  }

  getOrder(orderId: string): OrderResult {
    return this.transition(orderId, false, () => null);
  }

  /** Expires every hold whose deadline has passed; returns how many. */
  expireDue(): number {
    let expired = 0;
    for (const order of this.orders.values()) {
      if (this.expireIfDue(order)) expired++;
    }
    return expired;
  }

  /**
   * The shape of every operation on an existing order: the id, the log, the order, its expiry
   * if due (whatever the operation), then the operation's own decision.
   */
  private transition(
    orderId: string,
    changes: boolean,
    decide: (order: ModelOrder) => Failure | null,
  ): OrderResult {
    if (!isValidId(orderId)) return fail('BAD_ORDER_ID');
    if (changes && !this.writable) return fail('READ_ONLY');
    const order = this.orders.get(orderId);
    if (order === undefined) return fail('ORDER_NOT_FOUND');
    this.expireIfDue(order);
    const refusal = decide(order);
    if (refusal !== null) return refusal;
    return { ok: true, created: false, order: this.view(order) };
  }

  private wrongState(order: ModelOrder): Failure {
    return fail('INVALID_STATE', { status: order.status });
  }

  private expireIfDue(order: ModelOrder): boolean {
    if (!this.isDue(order)) return false;
    this.decided({ type: 'expire', at: this.clock(), orderId: order.orderId });
    return true;
  }

  /**
   * A partial confirm keeps the listed quantities (taken from the order's entries in order,
   * nearest DC first) and releases the rest; a SKU not listed is released whole. The released
   * units as (dc, sku, qty) triples, or the refusal.
   */
  private planPartialConfirm(
    order: ModelOrder,
    lines: readonly OrderLineInput[],
  ): number[] | Failure {
    if (!Array.isArray(lines)) return fail('BAD_REQUEST');
    if (lines.length > this.config.linesPerOrderMax) return fail('TOO_MANY_LINES');
    const keep = new Map<number, number>();
    for (const line of lines) {
      if (typeof line !== 'object' || line === null) return fail('BAD_REQUEST');
      const sku = typeof line.sku === 'string' ? this.skuIndexes.get(line.sku) : undefined;
      if (sku === undefined) return fail('UNKNOWN_SKU');
      if (!isCount(line.qty)) return fail('BAD_QUANTITY');
      if (keep.has(sku)) return fail('DUPLICATE_LINE');
      keep.set(sku, line.qty);
    }
    let kept = 0;
    for (const [sku, qty] of keep) {
      const held = order.allocation.filter((entry) => entry.sku === sku);
      if (held.length === 0) return fail('BAD_FIELD');
      if (qty > held.reduce((sum, entry) => sum + entry.qty, 0)) return fail('BAD_QUANTITY');
      kept += qty;
    }
    if (kept === 0) return fail('EMPTY_ORDER');
    const released: number[] = [];
    for (const entry of order.allocation) {
      const left = keep.get(entry.sku) ?? 0;
      const kept = Math.min(left, entry.qty);
      keep.set(entry.sku, left - kept);
      if (entry.qty > kept) released.push(entry.dc, entry.sku, entry.qty - kept);
    }
    return released;
  }

  /** A held basket's new allocation; the order's own units count as free to it. */
  private planChange(order: ModelOrder, input: readonly OrderLineInput[]): Plan | Failure {
    const shape = this.checkLineShapes(input);
    if (shape !== null) return shape;
    const lines = this.parseLines(input);
    if (!Array.isArray(lines)) return lines;
    const credit = new Map<number, number>();
    for (const entry of order.allocation) credit.set(this.key(entry.dc, entry.sku), entry.qty);
    const placement = { lat: order.lat, lng: order.lng, split: order.policy === 'split', lines };
    // The engine keeps no delivery window with the order: a change uses the default one.
    return this.allocate(placement, undefined, credit);
  }

  // ---------------------------------------------------------------- views

  view(order: ModelOrder): OrderView {
    const view: OrderView = {
      orderId: order.orderId,
      status: order.status,
      mode: order.mode,
      policy: order.policy,
      location: { lat: order.lat, lng: order.lng },
      allocation: this.allocationLines(order.allocation),
      etaMinutes: tenths(order.etaMinutes),
      createdAt: order.createdAt,
      updatedAt: order.updatedAt,
    };
    if (order.status === 'held') view.expiresAt = order.expiresAt;
    return view;
  }

  private allocationLines(entries: readonly Entry[]): { sku: string; dc: string; qty: number }[] {
    return entries.map((entry) => ({
      sku: this.skus[entry.sku].id,
      dc: this.dcs[entry.dc].id,
      qty: entry.qty,
    }));
  }

  order(orderId: string): ModelOrder | undefined {
    return this.orders.get(orderId);
  }

  allOrders(): IterableIterator<ModelOrder> {
    return this.orders.values();
  }

  get orderCount(): number {
    return this.orders.size;
  }

  // ---------------------------------------------------------------- records

  /** Appends a record the model decided, and applies it. */
  private decided(record: LogRecord, request?: string): void {
    this.records.push(record);
    this.apply(record, request);
  }

  /** Takes the records decided since the last call. */
  takeRecords(): LogRecord[] {
    return this.records.splice(0);
  }

  /**
   * Applies a record the engine wrote, after checking it is legal here. `request` is the
   * placement that wrote a `place` record, or the lines of a `change`, when known: the record's
   * allocation must then serve exactly those lines. With `slack`, reservations may take the
   * units of a negative count logged earlier in the same concurrent round (see `slack`).
   */
  applyRecord(
    record: LogRecord,
    request?: PlaceOrderInput | readonly OrderLineInput[],
    slack = false,
  ): void {
    const violation = this.check(record, request, slack);
    if (violation !== null) {
      throw new ModelViolation(`${record.type} record ${JSON.stringify(record)}: ${violation}`);
    }
    let key: string | undefined;
    if (record.type === 'place') {
      const parsed =
        request !== undefined && !Array.isArray(request)
          ? this.parsePlacement(request as PlaceOrderInput, true)
          : null;
      key = parsed !== null && !('ok' in parsed) ? parsed.request : `fp:${record.fingerprint}`;
    }
    if (record.type === 'adjust' && slack && record.delta < 0) {
      const cell = this.key(record.dc, record.sku);
      this.slack.set(cell, (this.slack.get(cell) ?? 0) - record.delta);
    }
    this.apply(record, key);
  }

  /** Forgets the slack of a concurrent round (call once every record of it is applied). */
  clearSlack(): void {
    this.slack.clear();
  }

  /** Why a record is not legal in the current state, or null. */
  private check(
    record: LogRecord,
    request: PlaceOrderInput | readonly OrderLineInput[] | undefined,
    slack: boolean,
  ): string | null {
    switch (record.type) {
      case 'dc':
      case 'sku': {
        const known =
          record.type === 'dc'
            ? this.dcIndexes.get(record.dc.id)
            : this.skuIndexes.get(record.sku.id);
        const index = record.type === 'dc' ? record.dc.index : record.sku.index;
        const next = record.type === 'dc' ? this.dcs.length : this.skus.length;
        return index === (known ?? next) ? null : `index ${index}, expected ${known ?? next}`;
      }
      case 'receive':
        return this.isCell(record.dc, record.sku) && isQuantity(record.qty)
          ? null
          : 'bad cell or qty';
      case 'adjust': {
        if (!this.isCell(record.dc, record.sku)) return 'bad cell';
        const after = this.cell(record.dc, record.sku).onHand + record.delta;
        if (after === record.onHand) return null;
        const drift = `the log gives on-hand ${after} after it, the record says ${record.onHand}`;
        if (!slack) return drift;
        this.adjustDriftCount++;
        if (this.adjustDrift.length < 4)
          this.adjustDrift.push(`${JSON.stringify(record)}: ${drift}`);
        return null;
      }
      case 'place':
        return this.checkPlace(record, request as PlaceOrderInput | undefined, slack);
      default:
        return this.checkTransition(record, request as OrderLineInput[] | undefined, slack);
    }
  }

  private checkPlace(
    record: Extract<LogRecord, { type: 'place' }>,
    request: PlaceOrderInput | undefined,
    slack: boolean,
  ): string | null {
    if (this.orders.has(record.orderId)) return 'the order id was already placed';
    const entries = this.entriesOf(record.allocation);
    if (typeof entries === 'string') return entries;
    const taking = this.overdraw(entries, new Map(), slack);
    if (taking !== null) return taking;
    if (record.mode === 0 && record.expiresAt <= record.at) return 'a hold that is already due';
    if (request === undefined) return null;
    const placement = this.parsePlacement(request, true);
    if ('ok' in placement) return `its request is refused here: ${placement.error.code}`;
    if ((record.mode === 1) !== (placement.mode === 'commit')) return 'mode differs';
    if ((record.policy === 1) !== placement.split) return 'policy differs';
    return this.checkServes(entries, placement, placement.maxMinutes, record.etaMinutes);
  }

  private checkTransition(
    record: Exclude<LogRecord, { type: 'dc' | 'sku' | 'receive' | 'adjust' | 'place' }>,
    lines: readonly OrderLineInput[] | undefined,
    slack: boolean,
  ): string | null {
    const order = this.orders.get(record.orderId);
    if (order === undefined) return 'unknown order';
    const wanted: Record<typeof record.type, readonly OrderStatus[]> = {
      confirm: ['held'],
      cancel: LIVE,
      expire: ['held'],
      extend: ['held'],
      change: ['held'],
      fulfil: ['confirmed'],
    };
    if (!wanted[record.type].includes(order.status)) return `the order is ${order.status}`;
    if (record.type === 'expire' && order.expiresAt > record.at) return 'the hold is not due';
    if (record.type === 'confirm') {
      const released = this.entriesOf(record.released);
      if (typeof released === 'string') return released;
      for (const entry of released) {
        const held = order.allocation.find((e) => e.dc === entry.dc && e.sku === entry.sku);
        if (held === undefined || held.qty < entry.qty) return 'releases more than it holds';
      }
    }
    if (record.type !== 'change') return null;
    const entries = this.entriesOf(record.allocation);
    if (typeof entries === 'string') return entries;
    const credit = new Map<number, number>();
    for (const entry of order.allocation) credit.set(this.key(entry.dc, entry.sku), entry.qty);
    const taking = this.overdraw(entries, credit, slack);
    if (taking !== null || lines === undefined) return taking;
    const parsed = this.parseLines(lines);
    if (!Array.isArray(parsed)) return `its lines are refused here: ${parsed.error.code}`;
    const placement = { lat: order.lat, lng: order.lng, split: order.policy === 'split' };
    return this.checkServes(entries, { ...placement, lines: parsed }, undefined, record.etaMinutes);
  }

  /** Flat (dc, sku, qty) triples as entries, or why they are malformed. */
  private entriesOf(triples: readonly number[]): Entry[] | string {
    if (triples.length % 3 !== 0) return 'allocation is not triples';
    const entries: Entry[] = [];
    const seen = new Set<number>();
    for (let at = 0; at < triples.length; at += 3) {
      const [dc, sku, qty] = [triples[at], triples[at + 1], triples[at + 2]];
      if (!this.isCell(dc, sku) || !isQuantity(qty)) return `bad entry (${dc}, ${sku}, ${qty})`;
      if (seen.has(this.key(dc, sku))) return `cell (${dc}, ${sku}) twice`;
      seen.add(this.key(dc, sku));
      entries.push({ dc, sku, qty });
    }
    if (entries.length > this.config.allocationsPerOrderMax) return 'too many entries';
    return entries;
  }

  /** Whether taking `entries` (less what `credit` already holds) needs more than is free. */
  private overdraw(entries: Entry[], credit: Map<number, number>, slack: boolean): string | null {
    for (const entry of entries) {
      const key = this.key(entry.dc, entry.sku);
      const need = entry.qty - (credit.get(key) ?? 0);
      const free =
        Math.max(this.cell(entry.dc, entry.sku).available, 0) +
        (slack ? (this.slack.get(key) ?? 0) : 0);
      if (need > free) return `takes ${need} at (${entry.dc}, ${entry.sku}) where ${free} are free`;
    }
    return null;
  }

  /** Whether `entries` fill exactly the lines, from DCs in range, with the ETA they imply. */
  private checkServes(
    entries: Entry[],
    placement: { lat: number; lng: number; split: boolean; lines: Line[] },
    maxMinutes: number | undefined,
    etaMinutes: number,
  ): string | null {
    const hits = this.dcsServing(
      placement.lat,
      placement.lng,
      maxMinutes ?? this.config.maxMinutesDefault,
    );
    for (const line of placement.lines) {
      const units = entries
        .filter((entry) => entry.sku === line.sku)
        .reduce((sum, entry) => sum + entry.qty, 0);
      if (units !== line.qty) return `serves ${units} of ${line.qty} units of SKU ${line.sku}`;
    }
    if (entries.some((entry) => !placement.lines.some((line) => line.sku === entry.sku))) {
      return 'allocates a SKU the lines do not ask for';
    }
    const used = hits.filter((hit) => entries.some((entry) => entry.dc === hit.dc));
    if (entries.some((entry) => !hits.some((hit) => hit.dc === entry.dc))) {
      return 'allocates at a DC that does not serve the location';
    }
    if (!placement.split && used.length !== 1) return 'a single-dc order at several DCs';
    const eta = Math.max(0, ...used.map((hit) => hit.eta));
    return eta === etaMinutes ? null : `ETA ${etaMinutes}, its DCs give ${eta}`;
  }

  private isCell(dc: number, sku: number): boolean {
    return (
      Number.isInteger(dc) &&
      Number.isInteger(sku) &&
      dc >= 0 &&
      sku >= 0 &&
      dc < this.dcs.length &&
      sku < this.skus.length
    );
  }

  /** The state change of a record: shared by the model's own decisions and `applyRecord`. */
  private apply(record: LogRecord, request?: string): void {
    switch (record.type) {
      case 'dc':
        this.dcIndexes.set(record.dc.id, record.dc.index);
        this.dcs[record.dc.index] = record.dc;
        if (this.geo.upsert(record.dc) !== null) throw new ModelViolation('geo refused a DC');
        return;
      case 'sku':
        this.skuIndexes.set(record.sku.id, record.sku.index);
        this.skus[record.sku.index] = record.sku;
        return;
      case 'receive':
        this.move(record.dc, record.sku, record.qty, record.qty);
        return;
      case 'adjust':
        this.move(record.dc, record.sku, record.delta, record.delta);
        return;
      case 'place':
        this.applyPlace(record, request ?? `fp:${record.fingerprint}`);
        return;
    }
    const order = this.orders.get(record.orderId)!;
    order.updatedAt = record.at;
    switch (record.type) {
      case 'confirm':
        this.release(order, this.entriesOf(record.released) as Entry[]);
        order.expiresAt = 0;
        order.status = 'confirmed';
        return;
      case 'cancel':
      case 'expire':
        for (const entry of order.allocation) this.move(entry.dc, entry.sku, 0, entry.qty);
        order.status = record.type === 'cancel' ? 'cancelled' : 'expired';
        return;
      case 'extend':
        order.expiresAt = record.expiresAt;
        return;
      case 'change':
        for (const entry of order.allocation) this.move(entry.dc, entry.sku, 0, entry.qty);
        order.allocation = this.entriesOf(record.allocation) as Entry[];
        for (const entry of order.allocation) this.move(entry.dc, entry.sku, 0, -entry.qty);
        order.etaMinutes = record.etaMinutes;
        return;
      case 'fulfil':
        for (const entry of order.allocation) this.move(entry.dc, entry.sku, -entry.qty, 0);
        order.status = 'fulfilled';
        return;
    }
  }

  private applyPlace(record: Extract<LogRecord, { type: 'place' }>, request: string): void {
    const allocation = this.entriesOf(record.allocation) as Entry[];
    for (const entry of allocation) this.move(entry.dc, entry.sku, 0, -entry.qty);
    this.orders.set(record.orderId, {
      orderId: record.orderId,
      status: record.mode === 1 ? 'confirmed' : 'held',
      mode: record.mode === 1 ? 'commit' : 'hold',
      policy: record.policy === 1 ? 'split' : 'single-dc',
      lat: record.lat,
      lng: record.lng,
      request,
      etaMinutes: record.etaMinutes,
      expiresAt: record.expiresAt,
      createdAt: record.at,
      updatedAt: record.at,
      allocation,
    });
  }

  /** Gives back part of an order's units; an entry left with none is dropped. */
  private release(order: ModelOrder, released: Entry[]): void {
    for (const part of released) {
      const entry = order.allocation.find((e) => e.dc === part.dc && e.sku === part.sku)!;
      entry.qty -= part.qty;
      this.move(part.dc, part.sku, 0, part.qty);
    }
    order.allocation = order.allocation.filter((entry) => entry.qty > 0);
  }

  private move(dc: number, sku: number, onHand: number, available: number): void {
    const cell = this.cell(dc, sku);
    cell.onHand += onHand;
    cell.available += available;
  }

  // ---------------------------------------------------------------- checks and copies

  /** The conservation invariant at every cell, and allocation shape, as problem lines. */
  problems(): string[] {
    const held = new Map<number, number>();
    const found: string[] = [];
    for (const order of this.orders.values()) {
      const cells = new Set(order.allocation.map((entry) => this.key(entry.dc, entry.sku)));
      if (cells.size !== order.allocation.length) found.push(`${order.orderId}: a cell twice`);
      if (!LIVE.includes(order.status)) continue;
      for (const entry of order.allocation) {
        const key = this.key(entry.dc, entry.sku);
        held.set(key, (held.get(key) ?? 0) + entry.qty);
      }
    }
    for (const [key, cell] of this.stock) {
      const reserved = cell.onHand - cell.available;
      if (reserved !== (held.get(key) ?? 0)) {
        found.push(
          `cell ${key}: onHand - available = ${reserved}, orders hold ${held.get(key) ?? 0}`,
        );
      }
    }
    for (const [key, units] of held) {
      if (!this.stock.has(key) && units !== 0) found.push(`cell ${key}: held without counters`);
    }
    return found;
  }

  /** A copy of the mutable state (stock and orders), to return to with `restore`. */
  save(): { stock: Map<number, Cell>; orders: Map<string, ModelOrder> } {
    return structuredClone({ stock: this.stock, orders: this.orders });
  }

  restore(saved: { stock: Map<number, Cell>; orders: Map<string, ModelOrder> }): void {
    const copy = structuredClone(saved);
    this.stock = copy.stock;
    this.orders = copy.orders;
  }
}

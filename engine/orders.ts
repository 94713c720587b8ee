/**
 * Orders: placement with allocation, and the lifecycle (confirm in full or in part, cancel,
 * extend, change a held basket, expire, fulfil, look up), on the shared order table.
 *
 * Every operation on an existing order runs under the lock of the order's bucket, so racing
 * operations on one order serialise and exactly one of them moves the stock. The order id is
 * the idempotency key: placing an id that exists answers the existing order and reserves
 * nothing. Refusals are not recorded, so retrying a refused order evaluates it afresh (it took
 * nothing the first time).
 *
 * Logging discipline (see log.ts): the record of a change is appended while the bucket lock is
 * held, and before any unit it frees becomes visible in the counters. Each transition is split
 * into a decision (live only) and an `apply*` step shared by live operation and replay, so
 * replay moves stock exactly as the live engine did.
 */

import type { ErrorBody, ErrorCode, LineRefusal } from '../protocol/codes.js';
import { ErrorCodes } from '../protocol/codes.js';
import {
  BUCKET_SLOTS,
  HOLD_TTL_SECONDS_MAX,
  ID_BYTES_MAX,
  MAX_MINUTES_CEILING,
} from './constants.js';
import {
  etaTenths,
  type OrderAnswers,
  RESULT_CREATED,
  RESULT_EXISTS,
  RESULT_REFUSED,
} from './answers.js';
import type { EngineContext } from './context.js';
import { DcHits } from './geo/index.js';
import type { LogRecord } from './log.js';
import { ALLOCATED, Allocation, CONTENDED, SHORT } from './reservation/allocate.js';
import {
  A_CELL,
  A_QTY,
  ALLOCATION_INTS,
  FLAG_COMMIT,
  FLAG_SPLIT,
  M_ALLOCATION_COUNT,
  M_FINGERPRINT,
  M_FLAGS,
  M_KEY_BYTES,
  META_INTS,
  STATE_CANCELLED,
  STATE_CONFIRMED,
  STATE_EXPIRED,
  STATE_FREE,
  STATE_FULFILLED,
  STATE_HELD,
  T_CREATED_AT,
  T_ETA,
  T_EXPIRES_AT,
  T_LAT,
  T_LNG,
  T_UPDATED_AT,
  TIMES_FLOATS,
} from './reservation/order-table.js';
import type {
  BasketCheckResult,
  Failure,
  OrderEventType,
  OrderLineInput,
  OrderRequest,
  OrderResult,
  OrderStatus,
  OrderView,
  PlaceOrderInput,
} from './types.js';
import {
  encodeId,
  hashBytes,
  isCount,
  isIntInRange,
  isLatitude,
  isLongitude,
  isNumberInRange,
  isQuantity,
  mixInt,
} from './validate.js';

/** The fields of an exported order (Engine's OrderSnapshot). */
export interface OrderSnapshotFields {
  slot: number;
  orderId: string;
  state: number;
  flags: number;
  fingerprint: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
  lat: number;
  lng: number;
  etaMinutes: number;
  allocation: number[];
}

const EVENT_TYPES: Record<Extract<LogRecord, { orderId: string }>['type'], OrderEventType> = {
  place: 'placed',
  confirm: 'confirmed',
  cancel: 'cancelled',
  expire: 'expired',
  extend: 'extended',
  change: 'changed',
  fulfil: 'fulfilled',
};

const STATUS_NAMES: readonly OrderStatus[] = [
  'held', // placeholder for STATE_FREE, never shown
  'held',
  'confirmed',
  'cancelled',
  'expired',
  'fulfilled',
];

/** The refusal for a lock that stayed busy for the whole bounded wait. */
function lockTimeout(waitMs: number): ErrorBody {
  return fail('LOCK_TIMEOUT', `the order's lock stayed busy for ${waitMs} ms`).error;
}

export function fail(
  code: ErrorCode,
  message?: string,
  details?: Record<string, unknown>,
): Failure {
  return { ok: false, error: { code, message: message ?? ErrorCodes[code].text, ...details } };
}

export class OrderBook {
  /** The DCs serving the order's location: at most DC_HITS_MAX, the nearest. */
  private readonly hits = new DcHits();
  private readonly allocation: Allocation;
  private readonly lineSku: Int32Array;
  private readonly lineQty: Int32Array;
  private lineCount = 0;
  /** Per-SKU stamps for duplicate-line detection in O(lines). */
  private readonly skuStamp: Int32Array;
  private stamp = 0;
  private readonly key = new Uint8Array(ID_BYTES_MAX);
  private keyBytes = 0;
  private readonly encoder = new TextEncoder();

  constructor(private readonly context: EngineContext) {
    const config = context.config;
    this.allocation = new Allocation(config.allocationsPerOrderMax);
    this.lineSku = new Int32Array(config.linesPerOrderMax);
    this.lineQty = new Int32Array(config.linesPerOrderMax);
    this.skuStamp = new Int32Array(config.skuCapacity);
  }

  // ---------------------------------------------------------------- placement

  /**
   * Places one order and appends its answer (created, the existing order for a retried id, or
   * a refusal) to `answers`. After it, `lastTicket` is the record to wait for (0 for none).
   */
  placeInto(request: OrderRequest, answers: OrderAnswers): void {
    this.context.lastTicket = 0;
    const invalid = this.parseRequest(request, true);
    if (invalid !== null) {
      answers.refuse(request.orderId, invalid.error);
      return;
    }
    if (!this.context.log.writable()) {
      answers.refuse(request.orderId, fail('READ_ONLY').error);
      return;
    }
    const fingerprint = this.fingerprint(request);
    const orders = this.context.orders;
    const hash = hashBytes(this.key, this.keyBytes);
    if (!orders.lockKey(hash)) {
      answers.refuse(request.orderId, lockTimeout(this.context.config.lockWaitMsMax));
      return;
    }
    try {
      const existing = orders.findKey(hash, this.key, this.keyBytes);
      if (existing >= 0) {
        this.expireIfDue(existing, request.orderId);
        if (orders.meta[existing * META_INTS + M_FINGERPRINT] !== fingerprint) {
          answers.refuse(request.orderId, fail('ORDER_ID_REUSED').error);
          return;
        }
        this.writeAnswer(existing, request.orderId, RESULT_EXISTS, answers, true);
        return;
      }
      const slot = orders.claimKey(hash);
      if (slot < 0) {
        const message = 'the order table has no room for this order id';
        answers.refuse(request.orderId, fail('CAPACITY_EXHAUSTED', message).error);
        return;
      }
      const refusal = this.allocate(request, false);
      if (refusal !== null) {
        answers.refuse(request.orderId, refusal.error);
        return;
      }
      const now = this.context.clock();
      const commit = request.mode === 'commit';
      const ttlSeconds = request.ttlSeconds ?? this.context.config.holdTtlSecondsDefault;
      const expiresAt = commit ? 0 : now + ttlSeconds * 1000;
      const record: LogRecord = {
        type: 'place',
        at: now,
        orderId: request.orderId,
        mode: commit ? 1 : 0,
        policy: request.policy === 'split' ? 1 : 0,
        lat: request.lat,
        lng: request.lng,
        etaMinutes: this.allocation.etaMinutes,
        expiresAt,
        fingerprint,
        allocation: this.allocationTriples(),
      };
      orders.writeKey(slot, hash, this.key, this.keyBytes);
      this.writeOrder(slot, record);
      this.context.lastTicket = this.context.log.append(record);
      orders.setState(slot, commit ? STATE_CONFIRMED : STATE_HELD, now);
      if (!commit) orders.noteDeadline(slot, expiresAt);
      this.notify(slot, record);
      this.writeAnswer(slot, request.orderId, RESULT_CREATED, answers, true);
    } finally {
      orders.unlockKey(hash);
    }
  }

  /** `placeInto` for one order given as an object, answered as an object. */
  placeOrder(input: PlaceOrderInput): OrderResult {
    const request = this.requestOf(input);
    if ('ok' in request) return request;
    const answers = this.context.answers;
    answers.reset();
    this.placeInto(request, answers);
    return orderResultOf(answers, 0, this.context);
  }

  /** A dry run of placement: the same checks and allocation, reading counters only. */
  checkBasket(input: PlaceOrderInput): BasketCheckResult {
    this.context.lastTicket = 0;
    const request = this.requestOf(input);
    if ('ok' in request) return request;
    const invalid = this.parseRequest(request, false);
    if (invalid !== null) return invalid;
    const refusal = this.allocate(request, true);
    if (refusal !== null) return refusal;
    return {
      ok: true,
      allocation: this.allocationLines(),
      etaMinutes: this.allocation.etaMinutes,
    };
  }

  /**
   * Fills the allocation scratch for the parsed lines at the DCs serving the input's location.
   * With `dryRun`, counters are read, never written. Returns a refusal or null.
   */
  private allocate(input: OrderRequest, dryRun: boolean, withCredit = false): Failure | null {
    const context = this.context;
    const maxMinutes = input.maxMinutes ?? context.config.maxMinutesDefault;
    if (context.geo.resolve(input.lat, input.lng, maxMinutes, this.hits) === 0) {
      return fail('NO_DC_IN_RANGE', 'no active DC delivers to this location within the window', {
        lines: this.allLines('NO_DC_IN_RANGE'),
      });
    }
    const allocation = this.allocation;
    if (!withCredit) allocation.reset();
    allocation.dryRun = dryRun;
    const split = input.policy === 'split';
    const outcome = split
      ? allocation.allocateSplit(
          context.stock,
          this.hits,
          this.lineSku,
          this.lineQty,
          this.lineCount,
        )
      : allocation.allocateSingleDc(
          context.stock,
          this.hits,
          this.lineSku,
          this.lineQty,
          this.lineCount,
        );
    allocation.dryRun = false;
    if (outcome === ALLOCATED) return null;
    if (outcome === CONTENDED) return fail('CONTENDED');
    if (outcome !== SHORT) return fail('TOO_FRAGMENTED');
    return this.shortfall(split);
  }

  /** Explains a refusal line by line from what the counters show now. */
  private shortfall(split: boolean): Failure {
    const context = this.context;
    const lines: LineRefusal[] = [];
    for (let line = 0; line < this.lineCount; line++) {
      const sku = this.lineSku[line];
      const reachable = this.allocation.reachable(context.stock, this.hits, sku, split);
      if (reachable < this.lineQty[line]) {
        lines.push({
          sku: context.catalogue.skus[sku].id,
          code: 'OUT_OF_STOCK',
          requested: this.lineQty[line],
          available: reachable,
        });
      }
    }
    if (lines.length === 0 && !split) return fail('NOT_IN_ONE_DC');
    return fail('OUT_OF_STOCK', undefined, { lines });
  }

  // ---------------------------------------------------------------- lifecycle

  confirm(orderId: string, lines?: readonly OrderLineInput[]): OrderResult {
    return this.transition(orderId, OP_CONFIRM, lines, 0);
  }

  cancel(orderId: string): OrderResult {
    return this.transition(orderId, OP_CANCEL, undefined, 0);
  }

  extend(orderId: string, ttlSeconds: number): OrderResult {
    if (!isIntInRange(ttlSeconds, 1, HOLD_TTL_SECONDS_MAX)) return fail('BAD_TTL');
    return this.transition(orderId, OP_EXTEND, undefined, ttlSeconds);
  }

  changeOrder(orderId: string, lines: readonly OrderLineInput[]): OrderResult {
    return this.transition(orderId, OP_CHANGE, lines, 0);
  }

  fulfil(orderId: string): OrderResult {
    return this.transition(orderId, OP_FULFIL, undefined, 0);
  }

  getOrder(orderId: string): OrderResult {
    return this.transition(orderId, OP_GET, undefined, 0);
  }

  /** Cancels an order and appends the answer to `answers` (the typed twin of `cancel`). */
  cancelInto(orderId: string, answers: OrderAnswers): void {
    this.transitionInto(orderId, OP_CANCEL, undefined, 0, answers);
  }

  private transition(
    orderId: string,
    op: number,
    lines: readonly OrderLineInput[] | undefined,
    ttlSeconds: number,
  ): OrderResult {
    const answers = this.context.answers;
    answers.reset();
    this.transitionInto(orderId, op, lines, ttlSeconds, answers);
    return orderResultOf(answers, 0, this.context);
  }

  private transitionInto(
    orderId: string,
    op: number,
    lines: readonly OrderLineInput[] | undefined,
    ttlSeconds: number,
    answers: OrderAnswers,
  ): void {
    const context = this.context;
    context.lastTicket = 0;
    this.keyBytes = encodeId(orderId, this.encoder, this.key);
    if (this.keyBytes < 0) {
      answers.refuse(String(orderId), fail('BAD_ORDER_ID').error);
      return;
    }
    if (op !== OP_GET && !context.log.writable()) {
      answers.refuse(orderId, fail('READ_ONLY').error);
      return;
    }
    const orders = context.orders;
    const hash = hashBytes(this.key, this.keyBytes);
    if (!orders.lockKey(hash)) {
      answers.refuse(orderId, lockTimeout(context.config.lockWaitMsMax));
      return;
    }
    try {
      const slot = orders.findKey(hash, this.key, this.keyBytes);
      if (slot < 0) {
        answers.refuse(orderId, fail('ORDER_NOT_FOUND').error);
        return;
      }
      this.expireIfDue(slot, orderId);
      const refusal = this.decide(slot, orderId, op, lines, ttlSeconds);
      if (refusal !== null) answers.refuse(orderId, refusal.error);
      else this.writeAnswer(slot, orderId, RESULT_EXISTS, answers);
    } finally {
      orders.unlockKey(hash);
    }
  }

  /** Makes the transition `op` on a locked slot; a refusal, or null when done (or a no-op). */
  private decide(
    slot: number,
    orderId: string,
    op: number,
    lines: readonly OrderLineInput[] | undefined,
    ttlSeconds: number,
  ): Failure | null {
    const context = this.context;
    const state = context.orders.state(slot);
    switch (op) {
      case OP_GET:
        return null;
      case OP_CONFIRM:
        if (state === STATE_CONFIRMED) return null;
        if (state !== STATE_HELD) return this.wrongState(slot, 'confirm');
        return this.confirmHeld(slot, orderId, lines);
      case OP_CANCEL:
        if (state === STATE_CANCELLED) return null;
        if (state !== STATE_HELD && state !== STATE_CONFIRMED)
          return this.wrongState(slot, 'cancel');
        this.logAndApply(slot, { type: 'cancel', at: context.clock(), orderId });
        return null;
      case OP_EXTEND: {
        if (state !== STATE_HELD) return this.wrongState(slot, 'extend');
        const at = context.clock();
        this.logAndApply(slot, { type: 'extend', at, orderId, expiresAt: at + ttlSeconds * 1000 });
        return null;
      }
      case OP_CHANGE:
        if (state !== STATE_HELD) return this.wrongState(slot, 'change');
        return this.changeHeld(slot, orderId, lines);
      case OP_FULFIL:
        if (state === STATE_FULFILLED) return null;
        if (state !== STATE_CONFIRMED) return this.wrongState(slot, 'fulfil');
        this.logAndApply(slot, { type: 'fulfil', at: context.clock(), orderId });
        return null;
    }
    throw new Error(`orders: unknown transition ${op}`);
  }

  private wrongState(slot: number, action: string): Failure {
    const status = STATUS_NAMES[this.context.orders.state(slot)];
    return fail('INVALID_STATE', `cannot ${action} an order that is ${status}`, { status });
  }

  private logAndApply(slot: number, record: Extract<LogRecord, { orderId: string }>): void {
    this.context.lastTicket = this.context.log.append(record);
    this.applyToSlot(slot, record);
    this.notify(slot, record);
  }

  private confirmHeld(
    slot: number,
    orderId: string,
    lines: readonly OrderLineInput[] | undefined,
  ): Failure | null {
    const released: number[] = [];
    if (lines !== undefined) {
      const invalid = this.planPartialConfirm(slot, lines, released);
      if (invalid !== null) return invalid;
    }
    this.logAndApply(slot, { type: 'confirm', at: this.context.clock(), orderId, released });
    return null;
  }

  /**
   * Works out what a partial confirm releases: for each SKU, the order keeps the listed
   * quantity from its entries in allocation order (nearest DC first) and releases the rest.
   * SKUs not listed are released whole.
   */
  private planPartialConfirm(
    slot: number,
    lines: readonly OrderLineInput[],
    released: number[],
  ): Failure | null {
    const { orders, catalogue, config } = this.context;
    if (!Array.isArray(lines)) return fail('BAD_REQUEST', 'lines must be an array');
    if (lines.length > config.linesPerOrderMax) return fail('TOO_MANY_LINES');
    const keep = new Map<number, number>();
    for (const line of lines) {
      if (typeof line !== 'object' || line === null)
        return fail('BAD_REQUEST', 'a line must be an object');
      const sku = typeof line.sku === 'string' ? catalogue.skuIndexes.get(line.sku) : undefined;
      if (sku === undefined) return fail('UNKNOWN_SKU', `unknown SKU ${String(line.sku)}`);
      if (!isCount(line.qty)) return fail('BAD_QUANTITY', 'a confirmed quantity is an int32 ≥ 0');
      if (keep.has(sku)) return fail('DUPLICATE_LINE');
      keep.set(sku, line.qty);
    }
    const base = orders.allocationBase(slot);
    const count = orders.allocationCount(slot);
    const skuCapacity = config.skuCapacity;
    const held = new Map<number, number>();
    for (let entry = 0; entry < count; entry++) {
      const cell = orders.allocations[base + entry * ALLOCATION_INTS + A_CELL];
      const sku = cell % skuCapacity;
      held.set(
        sku,
        (held.get(sku) ?? 0) + orders.allocations[base + entry * ALLOCATION_INTS + A_QTY],
      );
    }
    let kept = 0;
    for (const [sku, qty] of keep) {
      const have = held.get(sku);
      if (have === undefined)
        return fail('BAD_FIELD', `SKU ${catalogue.skus[sku].id} is not in this order`);
      if (qty > have)
        return fail(
          'BAD_QUANTITY',
          `cannot confirm more of ${catalogue.skus[sku].id} than is held`,
        );
      kept += qty;
    }
    if (kept === 0)
      return fail('EMPTY_ORDER', 'a partial confirm keeps at least one unit; cancel instead');
    for (let entry = 0; entry < count; entry++) {
      const cell = orders.allocations[base + entry * ALLOCATION_INTS + A_CELL];
      const qty = orders.allocations[base + entry * ALLOCATION_INTS + A_QTY];
      const sku = cell % skuCapacity;
      const keepLeft = keep.get(sku) ?? 0;
      const keepHere = Math.min(keepLeft, qty);
      keep.set(sku, keepLeft - keepHere);
      if (qty > keepHere) released.push(Math.floor(cell / skuCapacity), sku, qty - keepHere);
    }
    return null;
  }

  private changeHeld(
    slot: number,
    orderId: string,
    lines: readonly OrderLineInput[] | undefined,
  ): Failure | null {
    const { orders, config } = this.context;
    const base = slot * TIMES_FLOATS;
    const parsed = this.linesOf(lines);
    if ('ok' in parsed) return parsed;
    const input: OrderRequest = {
      orderId,
      lat: orders.times[base + T_LAT],
      lng: orders.times[base + T_LNG],
      mode: 'hold',
      policy: (orders.meta[slot * META_INTS + M_FLAGS] & FLAG_SPLIT) !== 0 ? 'split' : 'single-dc',
      ttlSeconds: undefined,
      maxMinutes: undefined,
      skus: parsed.skus,
      qty: parsed.qty,
      lineStart: 0,
      lineCount: parsed.skus.length,
    };
    const invalid = this.parseLines(input);
    if (invalid !== null) return invalid;
    // The order's own units count as available to it.
    const allocation = this.allocation;
    allocation.reset();
    const aBase = orders.allocationBase(slot);
    const count = orders.allocationCount(slot);
    for (let entry = 0; entry < count; entry++) {
      const cell = orders.allocations[aBase + entry * ALLOCATION_INTS + A_CELL];
      const qty = orders.allocations[aBase + entry * ALLOCATION_INTS + A_QTY];
      allocation.addCredit(Math.floor(cell / config.skuCapacity), cell % config.skuCapacity, qty);
    }
    const refusal = this.allocate(input, false, true);
    if (refusal !== null) return refusal;
    const record: LogRecord = {
      type: 'change',
      at: this.context.clock(),
      orderId,
      fingerprint: orders.meta[slot * META_INTS + M_FINGERPRINT],
      etaMinutes: allocation.etaMinutes,
      expiresAt: orders.times[base + T_EXPIRES_AT],
      allocation: this.allocationTriples(),
    };
    this.context.lastTicket = this.context.log.append(record);
    // Live: the new allocation's extra units are already taken; give back unused credit.
    for (let at = 0; at < allocation.creditCount; at++) {
      const left = allocation.creditLeft[at];
      if (left > 0)
        this.context.stock.release(allocation.creditDc[at], allocation.creditSku[at], left);
    }
    this.writeAllocation(slot, record.allocation);
    this.touch(slot, record.at);
    orders.times[base + T_ETA] = record.etaMinutes;
    const observer = this.context.observer;
    if (observer !== null) {
      // The cells the basket left; the new ones are reported by notify.
      for (let at = 0; at < allocation.creditCount; at++) {
        observer.stockChanged(allocation.creditDc[at], allocation.creditSku[at]);
      }
    }
    this.notify(slot, record);
    return null;
  }

  // ---------------------------------------------------------------- expiry

  /** Expires a hold whose deadline passed (called under the bucket lock). */
  private expireIfDue(slot: number, orderId: string): void {
    const orders = this.context.orders;
    if (orders.state(slot) !== STATE_HELD) return;
    const now = this.context.clock();
    if (orders.times[slot * TIMES_FLOATS + T_EXPIRES_AT] > now) return;
    const record: LogRecord = { type: 'expire', at: now, orderId };
    this.context.lastTicket = this.context.log.append(record);
    this.applyToSlot(slot, record);
    this.notify(slot, record);
  }

  /** Tells the observer which cells a live change moved and what happened to the order. */
  private notify(slot: number, record: Extract<LogRecord, { orderId: string }>): void {
    const { observer, orders, config } = this.context;
    if (observer === null) return;
    if (record.type === 'confirm') {
      const released = record.released;
      for (let at = 0; at < released.length; at += 3)
        observer.stockChanged(released[at], released[at + 1]);
    } else if (record.type !== 'extend') {
      const base = orders.allocationBase(slot);
      const count = orders.allocationCount(slot);
      for (let entry = 0; entry < count; entry++) {
        const cell = orders.allocations[base + entry * ALLOCATION_INTS + A_CELL];
        observer.stockChanged(Math.floor(cell / config.skuCapacity), cell % config.skuCapacity);
      }
    }
    observer.orderEvent({
      type: EVENT_TYPES[record.type],
      orderId: record.orderId,
      status: STATUS_NAMES[orders.state(slot)],
      at: record.at,
    });
  }

  /**
   * Expires holds past their deadline. Buckets whose earliest-deadline hint lies in the future
   * are skipped without reading their slots, so a sweep costs one read per bucket plus the
   * buckets with something due.
   */
  expireDue(): number {
    const orders = this.context.orders;
    const now = this.context.clock();
    let expired = 0;
    for (
      let bucket = orders.nextDueBucket(0, now);
      bucket < orders.bucketCount;
      bucket = orders.nextDueBucket(bucket + 1, now)
    ) {
      const first = bucket * BUCKET_SLOTS;
      for (let slot = first; slot < first + BUCKET_SLOTS; slot++) {
        // Unlocked reads are a hint; the state and deadline are checked again under the lock.
        if (orders.state(slot) !== STATE_HELD) continue;
        if (orders.times[slot * TIMES_FLOATS + T_EXPIRES_AT] > now) continue;
        // The key hash is only written under the key's locks; if the slot was reused between
        // the unlocked read and the lock, the checks below see the new order.
        const hash = orders.hashes[slot];
        // A lock held for that long: this hold is expired by a later sweep.
        if (!orders.lockKey(hash)) continue;
        try {
          const same = orders.hashes[slot] === hash;
          if (same && orders.state(slot) === STATE_HELD) {
            this.expireIfDue(slot, this.keyString(slot));
            if (orders.state(slot) === STATE_EXPIRED) expired++;
          }
        } finally {
          orders.unlockKey(hash);
        }
      }
      orders.refreshDeadline(bucket);
    }
    return expired;
  }

  // ---------------------------------------------------------------- replay

  /** Applies an order record from the log: the same state changes the live engine made. */
  replay(record: Extract<LogRecord, { orderId: string }>): void {
    const orders = this.context.orders;
    this.keyBytes = encodeId(record.orderId, this.encoder, this.key);
    if (this.keyBytes < 0)
      throw new Error(`replay: bad order id ${JSON.stringify(record.orderId)}`);
    const hash = hashBytes(this.key, this.keyBytes);
    // Replay runs alone on the table: a busy lock is a bug.
    if (!orders.lockKey(hash)) throw new Error(`replay: the lock of ${record.orderId} is held`);
    try {
      const slot = orders.findKey(hash, this.key, this.keyBytes);
      if (record.type === 'place') {
        if (slot >= 0) throw new Error(`replay: order ${record.orderId} placed twice`);
        const claimed = orders.claimKey(hash);
        if (claimed < 0) throw new Error(`replay: no room for order ${record.orderId}`);
        orders.writeKey(claimed, hash, this.key, this.keyBytes);
        this.writeOrder(claimed, record);
        const triples = record.allocation;
        for (let at = 0; at < triples.length; at += 3) {
          this.context.stock.forceReserve(triples[at], triples[at + 1], triples[at + 2]);
        }
        orders.setState(claimed, record.mode === 1 ? STATE_CONFIRMED : STATE_HELD, record.at);
        if (record.mode === 0) orders.noteDeadline(claimed, record.expiresAt);
        return;
      }
      if (slot < 0) throw new Error(`replay: ${record.type} of unknown order ${record.orderId}`);
      if (record.type === 'change') {
        this.releaseAll(slot);
        const triples = record.allocation;
        for (let at = 0; at < triples.length; at += 3) {
          this.context.stock.forceReserve(triples[at], triples[at + 1], triples[at + 2]);
        }
        this.writeAllocation(slot, triples);
        orders.times[slot * TIMES_FLOATS + T_ETA] = record.etaMinutes;
        this.touch(slot, record.at);
        return;
      }
      this.applyToSlot(slot, record);
    } finally {
      orders.unlockKey(hash);
    }
  }

  /** The stock and state effect of a logged transition (not place or change). */
  private applyToSlot(slot: number, record: LogRecord): void {
    const orders = this.context.orders;
    switch (record.type) {
      case 'confirm': {
        const released = record.released;
        for (let at = 0; at < released.length; at += 3) {
          this.releaseFrom(slot, released[at], released[at + 1], released[at + 2]);
        }
        orders.times[slot * TIMES_FLOATS + T_EXPIRES_AT] = 0;
        orders.setState(slot, STATE_CONFIRMED, record.at);
        break;
      }
      case 'cancel':
      case 'expire':
        this.releaseAll(slot);
        orders.setState(
          slot,
          record.type === 'cancel' ? STATE_CANCELLED : STATE_EXPIRED,
          record.at,
        );
        break;
      case 'extend':
        orders.times[slot * TIMES_FLOATS + T_EXPIRES_AT] = record.expiresAt;
        break;
      case 'fulfil':
        this.pickAll(slot);
        orders.setState(slot, STATE_FULFILLED, record.at);
        break;
      default:
        throw new Error(`orders: cannot apply ${record.type} to a slot`);
    }
    this.touch(slot, record.at);
  }

  /** Gives back every unit the order holds (cancel, expire, and replay of a change). */
  private releaseAll(slot: number): void {
    this.moveAll(slot, false);
  }

  /** The order's units leave the building (fulfil). */
  private pickAll(slot: number): void {
    this.moveAll(slot, true);
  }

  private moveAll(slot: number, pick: boolean): void {
    const { orders, stock, config } = this.context;
    const base = orders.allocationBase(slot);
    const count = orders.allocationCount(slot);
    for (let entry = 0; entry < count; entry++) {
      const cell = orders.allocations[base + entry * ALLOCATION_INTS + A_CELL];
      const qty = orders.allocations[base + entry * ALLOCATION_INTS + A_QTY];
      const dc = Math.floor(cell / config.skuCapacity);
      const sku = cell % config.skuCapacity;
      if (pick) stock.pick(dc, sku, qty);
      else stock.release(dc, sku, qty);
    }
  }

  /** Releases `qty` of the order's units at (dc, sku) and shrinks its allocation to match. */
  private releaseFrom(slot: number, dc: number, sku: number, qty: number): void {
    const { orders, stock, config } = this.context;
    const base = orders.allocationBase(slot);
    const count = orders.allocationCount(slot);
    const cell = dc * config.skuCapacity + sku;
    for (let entry = 0; entry < count; entry++) {
      const at = base + entry * ALLOCATION_INTS;
      if (orders.allocations[at + A_CELL] !== cell) continue;
      if (orders.allocations[at + A_QTY] < qty) throw new Error('orders: release exceeds holding');
      orders.allocations[at + A_QTY] -= qty;
      stock.release(dc, sku, qty);
      if (orders.allocations[at + A_QTY] === 0) this.removeEntry(slot, entry);
      return;
    }
    throw new Error(`orders: release of a cell the order does not hold (${dc}, ${sku})`);
  }

  private removeEntry(slot: number, entry: number): void {
    const orders = this.context.orders;
    const base = orders.allocationBase(slot);
    const count = orders.allocationCount(slot);
    const from = base + (entry + 1) * ALLOCATION_INTS;
    orders.allocations.copyWithin(
      base + entry * ALLOCATION_INTS,
      from,
      base + count * ALLOCATION_INTS,
    );
    orders.meta[slot * META_INTS + M_ALLOCATION_COUNT] = count - 1;
  }

  // ---------------------------------------------------------------- slots

  private writeOrder(slot: number, record: Extract<LogRecord, { type: 'place' }>): void {
    const orders = this.context.orders;
    const meta = slot * META_INTS;
    orders.meta[meta + M_FLAGS] =
      (record.mode === 1 ? FLAG_COMMIT : 0) | (record.policy === 1 ? FLAG_SPLIT : 0);
    orders.meta[meta + M_FINGERPRINT] = record.fingerprint;
    const base = slot * TIMES_FLOATS;
    orders.times[base + T_CREATED_AT] = record.at;
    orders.times[base + T_UPDATED_AT] = record.at;
    orders.times[base + T_EXPIRES_AT] = record.expiresAt;
    orders.times[base + T_LAT] = record.lat;
    orders.times[base + T_LNG] = record.lng;
    orders.times[base + T_ETA] = record.etaMinutes;
    this.writeAllocation(slot, record.allocation);
  }

  private writeAllocation(slot: number, triples: readonly number[]): void {
    const { orders, config } = this.context;
    const base = orders.allocationBase(slot);
    const count = triples.length / 3;
    if (count > orders.allocationsMax) throw new Error('orders: allocation exceeds the slot');
    for (let entry = 0; entry < count; entry++) {
      const at = base + entry * ALLOCATION_INTS;
      orders.allocations[at + A_CELL] =
        triples[entry * 3] * config.skuCapacity + triples[entry * 3 + 1];
      orders.allocations[at + A_QTY] = triples[entry * 3 + 2];
    }
    orders.meta[slot * META_INTS + M_ALLOCATION_COUNT] = count;
  }

  private touch(slot: number, at: number): void {
    this.context.orders.times[slot * TIMES_FLOATS + T_UPDATED_AT] = at;
  }

  keyString(slot: number): string {
    const orders = this.context.orders;
    const length = orders.meta[slot * META_INTS + M_KEY_BYTES];
    return Buffer.from(orders.keys.buffer, slot * ID_BYTES_MAX, length).toString('utf8');
  }

  /**
   * Appends the order in `slot` to `answers` as it is now. For a placement (created, or a
   * retry with the same lines) each allocation entry names the request line it serves, from
   * the lines just parsed; for other operations the line is -1.
   */
  private writeAnswer(
    slot: number,
    orderId: string,
    result: number,
    answers: OrderAnswers,
    withLines = false,
  ): void {
    const { orders, config } = this.context;
    const at = answers.beginOrder(orderId, result);
    const flags = orders.meta[slot * META_INTS + M_FLAGS];
    const base = slot * TIMES_FLOATS;
    const state = orders.state(slot);
    answers.state[at] = state;
    answers.commit[at] = (flags & FLAG_COMMIT) !== 0 ? 1 : 0;
    answers.split[at] = (flags & FLAG_SPLIT) !== 0 ? 1 : 0;
    answers.etaTenths[at] = etaTenths(orders.times[base + T_ETA]);
    answers.expiresAt[at] = state === STATE_HELD ? orders.times[base + T_EXPIRES_AT] : 0;
    answers.createdAt[at] = orders.times[base + T_CREATED_AT];
    answers.updatedAt[at] = orders.times[base + T_UPDATED_AT];
    answers.lat[at] = orders.times[base + T_LAT];
    answers.lng[at] = orders.times[base + T_LNG];
    const aBase = orders.allocationBase(slot);
    const count = orders.allocationCount(slot);
    const skuCapacity = config.skuCapacity;
    for (let entry = 0; entry < count; entry++) {
      const cell = orders.allocations[aBase + entry * ALLOCATION_INTS + A_CELL];
      const qty = orders.allocations[aBase + entry * ALLOCATION_INTS + A_QTY];
      const sku = cell % skuCapacity;
      answers.addAllocation(
        at,
        Math.floor(cell / skuCapacity),
        sku,
        qty,
        withLines ? this.lineOf(sku) : -1,
      );
    }
  }

  /** The parsed line that asks for `sku` (the request's lines are distinct SKUs). */
  private lineOf(sku: number): number {
    for (let line = 0; line < this.lineCount; line++) if (this.lineSku[line] === sku) return line;
    return -1;
  }

  // ---------------------------------------------------------------- input

  /**
   * An object placement as a request, or a refusal for what is wrong with its shape (the
   * values themselves are checked by `parseRequest`, for both paths).
   */
  private requestOf(input: PlaceOrderInput): OrderRequest | Failure {
    if (typeof input !== 'object' || input === null)
      return fail('BAD_REQUEST', 'order must be an object');
    const location = input.location as unknown;
    if (typeof location !== 'object' || location === null) return fail('BAD_LOCATION');
    const lines = this.linesOf(input.lines);
    if ('ok' in lines) return lines;
    return {
      orderId: input.orderId,
      lat: (location as { lat: number }).lat,
      lng: (location as { lng: number }).lng,
      mode: input.mode,
      policy: input.policy as OrderRequest['policy'],
      ttlSeconds: input.ttlSeconds,
      maxMinutes: input.maxMinutes,
      skus: lines.skus,
      qty: lines.qty,
      lineStart: 0,
      lineCount: lines.skus.length,
    };
  }

  /** Object lines as columns, or a refusal for a shape that is not an array of objects. */
  private linesOf(lines: unknown): { skus: unknown[]; qty: unknown[] } | Failure {
    if (!Array.isArray(lines)) return fail('BAD_REQUEST', 'lines must be an array');
    if (lines.length > this.context.config.linesPerOrderMax) {
      return fail('TOO_MANY_LINES', `at most ${this.context.config.linesPerOrderMax} lines`);
    }
    const skus = new Array<unknown>(lines.length);
    const qty = new Array<unknown>(lines.length);
    for (let line = 0; line < lines.length; line++) {
      const entry = lines[line] as OrderLineInput;
      if (typeof entry !== 'object' || entry === null)
        return fail('BAD_REQUEST', 'a line must be an object');
      skus[line] = entry.sku;
      qty[line] = entry.qty;
    }
    return { skus, qty };
  }

  /** Validates a placement (with or without its order id) and parses its lines. */
  private parseRequest(input: OrderRequest, needsId: boolean): Failure | null {
    if (needsId || input.orderId !== undefined) {
      this.keyBytes = encodeId(input.orderId, this.encoder, this.key);
      if (this.keyBytes < 0) return fail('BAD_ORDER_ID');
    }
    if (!isLatitude(input.lat) || !isLongitude(input.lng)) return fail('BAD_LOCATION');
    if (input.mode !== 'hold' && input.mode !== 'commit') return fail('BAD_MODE');
    if (input.policy !== undefined && input.policy !== 'single-dc' && input.policy !== 'split') {
      return fail('BAD_POLICY');
    }
    if (
      input.ttlSeconds !== undefined &&
      !isIntInRange(input.ttlSeconds, 1, HOLD_TTL_SECONDS_MAX)
    ) {
      return fail('BAD_TTL', `ttlSeconds must be an integer in [1, ${HOLD_TTL_SECONDS_MAX}]`);
    }
    if (
      input.maxMinutes !== undefined &&
      !isNumberInRange(input.maxMinutes, 1, MAX_MINUTES_CEILING)
    ) {
      return fail('BAD_FIELD', `maxMinutes must be in [1, ${MAX_MINUTES_CEILING}]`);
    }
    return this.parseLines(input);
  }

  /** Parses a request's lines into lineSku / lineQty; refuses with per-line reasons. */
  private parseLines(input: OrderRequest): Failure | null {
    const { catalogue, config } = this.context;
    const count = input.lineCount;
    if (count === 0) return fail('EMPTY_ORDER');
    if (count > config.linesPerOrderMax) {
      return fail('TOO_MANY_LINES', `at most ${config.linesPerOrderMax} lines`);
    }
    const stamp = ++this.stamp;
    const skus = input.skus as readonly unknown[];
    const quantities = input.qty as ArrayLike<unknown>;
    let refusals: LineRefusal[] | null = null;
    for (let line = 0; line < count; line++) {
      const id = skus[input.lineStart + line];
      const qty = quantities[input.lineStart + line];
      const sku = typeof id === 'string' ? catalogue.skuIndexes.get(id) : undefined;
      let code: LineRefusal['code'] | null = null;
      if (sku === undefined) code = 'UNKNOWN_SKU';
      else if (!isQuantity(qty)) code = 'BAD_QUANTITY';
      else if (this.skuStamp[sku] === stamp) code = 'DUPLICATE_LINE';
      else if (catalogue.skuMaxPerOrder[sku] > 0 && qty > catalogue.skuMaxPerOrder[sku]) {
        code = 'OVER_LIMIT';
      }
      if (code !== null) {
        refusals ??= [];
        const requested = typeof qty === 'number' ? qty : 0;
        const refusal: LineRefusal = { sku: String(id), code, requested, available: 0 };
        if (code === 'OVER_LIMIT') refusal.limit = catalogue.skuMaxPerOrder[sku as number];
        refusals.push(refusal);
        continue;
      }
      this.skuStamp[sku as number] = stamp;
      this.lineSku[line] = sku as number;
      this.lineQty[line] = qty as number;
    }
    if (refusals !== null) return fail(refusals[0].code, undefined, { lines: refusals });
    this.lineCount = count;
    return null;
  }

  private fingerprint(input: OrderRequest): number {
    let hash = input.mode === 'commit' ? 1 : 2;
    hash = mixInt(hash, input.policy === 'split' ? 1 : 0);
    hash = mixInt(hash, input.ttlSeconds ?? -1);
    hash = mixInt(hash, input.maxMinutes ?? -1);
    hash = mixInt(hash, Math.round(input.lat * 1e6));
    hash = mixInt(hash, Math.round(input.lng * 1e6));
    for (let line = 0; line < this.lineCount; line++) {
      hash = mixInt(hash, this.lineSku[line]);
      hash = mixInt(hash, this.lineQty[line]);
    }
    return hash;
  }

  private allocationTriples(): number[] {
    const allocation = this.allocation;
    const triples = new Array<number>(allocation.count * 3);
    for (let entry = 0; entry < allocation.count; entry++) {
      triples[entry * 3] = allocation.dc[entry];
      triples[entry * 3 + 1] = allocation.sku[entry];
      triples[entry * 3 + 2] = allocation.qty[entry];
    }
    return triples;
  }

  private allocationLines(): { sku: string; dc: string; qty: number }[] {
    const { catalogue } = this.context;
    const allocation = this.allocation;
    const lines = [];
    for (let entry = 0; entry < allocation.count; entry++) {
      lines.push({
        sku: catalogue.skus[allocation.sku[entry]].id,
        dc: catalogue.dcs[allocation.dc[entry]].id,
        qty: allocation.qty[entry],
      });
    }
    return lines;
  }

  private allLines(code: LineRefusal['code']): LineRefusal[] {
    const lines: LineRefusal[] = [];
    for (let line = 0; line < this.lineCount; line++) {
      lines.push({
        sku: this.context.catalogue.skus[this.lineSku[line]].id,
        code,
        requested: this.lineQty[line],
        available: 0,
      });
    }
    return lines;
  }

  /** Restores orders exported by Engine.exportState into their original slots. */
  importOrders(snapshots: readonly OrderSnapshotFields[]): void {
    const orders = this.context.orders;
    for (const order of snapshots) {
      this.keyBytes = encodeId(order.orderId, this.encoder, this.key);
      if (this.keyBytes < 0)
        throw new Error(`snapshot: bad order id ${JSON.stringify(order.orderId)}`);
      const hash = hashBytes(this.key, this.keyBytes);
      if (!orders.slotFitsKey(order.slot, hash)) {
        throw new Error(`snapshot: order ${order.orderId} is in the wrong bucket`);
      }
      if (orders.state(order.slot) !== STATE_FREE) throw new Error('snapshot: slot used twice');
      orders.writeKey(order.slot, hash, this.key, this.keyBytes);
      const meta = order.slot * META_INTS;
      orders.meta[meta + M_FLAGS] = order.flags;
      orders.meta[meta + M_FINGERPRINT] = order.fingerprint;
      const base = order.slot * TIMES_FLOATS;
      orders.times[base + T_CREATED_AT] = order.createdAt;
      orders.times[base + T_UPDATED_AT] = order.updatedAt;
      orders.times[base + T_EXPIRES_AT] = order.expiresAt;
      orders.times[base + T_LAT] = order.lat;
      orders.times[base + T_LNG] = order.lng;
      orders.times[base + T_ETA] = order.etaMinutes;
      this.writeAllocation(order.slot, order.allocation);
      orders.setState(order.slot, order.state, order.updatedAt);
      if (order.state === STATE_HELD) orders.noteDeadline(order.slot, order.expiresAt);
    }
  }

  /** What is wrong with a used slot's identity (verify): its state, key bytes and bucket. */
  checkSlot(slot: number): string[] {
    const orders = this.context.orders;
    const problems: string[] = [];
    const state = orders.state(slot);
    if (state < STATE_HELD || state > STATE_FULFILLED)
      problems.push(`slot ${slot}: state ${state}`);
    const keyBytes = orders.meta[slot * META_INTS + M_KEY_BYTES];
    if (keyBytes <= 0 || keyBytes > ID_BYTES_MAX) {
      problems.push(`slot ${slot}: a key of ${keyBytes} bytes`);
      return problems;
    }
    const hash = hashBytes(orders.keys.subarray(slot * ID_BYTES_MAX), keyBytes);
    if (hash !== orders.hashes[slot])
      problems.push(`slot ${slot}: its hash does not match its key`);
    if (!orders.slotFitsKey(slot, hash)) problems.push(`slot ${slot}: not in its key's buckets`);
    if (orders.allocationCount(slot) > orders.allocationsMax) {
      problems.push(`slot ${slot}: ${orders.allocationCount(slot)} allocation entries`);
    }
    return problems;
  }

  /** Whether a slot is in use (for state export). */
  isUsed(slot: number): boolean {
    return this.context.orders.state(slot) !== STATE_FREE;
  }
}

/** The answer at `at` of `answers` as the object API's result. */
export function orderResultOf(
  answers: OrderAnswers,
  at: number,
  context: EngineContext,
): OrderResult {
  if (answers.result[at] === RESULT_REFUSED) return { ok: false, error: answers.errors[at]! };
  return {
    ok: true,
    created: answers.result[at] === RESULT_CREATED,
    order: orderViewOf(answers, at, context),
  };
}

/** An answered order as the wire's v1 `OrderView`. */
export function orderViewOf(answers: OrderAnswers, at: number, context: EngineContext): OrderView {
  const { catalogue } = context;
  const allocation = [];
  const first = answers.allocationStart[at];
  for (let entry = first; entry < first + answers.allocationCount[at]; entry++) {
    allocation.push({
      sku: catalogue.skus[answers.allocationSku[entry]].id,
      dc: catalogue.dcs[answers.allocationDc[entry]].id,
      qty: answers.allocationQty[entry],
    });
  }
  const state = answers.state[at];
  const view: OrderView = {
    orderId: answers.orderIds[at],
    status: STATUS_NAMES[state],
    mode: answers.commit[at] === 1 ? 'commit' : 'hold',
    policy: answers.split[at] === 1 ? 'split' : 'single-dc',
    location: { lat: answers.lat[at], lng: answers.lng[at] },
    allocation,
    etaMinutes: answers.etaTenths[at] / 10,
    createdAt: answers.createdAt[at],
    updatedAt: answers.updatedAt[at],
  };
  if (state === STATE_HELD) view.expiresAt = answers.expiresAt[at];
  return view;
}

const OP_GET = 0;
const OP_CONFIRM = 1;
const OP_CANCEL = 2;
const OP_EXTEND = 3;
const OP_CHANGE = 4;
const OP_FULFIL = 5;

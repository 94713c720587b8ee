/**
 * Placing an order: the request parsed, the order id looked up (a retry answers the order as
 * placed; a reuse of the id for another request is refused), a slot claimed, the lines
 * allocated at the DCs that serve the location, room made for the allocation, the record
 * logged and the slot written. And the dry run, `checkBasket`, which reads counters only.
 *
 * Refusals are not recorded: a refused order took nothing, and retrying it evaluates it
 * afresh. Everything from the look-up to the answer runs under the order id's bucket locks.
 */

import type { LineRefusal } from '../../protocol/index.js';
import { etaTenths, type OrderAnswers, RESULT_CREATED, RESULT_EXISTS } from '../answers.js';
import type { EngineContext } from '../context.js';
import { fail, lockTimeout } from '../failure.js';
import { DcHits } from '../geo/index.js';
import type { LogRecord } from '../log.js';
import { ALLOCATED, Allocation, CONTENDED, SHORT } from '../reservation/allocate.js';
import { STATE_CONFIRMED, STATE_HELD } from '../reservation/order-slot.js';
import type {
  BasketCheckResult,
  Failure,
  OrderRequest,
  OrderResult,
  PlaceOrderInput,
} from '../types.js';
import type { OrderEffects } from './effects.js';
import type { Expiry } from './expiry.js';
import type { OrderParser } from './parse.js';
import { ROOM_BUSY, ROOM_RESERVED, type SlotCodec } from './slot.js';
import { orderResultOf } from './views.js';

/** The refusal for a slot without room for its entries (`SlotCodec.reserve`). */
export function roomRefusal(room: number, lockWaitMsMax: number): Failure {
  if (room === ROOM_BUSY) return lockTimeout(lockWaitMsMax);
  return fail(
    'CAPACITY_EXHAUSTED',
    "the order table's overflow pool has no blocks left for this order's allocation entries",
  );
}

type PlaceRecord = Extract<LogRecord, { type: 'place' }>;

export class Placement {
  /** The DCs serving the order's location: at most DC_HITS_MAX, the nearest. */
  private readonly hits = new DcHits();
  /**
   * The log record of the order being placed, one object written over for each placement:
   * nothing keeps it past `placeNew` (the log encodes it, the slot copies it, the observer
   * gets an event of its own). The doubles start as doubles, so their fields never change
   * representation.
   */
  private readonly record: PlaceRecord = {
    type: 'place',
    at: 0.5,
    orderId: '',
    mode: 0,
    policy: 0,
    lat: 0.5,
    lng: 0.5,
    etaMinutes: 0.5,
    expiresAt: 0.5,
    fingerprint: 0,
    allocation: [],
  };
  /** The allocation of the order being placed or changed. */
  readonly allocation: Allocation;

  constructor(
    private readonly context: EngineContext,
    private readonly parser: OrderParser,
    private readonly slots: SlotCodec,
    private readonly effects: OrderEffects,
    private readonly expiry: Expiry,
  ) {
    this.allocation = new Allocation(context.config.allocationsPerOrderMax);
  }

  /**
   * Places one order and appends its answer (created, the existing order for a retried id, or
   * a refusal) to `answers`. After it, `lastTicket` is the record to wait for (0 for none).
   */
  placeInto(request: OrderRequest, answers: OrderAnswers): void {
    const context = this.context;
    context.lastTicket = 0;
    const parser = this.parser;
    const invalid = parser.parseRequest(request, true);
    if (invalid !== null) {
      answers.refuse(request.orderId, invalid.error);
      return;
    }
    if (!context.log.writable()) {
      answers.refuse(request.orderId, fail('READ_ONLY').error);
      return;
    }
    const fingerprint = parser.fingerprint(request);
    const orders = context.orders;
    const hash = parser.keyHash();
    if (!orders.lockKey(hash)) {
      answers.refuse(request.orderId, lockTimeout(context.config.lockWaitMsMax).error);
      return;
    }
    try {
      const existing = orders.findKey(hash, parser.key, parser.keyBytes);
      if (existing >= 0) this.answerExisting(existing, request.orderId, fingerprint, answers);
      else this.placeNew(request, hash, fingerprint, answers);
    } finally {
      orders.unlockKey(hash);
    }
  }

  /** A retried order id: the order as it is now, or a refusal if the request differs. */
  private answerExisting(
    slot: number,
    orderId: string,
    fingerprint: number,
    answers: OrderAnswers,
  ): void {
    this.expiry.expireIfDue(slot, orderId);
    if (this.context.orders.records.fingerprint(slot) !== fingerprint) {
      answers.refuse(orderId, fail('ORDER_ID_REUSED').error);
      return;
    }
    this.slots.writeAnswer(slot, orderId, RESULT_EXISTS, answers, this.parser);
  }

  /** A new order id (its bucket locks held): claim, allocate, make room, log, write. */
  private placeNew(
    request: OrderRequest,
    hash: number,
    fingerprint: number,
    answers: OrderAnswers,
  ): void {
    const { orders, config } = this.context;
    const slot = orders.claimKey(hash);
    if (slot < 0) {
      const message = 'the order table has no room: both buckets of this order id hold live orders';
      answers.refuse(request.orderId, fail('CAPACITY_EXHAUSTED', message).error);
      return;
    }
    const refusal = this.allocate(request, false);
    if (refusal !== null) {
      answers.refuse(request.orderId, refusal.error);
      return;
    }
    const room = this.slots.reserve(slot, this.parser.keyBytes, this.allocation.count);
    if (room !== ROOM_RESERVED) {
      // Nothing is logged yet: the units go back as if the allocation had failed.
      this.allocation.rollback(this.context.stock);
      answers.refuse(request.orderId, roomRefusal(room, config.lockWaitMsMax).error);
      return;
    }
    const record = this.placeRecord(request, fingerprint);
    this.context.lastTicket = this.context.log.append(record);
    this.slots.writePlaced(slot, hash, this.parser, record);
    orders.setState(slot, record.mode === 1 ? STATE_CONFIRMED : STATE_HELD, record.at);
    if (record.mode === 0) orders.noteDeadline(slot, record.expiresAt);
    this.effects.notify(slot, record);
    this.slots.writeAnswer(slot, request.orderId, RESULT_CREATED, answers, this.parser);
  }

  private placeRecord(request: OrderRequest, fingerprint: number): PlaceRecord {
    const now = this.context.clock();
    const commit = request.mode === 'commit';
    const ttlSeconds = request.ttlSeconds ?? this.context.config.holdTtlSecondsDefault;
    const record = this.record;
    record.at = now;
    record.orderId = request.orderId;
    record.mode = commit ? 1 : 0;
    record.policy = request.policy === 'split' ? 1 : 0;
    record.lat = request.lat;
    record.lng = request.lng;
    record.etaMinutes = this.allocation.etaMinutes;
    record.expiresAt = commit ? 0 : now + ttlSeconds * 1000;
    record.fingerprint = fingerprint;
    this.writeTriples(record.allocation);
    return record;
  }

  /** `placeInto` for one order given as an object, answered as an object. */
  placeOrder(input: PlaceOrderInput): OrderResult {
    const request = this.parser.requestOf(input);
    if ('ok' in request) return request;
    const answers = this.context.answers;
    answers.reset();
    this.placeInto(request, answers);
    return orderResultOf(answers, 0, this.context);
  }

  /** A dry run of placement: the same checks and allocation, reading counters only. */
  checkBasket(input: PlaceOrderInput): BasketCheckResult {
    this.context.lastTicket = 0;
    const request = this.parser.requestOf(input);
    if ('ok' in request) return request;
    const invalid = this.parser.parseRequest(request, false);
    if (invalid !== null) return invalid;
    const refusal = this.allocate(request, true);
    if (refusal !== null) return refusal;
    // Rounded to a tenth of a minute, as placeOrder answers the same allocation (etaTenths).
    return {
      ok: true,
      allocation: this.allocationLines(),
      etaMinutes: etaTenths(this.allocation.etaMinutes) / 10,
    };
  }

  /**
   * Fills the allocation for the parsed lines at the DCs serving the input's location. With
   * `dryRun`, counters are read, never written; with `withCredit`, the credit the caller
   * added (a changed basket's own units) is kept. Returns a refusal or null.
   */
  allocate(input: OrderRequest, dryRun: boolean, withCredit = false): Failure | null {
    const context = this.context;
    const parser = this.parser;
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
    const { lineSku, lineQty, lineCount } = parser;
    const outcome = split
      ? allocation.allocateSplit(context.stock, this.hits, lineSku, lineQty, lineCount)
      : allocation.allocateSingleDc(context.stock, this.hits, lineSku, lineQty, lineCount);
    allocation.dryRun = false;
    if (outcome === ALLOCATED) return null;
    if (outcome === CONTENDED) return fail('CONTENDED');
    if (outcome !== SHORT) return fail('TOO_FRAGMENTED');
    return this.shortfall(split);
  }

  /** Explains a refusal line by line from what the counters show now. */
  private shortfall(split: boolean): Failure {
    const { stock, catalogue } = this.context;
    const { lineSku, lineQty, lineCount } = this.parser;
    const lines: LineRefusal[] = [];
    for (let line = 0; line < lineCount; line++) {
      const reachable = this.allocation.reachable(stock, this.hits, lineSku[line], split);
      if (reachable < lineQty[line]) {
        lines.push({
          sku: catalogue.skus[lineSku[line]].id,
          code: 'OUT_OF_STOCK',
          requested: lineQty[line],
          available: reachable,
        });
      }
    }
    if (lines.length === 0 && !split) return fail('NOT_IN_ONE_DC');
    return fail('OUT_OF_STOCK', undefined, { lines });
  }

  /** The allocation as a log record's flat (dc, sku, qty) triples. */
  allocationTriples(): number[] {
    const triples: number[] = [];
    this.writeTriples(triples);
    return triples;
  }

  /** Writes the allocation's triples over `triples`, which takes their length. */
  private writeTriples(triples: number[]): void {
    const allocation = this.allocation;
    triples.length = allocation.count * 3;
    for (let entry = 0; entry < allocation.count; entry++) {
      triples[entry * 3] = allocation.dc[entry];
      triples[entry * 3 + 1] = allocation.sku[entry];
      triples[entry * 3 + 2] = allocation.qty[entry];
    }
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
    const { catalogue } = this.context;
    const { lineSku, lineQty, lineCount } = this.parser;
    const lines: LineRefusal[] = [];
    for (let line = 0; line < lineCount; line++) {
      lines.push({
        sku: catalogue.skus[lineSku[line]].id,
        code,
        requested: lineQty[line],
        available: 0,
      });
    }
    return lines;
  }
}

/**
 * The batch ops of protocol v2 on one worker thread: `placeOrders` and `availabilityMany` (and
 * `availability` on a v2 connection) run entry by entry through the engine's typed path into
 * preallocated answer columns, which are then copied out as the wire's column form
 * (protocol/columns.ts). No object is made per order, line, query, SKU or DC.
 *
 * Invariants:
 * - The runner's scratch (answers, the order request, the DC table) is reused by every batch of
 *   the thread; a batch is run and encoded in one synchronous call, so nothing borrowed outlives
 *   it: the encoded columns are fresh copies.
 * - `ticket` after `placeOrders` is the newest log ticket the batch's answers depend on (0 when
 *   none): the caller acknowledges the batch only once it is durable.
 */

import {
  AvailabilityAnswers,
  DC_HITS_MAX,
  type Engine,
  OrderAnswers,
  type OrderRequest,
  RESULT_CREATED,
  RESULT_REFUSED,
} from '../engine/index.js';
import {
  type AvailabilityArgs,
  type AvailabilityColumns,
  type AvailabilityManyArgs,
  type ErrorBody,
  f64Column,
  i32Column,
  ORDERS_PER_BATCH_MAX,
  type PlaceOrdersArgs,
  type PlaceOrdersResult,
  QUERIES_PER_BATCH_MAX,
  SKUS_PER_BATCH_MAX,
} from '../protocol/index.js';

/** Whether ticket `a` is later than ticket `b` (tickets are wrapping ring positions; 0 = none). */
export function laterTicket(a: number, b: number): boolean {
  if (b === 0) return a !== 0;
  if (a === 0) return false;
  return ((a - b) | 0) > 0;
}

/** Ids of the DCs an answer refers to, each once, in first-use order: the answer's `dcs`. */
class DcTable {
  private readonly position: Int32Array;
  private readonly stamp: Int32Array;
  private generation = 0;
  ids: string[] = [];

  constructor(dcCapacity: number) {
    this.position = new Int32Array(dcCapacity);
    this.stamp = new Int32Array(dcCapacity);
  }

  reset(): void {
    this.generation++;
    this.ids = [];
  }

  /** The table index of DC `dc` (an engine index), adding it on first use. */
  indexOf(dc: number, engine: Engine): number {
    if (this.stamp[dc] === this.generation) return this.position[dc];
    this.stamp[dc] = this.generation;
    const index = this.ids.length;
    this.position[dc] = index;
    this.ids.push(engine.dcId(dc));
    return index;
  }
}

export class BatchRunner {
  private readonly orders: OrderAnswers;
  private readonly availability: AvailabilityAnswers;
  private readonly request: OrderRequest;
  private readonly dcTable: DcTable;
  /** Scratch for columns that are transformed on the way out (statuses, DC indexes). */
  private readonly scratch: Int32Array;
  /** The log ticket the last placeOrders depends on (0: none). */
  ticket = 0;

  constructor(private readonly engine: Engine) {
    const config = engine.config;
    this.orders = new OrderAnswers(
      ORDERS_PER_BATCH_MAX,
      ORDERS_PER_BATCH_MAX * config.allocationsPerOrderMax,
    );
    this.availability = new AvailabilityAnswers(
      QUERIES_PER_BATCH_MAX,
      SKUS_PER_BATCH_MAX,
      DC_HITS_MAX,
    );
    this.request = {
      orderId: '',
      lat: 0,
      lng: 0,
      mode: 'commit',
      policy: undefined,
      ttlSeconds: undefined,
      maxMinutes: undefined,
      skus: [],
      skuIndexes: null,
      qty: [],
      lineStart: 0,
      lineCount: 0,
    };
    this.dcTable = new DcTable(config.dcCapacity);
    this.scratch = new Int32Array(
      Math.max(
        ORDERS_PER_BATCH_MAX * config.allocationsPerOrderMax,
        QUERIES_PER_BATCH_MAX * DC_HITS_MAX,
      ),
    );
  }

  /**
   * Places every order of the batch, in order, and answers them all. `lastAppended` gives the
   * ticket covering every record appended so far, for answers that appended nothing
   * themselves (a retried id describes what another request did, perhaps not yet durable).
   */
  placeOrders(args: PlaceOrdersArgs, lastAppended: () => number): PlaceOrdersResult {
    const { engine, orders, request } = this;
    orders.reset();
    request.mode = args.mode;
    request.policy = args.policy;
    request.ttlSeconds = args.ttlSeconds;
    request.maxMinutes = args.maxMinutes;
    // By ref, the WebSocket server resolved the indexes and set `skus` to the ids.
    request.skus = args.skus!;
    request.skuIndexes = args.skuIndexes ?? null;
    request.qty = args.qty;
    let ticket = 0;
    let lineStart = 0;
    for (let at = 0; at < args.orders; at++) {
      request.orderId = args.orderIds[at] as string;
      request.lat = args.lat[at];
      request.lng = args.lng[at];
      request.lineStart = lineStart;
      request.lineCount = args.lineCounts[at];
      lineStart += request.lineCount;
      engine.placeOrderInto(request, orders);
      const result = orders.result[at];
      if (result === RESULT_REFUSED) continue;
      const own = result === RESULT_CREATED ? engine.lastTicket : lastAppended();
      if (laterTicket(own, ticket)) ticket = own;
    }
    this.ticket = ticket;
    return this.encodeOrders();
  }

  private encodeOrders(): PlaceOrdersResult {
    const { orders, scratch, dcTable, engine } = this;
    const count = orders.count;
    const errors: [number, ErrorBody][] = [];
    for (let at = 0; at < count; at++) {
      const error = orders.errors[at];
      if (error !== undefined) errors.push([at, error]);
      // Order-table states count from 1 (held); the wire's from 0, and -1 for a refusal.
      scratch[at] = orders.result[at] === RESULT_REFUSED ? -1 : orders.state[at] - 1;
    }
    const status = i32Column(scratch, count);
    const entries = orders.allocationTotal;
    dcTable.reset();
    for (let entry = 0; entry < entries; entry++) {
      scratch[entry] = dcTable.indexOf(orders.allocationDc[entry], engine);
    }
    return {
      results: i32Column(orders.result, count),
      errors,
      status,
      etaTenths: i32Column(orders.etaTenths, count),
      expiresAt: f64Column(orders.expiresAt, count),
      createdAt: f64Column(orders.createdAt, count),
      updatedAt: f64Column(orders.updatedAt, count),
      allocations: i32Column(orders.allocationCount, count),
      allocLine: i32Column(orders.allocationLine, entries),
      allocDc: i32Column(scratch, entries),
      allocQty: i32Column(orders.allocationQty, entries),
      dcs: dcTable.ids,
    };
  }

  /** Answers every query of the batch; a refused query answers no DC and -1 per SKU. */
  availabilityMany(args: AvailabilityManyArgs): AvailabilityColumns {
    const answers = this.availability;
    answers.reset(args.breakdown ?? true);
    const errors: [number, ErrorBody][] = [];
    let skuStart = 0;
    for (let query = 0; query < args.queries; query++) {
      const skuCount = args.skuCounts[query];
      const refusal = this.engine.availabilityInto(
        args.lat[query],
        args.lng[query],
        (args.skuIndexes ?? args.skus)!,
        skuStart,
        skuCount,
        args.maxMinutes,
        answers,
      );
      if (refusal !== null) {
        errors.push([query, refusal.error]);
        answers.skip(skuCount);
      }
      skuStart += skuCount;
    }
    const columns = this.encodeAvailability();
    columns.errors = errors;
    return columns;
  }

  /** One availability query (v2 `availability`): the same columns, or a refusal. */
  availabilityOne(args: AvailabilityArgs): AvailabilityColumns | ErrorBody {
    const answers = this.availability;
    answers.reset(args.breakdown ?? true);
    const refusal = this.engine.availabilityInto(
      args.lat,
      args.lng,
      args.skus,
      0,
      args.skus.length,
      args.maxMinutes,
      answers,
    );
    if (refusal !== null) return refusal.error;
    return this.encodeAvailability();
  }

  private encodeAvailability(): AvailabilityColumns {
    const { availability: answers, scratch, dcTable, engine } = this;
    dcTable.reset();
    const dcTotal = answers.dcTotal;
    for (let at = 0; at < dcTotal; at++) scratch[at] = dcTable.indexOf(answers.dcs[at], engine);
    return {
      dcCounts: i32Column(answers.dcCount, answers.count),
      dcs: dcTable.ids,
      dcIndex: i32Column(scratch, dcTotal),
      dcEtaTenths: i32Column(answers.dcEtaTenths, dcTotal),
      available: i32Column(answers.available, answers.skuTotal),
      etaTenths: i32Column(answers.etaTenths, answers.skuTotal),
      perDc: answers.breakdown ? i32Column(answers.perDc, answers.perDcTotal) : null,
    };
  }
}

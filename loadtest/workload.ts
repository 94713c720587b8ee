/**
 * The load tests' workload: a seeded dataset (DCs, SKUs, opening stock) and the generators of
 * orders and availability queries drawn from it, shared by the WebSocket load generator and
 * the side-by-side comparison so every system sees the same DCs, SKUs and order sequence.
 *
 * The dataset is the seeded demo network of New York (engine/testing), renamed under a prefix
 * so it never collides with the Bengaluru demo network a fresh node serves, with every DC
 * active, no per-order SKU limits (flash-sale limits would refuse orders for reasons no other
 * system models) and the same large stock in every cell, so a bounded run never sells out.
 *
 * Invariants: everything is a pure function of the options and the seed; an order's lines
 * name distinct SKUs, sorted by SKU index (so systems that lock rows take them in one order
 * and cannot deadlock); order ids are unique per (run id, stream, counter).
 */

import type {
  AvailabilityArgs,
  Location,
  PlaceOrderArgs,
  UpsertDcArgs,
  UpsertSkuArgs,
} from '../protocol/client/index.js';
import { generateDemoNetwork, Prng, Zipf } from '../engine/testing/index.js';

export const DATASET_DCS_DEFAULT = 20;
export const DATASET_SKUS_DEFAULT = 2_000;
/** Counters are int32: a cell's stock stays well below 2^31 even after many top-ups. */
export const STOCK_PER_CELL_MAX = 1_000_000_000;
export const STOCK_PER_CELL_DEFAULT = 10_000_000;
export const ZIPF_EXPONENT_DEFAULT = 1;
export const LINES_PER_ORDER_DEFAULT = 3;
export const QTY_PER_LINE_MAX_DEFAULT = 2;
export const SKUS_PER_QUERY_DEFAULT = 20;
/** Customer addresses the generators draw locations from (a finite, realistic set). */
export const CUSTOMER_LOCATIONS_DEFAULT = 10_000;
/** Customers live within this distance of some DC (km), well inside every delivery area. */
const CUSTOMER_OFFSET_KM_MAX = 1.5;
/** Redraws for a SKU already on the order before giving up on distinctness (never in practice). */
const DISTINCT_DRAWS_MAX = 1_000;
const KM_PER_DEGREE_LAT = 110.574;
const KM_PER_DEGREE_LNG_AT_EQUATOR = 111.32;
const ID_PREFIX = 'lt';

/** PRNG streams, one per generator, so changing one never moves another's draws. */
const STREAM_ORDERS = 101;
const STREAM_QUERIES = 102;
const STREAM_CUSTOMERS = 103;

export interface DatasetOptions {
  seed: number;
  dcs: number;
  skus: number;
  stockPerCell: number;
}

export interface Dataset {
  options: DatasetOptions;
  dcs: UpsertDcArgs[];
  skus: UpsertSkuArgs[];
  /** Customer addresses: each a short distance from a DC. */
  customers: Location[];
}

export function datasetOptionsDefault(seed: number): DatasetOptions {
  return {
    seed,
    dcs: DATASET_DCS_DEFAULT,
    skus: DATASET_SKUS_DEFAULT,
    stockPerCell: STOCK_PER_CELL_DEFAULT,
  };
}

export function buildDataset(options: DatasetOptions): Dataset {
  if (!Number.isInteger(options.stockPerCell) || options.stockPerCell < 1) {
    throw new RangeError('stockPerCell must be a positive integer');
  }
  if (options.stockPerCell > STOCK_PER_CELL_MAX) {
    throw new RangeError(`stockPerCell must be at most ${STOCK_PER_CELL_MAX}`);
  }
  const network = generateDemoNetwork({
    seed: options.seed,
    dcs: options.dcs,
    skus: options.skus,
    metro: 'new-york',
  });
  const dcs: UpsertDcArgs[] = network.dcs.map((dc) => {
    const args: UpsertDcArgs = {
      id: `${ID_PREFIX}-${dc.id}`,
      name: `Load test ${dc.name}`,
      location: dc.location,
      speedKmh: dc.speedKmh,
      prepMinutes: dc.prepMinutes,
      active: true,
    };
    if (dc.area !== undefined) args.area = dc.area;
    else args.radiusKm = dc.radiusKm;
    return args;
  });
  const skus: UpsertSkuArgs[] = network.skus.map((sku) => ({
    id: `${ID_PREFIX}-${sku.id}`,
    name: sku.name,
    category: sku.category,
    lowStockThreshold: sku.lowStockThreshold,
    maxPerOrder: 0,
  }));
  const customers = customerLocations(dcs, options.seed, CUSTOMER_LOCATIONS_DEFAULT);
  return { options, dcs, skus, customers };
}

function customerLocations(dcs: UpsertDcArgs[], seed: number, count: number): Location[] {
  const prng = new Prng(seed, STREAM_CUSTOMERS);
  const locations: Location[] = [];
  for (let index = 0; index < count; index++) {
    const dc = dcs[prng.int(dcs.length)].location;
    const angle = prng.uniform(0, 2 * Math.PI);
    const distanceKm = prng.uniform(0, CUSTOMER_OFFSET_KM_MAX);
    const kmPerDegreeLng = KM_PER_DEGREE_LNG_AT_EQUATOR * Math.cos((dc.lat * Math.PI) / 180);
    locations.push({
      lat: dc.lat + (distanceKm * Math.sin(angle)) / KM_PER_DEGREE_LAT,
      lng: dc.lng + (distanceKm * Math.cos(angle)) / kmPerDegreeLng,
    });
  }
  return locations;
}

/** An order as every system sees it: a DC (by index), distinct SKUs (by index), quantities. */
export interface OrderDraw {
  dcIndex: number;
  skuIndexes: number[];
  quantities: number[];
}

export interface OrderMixOptions {
  linesPerOrder: number;
  qtyPerLineMax: number;
  zipfExponent: number;
  /** When set, every order is at this DC and its first line is SKU 0 (the hot item). */
  hotSku: boolean;
}

export function orderMixDefault(): OrderMixOptions {
  return {
    linesPerOrder: LINES_PER_ORDER_DEFAULT,
    qtyPerLineMax: QTY_PER_LINE_MAX_DEFAULT,
    zipfExponent: ZIPF_EXPONENT_DEFAULT,
    hotSku: false,
  };
}

/**
 * Distinct Zipf ranks: `draw` fills `out[from..count)` with ranks not already in `out[0..count)`
 * (after DISTINCT_DRAWS_MAX tries a repeat is kept), in the same draws as a linear search of
 * `out` would make; membership is a stamp per rank, so a draw costs O(1) however many SKUs a
 * query asks for (`out.indexOf` made a 20-SKU query cost ~200 comparisons).
 */
class DistinctRanks {
  private readonly seen: Int32Array;
  private stamp = 0;

  constructor(private readonly zipf: Zipf) {
    this.seen = new Int32Array(zipf.n);
  }

  draw(out: number[], from: number, count: number): void {
    const seen = this.seen;
    const stamp = ++this.stamp;
    for (let index = 0; index < from; index++) seen[out[index]] = stamp;
    for (let index = from; index < count; index++) {
      let rank = this.zipf.next();
      for (let draw = 0; draw < DISTINCT_DRAWS_MAX && seen[rank] === stamp; draw++) {
        rank = this.zipf.next();
      }
      seen[rank] = stamp;
      out[index] = rank;
    }
  }
}

/**
 * Orders for one stream (a process or a connection): the same seed and stream always give the
 * same sequence. Draws reuse one object, so a caller must copy what it keeps.
 */
export class OrderSource {
  private readonly prng: Prng;
  private readonly zipf: Zipf;
  private readonly distinct: DistinctRanks;
  private readonly draw: OrderDraw;

  constructor(
    private readonly dataset: Dataset,
    private readonly mix: OrderMixOptions,
    stream: number,
  ) {
    const skuCount = dataset.skus.length;
    if (mix.linesPerOrder < 1 || mix.linesPerOrder > skuCount) {
      throw new RangeError(`linesPerOrder must be in [1, ${skuCount}]`);
    }
    this.prng = new Prng(dataset.options.seed, STREAM_ORDERS + stream * 16);
    this.zipf = new Zipf(skuCount, mix.zipfExponent, this.prng);
    this.distinct = new DistinctRanks(this.zipf);
    this.draw = { dcIndex: 0, skuIndexes: [], quantities: [] };
  }

  next(): OrderDraw {
    const draw = this.draw;
    const lines = this.mix.linesPerOrder;
    draw.skuIndexes.length = 0;
    draw.quantities.length = lines;
    if (this.mix.hotSku) {
      draw.dcIndex = 0;
      draw.skuIndexes.push(0);
      this.distinct.draw(draw.skuIndexes, 1, lines);
    } else {
      draw.dcIndex = this.prng.int(this.dataset.dcs.length);
      this.distinct.draw(draw.skuIndexes, 0, lines);
    }
    sortAscending(draw.skuIndexes);
    for (let line = 0; line < lines; line++) {
      draw.quantities[line] = 1 + this.prng.int(this.mix.qtyPerLineMax);
    }
    return draw;
  }
}

/**
 * Sorts a few numbers in place, ascending: an insertion sort, because `Array.prototype.sort`
 * allocated about 680 bytes for each 3-line order (a third of the generator's garbage per
 * one-call order, in a sampling heap profile), which the generator then paid for in scavenges
 * on the cores the node also needs.
 */
export function sortAscending(values: number[]): void {
  for (let index = 1; index < values.length; index++) {
    const value = values[index];
    let at = index - 1;
    while (at >= 0 && values[at] > value) {
      values[at + 1] = values[at];
      at--;
    }
    values[at + 1] = value;
  }
}

/**
 * Queries drawn ahead from a QuerySource and handed out in turn, from the first again after
 * the last. The generator's cost per query is then a read rather than 20 distinct Zipf draws
 * (about 2 µs here, a fifth of the generator's CPU in the availability load test), so more of
 * the machine drives the SDK and the node, which are what is measured. The queries are the
 * source's first `size`, so a seed still gives the same ones. A query is shared by every turn
 * that hands it out: callers must not change it.
 */
export class QueryPool {
  private readonly queries: readonly AvailabilityArgs[];
  private turn = 0;

  /** `breakdown` false: every query asks for totals only (`breakdown: false`). */
  constructor(
    private readonly source: QuerySource,
    size: number,
    breakdown = true,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('size must be at least 1');
    this.queries = Array.from({ length: size }, () => {
      const query = source.next();
      if (!breakdown) query.breakdown = false;
      return query;
    });
  }

  next(): AvailabilityArgs {
    const query = this.queries[this.turn];
    this.turn = this.turn + 1 === this.queries.length ? 0 : this.turn + 1;
    return query;
  }

  /** A customer address, drawn fresh (see QuerySource.location). */
  location(): Location {
    return this.source.location();
  }
}

/** Unique order ids: `<runId>-<stream>-<counter>` in base 36, well under the 64-byte limit. */
export class OrderIds {
  private counter = 0;
  private readonly prefix: string;

  constructor(runId: string, stream: number) {
    if (!/^[a-z0-9]{1,24}$/.test(runId)) throw new RangeError('runId must be 1-24 of [a-z0-9]');
    this.prefix = `${runId}-${stream.toString(36)}-`;
  }

  next(): string {
    return this.prefix + (this.counter++).toString(36);
  }
}

/** A run id from a clock reading and a random draw: unique across runs against one node. */
export function makeRunId(nowMs: number, random: () => number): string {
  const suffix = Math.floor(random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0');
  return `${Math.floor(nowMs).toString(36)}${suffix}`;
}

/** The engine's form of an order: placed at the DC's own location, so that DC is the nearest. */
export function placeOrderArgs(
  dataset: Dataset,
  draw: OrderDraw,
  orderId: string,
  mode: 'commit' | 'hold',
  location?: Location,
): PlaceOrderArgs {
  const lines = new Array(draw.skuIndexes.length);
  for (let line = 0; line < lines.length; line++) {
    lines[line] = { sku: dataset.skus[draw.skuIndexes[line]].id, qty: draw.quantities[line] };
  }
  return {
    orderId,
    location: location ?? dataset.dcs[draw.dcIndex].location,
    lines,
    mode,
    policy: 'single-dc',
  };
}

/** Availability queries: a customer address and distinct SKUs drawn by popularity. */
export class QuerySource {
  private readonly prng: Prng;
  private readonly zipf: Zipf;
  private readonly distinct: DistinctRanks;
  private readonly ranks: number[] = [];

  constructor(
    private readonly dataset: Dataset,
    private readonly skusPerQuery: number,
    zipfExponent: number,
    stream: number,
  ) {
    if (skusPerQuery < 1 || skusPerQuery > dataset.skus.length) {
      throw new RangeError(`skusPerQuery must be in [1, ${dataset.skus.length}]`);
    }
    this.prng = new Prng(dataset.options.seed, STREAM_QUERIES + stream * 16);
    this.zipf = new Zipf(dataset.skus.length, zipfExponent, this.prng);
    this.distinct = new DistinctRanks(this.zipf);
  }

  /** A customer address for an order or a query. */
  location(): Location {
    return this.dataset.customers[this.prng.int(this.dataset.customers.length)];
  }

  next(): AvailabilityArgs {
    this.ranks.length = 0;
    this.distinct.draw(this.ranks, 0, this.skusPerQuery);
    const skus = new Array<string>(this.skusPerQuery);
    for (let index = 0; index < skus.length; index++) {
      skus[index] = this.dataset.skus[this.ranks[index]].id;
    }
    const { lat, lng } = this.location();
    return { lat, lng, skus };
  }
}
